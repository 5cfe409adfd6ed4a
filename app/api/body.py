"""The one JSON body reader of the marketer and admin APIs.

The rules are `app.services.checks.json_object`'s: an empty body is `{}`, bytes
that are not JSON are 400 `invalid_json`, JSON that is not an object is 422
`invalid_body`. The Content-Type is not required (clients forget it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import request

from app.services import checks


def json_body(*, parse_float: Callable[[str], Any] | None = None) -> dict[str, Any]:
    """The request's body as a JSON object (read once, not cached)."""
    return checks.json_object(request.get_data(cache=False), parse_float=parse_float)
