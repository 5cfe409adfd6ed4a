"""Errors: one JSON envelope for APIs, friendly pages for people."""

from __future__ import annotations

import time
from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from sqlalchemy.exc import DataError, OperationalError
from werkzeug.exceptions import HTTPException

from app.extensions import db, limiter
from app.services import errors as domain
from passes import PassSigningError

# Where each domain error lands at the edge.
DOMAIN_STATUS: dict[type[domain.DomainError], int] = {
    domain.Malformed: 400,
    domain.Unauthorized: 401,
    domain.Forbidden: 403,
    domain.NotFound: 404,
    domain.Conflict: 409,
    domain.Gone: 410,
    domain.TooLarge: 413,
    domain.Invalid: 422,
    domain.TooMany: 429,
    domain.Unavailable: 503,
}


def domain_status(error: domain.DomainError) -> int:
    """The HTTP status for a domain error (its nearest mapped class)."""
    for cls in type(error).__mro__:
        if cls in DOMAIN_STATUS:
            return DOMAIN_STATUS[cls]
    return 400


def json_error(status: int, code: str, message: str, **extra: Any) -> Response:
    response = jsonify({"error": code, "message": message, **extra})
    response.status_code = status
    return response


def _wants_json() -> bool:
    # `.json` documents outside the API prefixes (the member's data download) are
    # JSON interfaces too: their errors are the envelope the document promises.
    return request.path.startswith(("/api/", "/wallet/", "/google/")) or (
        request.path.endswith(".json")
    )


def register_error_handlers(app: Flask) -> None:
    """JSON for API paths, an HTML page elsewhere; always roll back first."""

    @app.errorhandler(domain.DomainError)
    def handle_domain_error(error: domain.DomainError) -> Response:
        db.session.rollback()
        status = domain_status(error)
        if _wants_json():
            return json_error(status, error.code, error.message, **error.extra)
        page = render_template("errors/error.html", status=status)
        return Response(page, status=status)

    @app.errorhandler(HTTPException)
    def handle_http_error(error: HTTPException) -> Response:
        db.session.rollback()
        status = error.code or 500
        if _wants_json():
            code = (error.name or "error").lower().replace(" ", "_")
            response = json_error(status, code, error.description or error.name)
        else:
            page = render_template("errors/error.html", status=status)
            response = Response(page, status=status)
        retry_after = getattr(error, "retry_after", None)
        if status == 429 and retry_after is not None:
            # The herd's GETs (app/security.py check_herd_limits) say when.
            response.headers["Retry-After"] = str(retry_after)
        elif status == 429 and limiter.current_limit is not None:
            wait = limiter.current_limit.reset_at - int(time.time())
            response.headers["Retry-After"] = str(max(1, wait))
        return response

    @app.errorhandler(PassSigningError)
    def handle_signing_error(error: PassSigningError) -> Response | tuple[str, int]:
        db.session.rollback()
        # The operator needs the reason (file names, expiry); the client does not.
        app.logger.error("cannot sign passes: %s", error)
        if _wants_json():
            return json_error(
                503, "pass_signing_unavailable", "Passes cannot be issued right now"
            )
        return render_template("errors/error.html", status=503), 503

    @app.errorhandler(OperationalError)
    def handle_database_down(error: OperationalError) -> Response | tuple[str, int]:
        # The database is unreachable or refused us: a passing condition, so 503
        # with Retry-After lets devices and clients try again instead of giving up.
        db.session.rollback()
        app.logger.error("database unavailable: %s", type(error.orig).__name__)
        if _wants_json():
            response = json_error(
                503, "database_unavailable", "Temporarily unavailable, try again"
            )
        else:
            response = Response(
                render_template("errors/error.html", status=503), status=503
            )
        response.headers["Retry-After"] = "5"
        return response

    @app.errorhandler(DataError)
    def handle_bad_data(error: DataError) -> Response | tuple[str, int]:
        # The database refused a value the request carried (out of range, NUL in
        # text): the client's fault, and nothing was written. Views validate what
        # they know; this is the net for the rest.
        db.session.rollback()
        rule = request.url_rule.rule if request.url_rule else "?"
        app.logger.warning(
            "database refused request data on %s %s: %s",
            request.method,
            rule,
            type(error.orig).__name__,
        )
        if _wants_json():
            return json_error(400, "invalid_data", "The request has invalid values")
        return render_template("errors/error.html", status=400), 400

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception) -> Response | tuple[str, int]:
        db.session.rollback()
        # The route pattern, not the path: paths carry card tokens and serials.
        rule = request.url_rule.rule if request.url_rule else "?"
        app.logger.exception("unhandled error on %s %s", request.method, rule)
        if _wants_json():
            return json_error(500, "internal_error", "Internal server error")
        return render_template("errors/error.html", status=500), 500
