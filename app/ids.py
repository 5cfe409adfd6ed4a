"""Database ids as the API accepts them.

The id columns are INTEGER on PostgreSQL (32-bit) and SQLite refuses integers past
64 bits with an OverflowError: a larger number from a client cannot name anything,
and passing it to the database is a 500 (found by the API fuzzer). Route
parameters `<int:...>` are bounded by `register_id_bounds`; ids in bodies and query
strings go through `is_id`.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, abort

from app.services.checks import is_whole

MAX_ID = 2**31 - 1


def is_id(value: Any) -> bool:
    """A JSON number that can be an id: an int (not a bool) in 1..MAX_ID."""
    return is_whole(value, 1, MAX_ID)


def register_id_bounds(app: Flask) -> None:
    """404 for a route whose `<int:...>` parameter is past MAX_ID.

    Checked after routing, not in the URL converter: werkzeug answers 405 instead
    of 404 when a converter refuses the value of one of several rules that share
    a path (GET and DELETE of /x/<int:id>).
    """

    @app.url_value_preprocessor
    def refuse_impossible_ids(
        endpoint: str | None, values: dict[str, Any] | None
    ) -> None:
        if values and any(
            isinstance(v, int) and not isinstance(v, bool) and v > MAX_ID
            for v in values.values()
        ):
            abort(404)
