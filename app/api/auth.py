"""Authentication for API blueprints: `@require_key("pos")` for bearer keys,
`marketer_key` (bearer key or the /admin session) and `program_for` (the program
a marketer request works on)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import g, request
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import joinedload

from app.admin.session import api_session_key, selected_program
from app.errors import ApiError
from app.extensions import db
from app.ids import is_id
from app.models import ApiKey, Program
from app.services.auth import (
    Principal,
    authenticate,
    authenticate_principal,
    check_program,
)

MARKETER_ROLES = ("marketer", "admin")

F = TypeVar("F", bound=Callable[..., Any])


def require_key(*roles: str) -> Callable[[F], F]:
    """Authenticate the request's bearer key (401/403); the key is
    `current_principal()` (no ORM object) or `current_key()` (the ORM row)."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            g.api_principal = authenticate_principal(
                request.headers.get("Authorization"), roles
            )
            return view(*args, **kwargs)

        return cast(F, wrapped)

    return decorate


def current_principal() -> Principal:
    """The key `require_key` authenticated for this request (one Core query)."""
    return cast(Principal, g.api_principal)


def current_key() -> ApiKey:
    """The authenticated key as an ORM object with its store and program (loaded
    on first use: one more query, for views that need the ORM rows)."""
    key = g.get("api_key")
    if key is None:
        key = db.session.get(
            ApiKey,
            current_principal().id,
            options=[joinedload(ApiKey.store), joinedload(ApiKey.program)],
        )
        assert key is not None
        g.api_key = key
    return cast(ApiKey, key)


def marketer_key() -> ApiKey:
    """A bearer key with role marketer or admin, or else the /admin session (with
    X-CSRFToken on writes): the dashboard's own pages call the JSON API."""
    header = request.headers.get("Authorization")
    if header:
        return authenticate(header, MARKETER_ROLES)
    return api_session_key(request)


def program_for(key: ApiKey, body: Any = None, *, lock: bool = False) -> Program:
    """The program a marketer request works on: the key's own. An all-programs
    admin key names one with `program_id` (query string, JSON body or multipart
    form) or `?program=<slug>`; else the program chosen in the dashboard's header
    (session), else the only program. 422 when none of these names a program.
    `lock`: the row locked and re-read, for a change."""
    named = body.pop("program_id", None) if isinstance(body, dict) else None
    if key.program_id is not None:
        where = Program.id == key.program_id
    else:
        where = _named_program(key, named)
    program = None
    if where is not None:
        query = select(Program).where(where).limit(1)
        if lock:
            query = query.with_for_update().execution_options(populate_existing=True)
        program = db.session.scalar(query)
    if program is None:
        raise ApiError(
            422,
            "program_required",
            "Name an existing program: program_id (or ?program=<slug>).",
        )
    check_program(key, program.id)
    return program


def _named_program(key: ApiKey, named: Any) -> ColumnElement[bool] | None:
    """How an all-programs key's request names its program (see program_for)."""
    raw: Any = request.args.get("program_id", named)
    if raw is None and request.mimetype == "multipart/form-data":
        raw = request.form.get("program_id")
    if raw is not None:
        digits = isinstance(raw, str) and raw.isascii() and raw.isdigit()  # not "²"
        number = int(raw) if digits else raw
        # A huge number cannot name a program and would overflow the driver.
        return Program.id == number if is_id(number) else None
    if slug := request.args.get("program"):
        # NUL names no program (and PostgreSQL refuses it in a text comparison).
        return Program.slug == slug if "\x00" not in slug else None
    if g.get("admin_session"):
        chosen = selected_program(key)
        return Program.id == chosen.id if chosen is not None else None
    only = db.session.scalars(select(Program.id).limit(2)).all()
    return Program.id == only[0] if len(only) == 1 else None
