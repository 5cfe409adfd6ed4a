"""Bearer-key authentication for API blueprints: `@require_key("pos")`."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import g, request

from app.models import ApiKey
from app.services.auth import authenticate

F = TypeVar("F", bound=Callable[..., Any])


def require_key(*roles: str) -> Callable[[F], F]:
    """Authenticate the request's bearer key (401/403); the key is `current_key()`."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            g.api_key = authenticate(request.headers.get("Authorization"), roles)
            return view(*args, **kwargs)

        return cast(F, wrapped)

    return decorate


def current_key() -> ApiKey:
    """The key `require_key` authenticated for this request."""
    return cast(ApiKey, g.api_key)
