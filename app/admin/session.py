"""The /admin sign-in: an API key (role marketer or admin) kept in the session.

The session (Flask's signed cookie: HttpOnly, SameSite=Lax, Secure over HTTPS)
holds only the key's id and prefix; each request re-reads the key, so revoking
it ends every session at once. The secret key itself is never stored.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Request, g, request, session
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFError, validate_csrf
from sqlalchemy import select
from wtforms import ValidationError

from app.errors import ApiError
from app.extensions import db
from app.models import ApiKey, Program

ROLES = ("marketer", "admin")
SESSION_KEY = "admin_key_id"
# The program an all-programs (admin) key is working on, chosen in the header.
PROGRAM_KEY = "admin_program_id"


class SessionInterface(SecureCookieSessionInterface):
    """The session cookie is Secure whenever the request came over HTTPS."""

    def get_cookie_secure(self, app: Flask) -> bool:
        secure = bool(app.config.get("SESSION_COOKIE_SECURE"))
        try:
            return secure or request.is_secure
        except RuntimeError:  # no request (e.g. a CLI session)
            return secure


def sign_in(api_key: ApiKey) -> None:
    session.clear()
    session[SESSION_KEY] = api_key.id
    session["admin_key_prefix"] = api_key.prefix
    session.permanent = False


def sign_out() -> None:
    session.clear()


def programs(api_key: ApiKey) -> list[Program]:
    """The programs the key may work on (all of them for an admin key)."""
    if api_key.program is not None:
        return [api_key.program]
    return list(db.session.scalars(select(Program).order_by(Program.id)))


def selected_program(api_key: ApiKey) -> Program | None:
    """The program the /admin pages (and the API called with the session) work
    on: the key's own, else the one chosen in the header, else the first one."""
    if api_key.program is not None:
        return api_key.program
    chosen = session.get(PROGRAM_KEY)
    program = db.session.get(Program, chosen) if isinstance(chosen, int) else None
    if program is None:
        program = db.session.scalar(select(Program).order_by(Program.id).limit(1))
    return program


def select_program(api_key: ApiKey, program_id: int) -> bool:
    """Choose the program an admin key works on; False if it may not."""
    program = db.session.get(Program, program_id)
    if program is None or (
        api_key.program_id is not None and api_key.program_id != program.id
    ):
        return False
    session[PROGRAM_KEY] = program.id
    return True


def session_key() -> ApiKey | None:
    """The signed-in, still valid marketer/admin key, else None."""
    key_id = session.get(SESSION_KEY)
    if not isinstance(key_id, int):
        return None
    api_key = db.session.get(ApiKey, key_id)
    if (
        api_key is None
        or api_key.revoked
        or api_key.role not in ROLES
        or api_key.prefix != session.get("admin_key_prefix")
    ):
        return None
    return api_key


def api_session_key(req: Request) -> ApiKey:
    """For the JSON API without a bearer key: the admin session, with the CSRF
    token in X-CSRFToken on anything but GET/HEAD (401/403 otherwise)."""
    api_key = session_key()
    if api_key is None:
        raise ApiError(401, "unauthorized", "An API key is required (Bearer).")
    if req.method not in ("GET", "HEAD", "OPTIONS"):
        token: Any = req.headers.get("X-CSRFToken")
        try:
            validate_csrf(token)
        except (ValidationError, CSRFError):
            raise ApiError(403, "csrf", "The CSRF token is missing or wrong.") from None
    g.admin_session = True  # the program comes from the session (selected_program)
    return api_key
