"""Request bodies: JSON read with a nesting limit, and a request-level guard.

Python's JSON parser recurses once per level: a body of 100,000 `[` is a
RecursionError (a 500) in whichever view parses it, and deep structures are a
hazard for every recursive walk after parsing too. No legitimate body of this
service nests more than a few levels, so anything deeper than MAX_JSON_DEPTH is
refused before it is parsed: by `read_json` (the readers of the wallet service and
Google's callbacks), by the app's JSON provider (`request.get_json` everywhere),
and by a `before_request` guard for the views that call `json.loads` themselves.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, request
from flask.json.provider import DefaultJSONProvider

from app.services.errors import Malformed

MAX_JSON_DEPTH = 64
F = TypeVar("F", bound=Callable[..., Any])
# A JSON string (escapes included) and everything that is not a bracket: removed
# before counting, so brackets inside strings do not count.
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = re.compile(rb"[^\[\]{}]+")
_OPEN = frozenset(b"[{")
# Bodies the guard leaves alone: forms are not JSON (and uploads are large).
_FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


class JsonTooDeep(ValueError):
    """The document nests deeper than MAX_JSON_DEPTH."""


def too_deep(data: bytes | str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the JSON text nests arrays/objects deeper than `limit`."""
    raw = data.encode("utf-8", "replace") if isinstance(data, str) else data
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False  # cannot be deeper: the common case costs two counts
    depth = 0
    for byte in _NOT_BRACKET.sub(b"", _STRING.sub(b"", raw)):
        if byte in _OPEN:
            depth += 1
            if depth > limit:
                return True
        elif depth:
            depth -= 1
    return False


def loads(data: bytes | str, **kwargs: Any) -> Any:
    """`json.loads` that raises ValueError (JsonTooDeep) instead of recursing deep."""
    if too_deep(data):
        raise JsonTooDeep(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(data, **kwargs)
    except RecursionError as error:  # a lower interpreter limit than ours
        raise JsonTooDeep("JSON nested too deeply") from error


def read_json(code: str = "bad_json", message: str = "Body must be JSON") -> Any:
    """The request body as JSON whatever its Content-Type (some Android pass apps
    send none); Malformed when it is not JSON or nests too deeply."""
    data = request.get_data(cache=True)
    try:
        return loads(data)
    except JsonTooDeep as error:
        raise Malformed("json_too_deep", str(error)) from error
    except ValueError as error:  # includes UnicodeDecodeError
        raise Malformed(code, message) from error


class SafeJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider with the nesting limit on reading."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return loads(s, **kwargs)


def streams_body(view: F) -> F:
    """Mark a view that reads its own (large, not JSON) body as a stream: the
    guard below leaves it alone instead of reading the whole upload."""
    view.streams_body = True  # type: ignore[attr-defined]  # a marker the guard reads
    return view


def register_body_guard(app: Flask) -> None:
    """Refuse too-deep JSON for every view, however it reads its body."""
    app.json = SafeJSONProvider(app)

    @app.before_request
    def refuse_deep_json() -> None:
        if request.method in ("GET", "HEAD", "OPTIONS") or request.mimetype in (
            _FORM_TYPES
        ):
            return
        view = app.view_functions.get(request.endpoint or "")
        if getattr(view, "streams_body", False):
            return
        # Bounded by MAX_CONTENT_LENGTH (413 beyond it); cached for the view.
        if too_deep(request.get_data(cache=True)):
            raise Malformed(
                "json_too_deep", f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
            )
