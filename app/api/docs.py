"""`/api/openapi.json` (the OpenAPI 3.1 document) and `/api/docs` (for people:
Redoc, served from static/vendor/redoc)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, render_template

from app.api.openapi import document

bp = Blueprint("api_docs", __name__)


@bp.get("/openapi.json")
def openapi_json() -> Response:
    return jsonify(current_app.extensions["openapi"])


@bp.get("/docs")
def docs() -> str:
    """Redoc (vendored in static/) renders /api/openapi.json."""
    return render_template("api/docs.html", doc=current_app.extensions["openapi"])


def init_app(app: Any) -> None:
    """Build the document at start-up: a broken fragment fails here, not later."""
    app.extensions["openapi"] = document()
