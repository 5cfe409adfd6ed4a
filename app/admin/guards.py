"""Guards shared by the /admin pages."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from app.admin.views import _program, _render


def with_program(view: Callable[..., Any]) -> Callable[..., Any]:
    """Hand the view the session's program as its first argument, or show the
    "no program" page when there is none. Goes under @signed_in."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        program = _program()
        if program is None:
            return _render("admin/no_program.html")
        return view(program, *args, **kwargs)

    return wrapped
