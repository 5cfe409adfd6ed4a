"""Bearer-key authentication for API blueprints: `@require_key("pos")`."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import g, request
from sqlalchemy.orm import joinedload

from app.extensions import db
from app.models import ApiKey
from app.services.auth import Principal, authenticate_principal

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
