"""Helpers shared by the marketer API blueprints (app/api/marketer_*.py)."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from app.api.auth import current_key, program_for
from app.models import Program


def key_program(body: Any = None, *, lock: bool = False) -> Program:
    """The program the request's key works on (see auth.program_for)."""
    return program_for(current_key(), body, lock=lock)


def created(body: dict[str, Any]) -> Response:
    """`body` as JSON with 201 Created."""
    response = jsonify(body)
    response.status_code = 201
    return response
