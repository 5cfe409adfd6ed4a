"""Marketer API for feedback and service recovery: settings
(/api/v1/feedback/settings), the answers (/api/v1/feedback), their stats and
one-click recovery. Bearer keys with role marketer or admin, scoped to the
key's program."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from app.api.auth import MARKETER_ROLES, current_key, program_for, require_key
from app.api.body import json_body
from app.extensions import db
from app.models.feedback import PURCHASE, WINBACK
from app.services import checks, feedback

bp = Blueprint("marketer_feedback_api", __name__)


def _query_int(name: str, low: int, high: int) -> int | None:
    value = request.args.get(name)
    if value is None:
        return None
    number = checks.form_int(value.strip())
    return checks.whole(number, name, low, high, "invalid_query")


@bp.get("/feedback/settings")
@require_key(*MARKETER_ROLES)
def get_settings() -> Response:
    """The program's feedback settings."""
    body = feedback.view(program_for(current_key()))
    db.session.commit()
    return jsonify(body)


@bp.patch("/feedback/settings")
@require_key(*MARKETER_ROLES)
def patch_settings() -> Response:
    """Change the feedback settings (partial body)."""
    body = json_body()
    program = program_for(current_key(), body, lock=True)
    result = feedback.update_settings(program, body, current_key())
    db.session.commit()
    return jsonify(result)


@bp.get("/feedback")
@require_key(*MARKETER_ROLES)
def list_feedback() -> Response:
    """Rating requests and answers, newest first; ?status, ?store_id, ?kind,
    ?before (an id: the next page), ?limit."""
    program = program_for(current_key())
    status = request.args.get("status")
    if status is not None:
        checks.one_of(status, "status", feedback.STATUSES, "invalid_query")
    kind = request.args.get("kind")
    if kind is not None:
        checks.one_of(kind, "kind", (PURCHASE, WINBACK), "invalid_query")
    limit = _query_int("limit", 1, feedback.LIST_LIMIT) or feedback.LIST_LIMIT
    rows = feedback.listing(
        program.id,
        status=status,
        store_id=_query_int("store_id", 1, 2**31 - 1),
        kind=kind,
        limit=limit,
        before=_query_int("before", 1, 2**31 - 1),
    )
    names = feedback.store_names(program.id)
    body: dict[str, Any] = {
        "items": [feedback.view_of(row, names) for row in rows],
        "next_before": rows[-1].id if len(rows) == limit else None,
    }
    db.session.commit()
    return jsonify(body)


@bp.get("/feedback/stats")
@require_key(*MARKETER_ROLES)
def feedback_stats() -> Response:
    """Response rate, NPS (by store, by week), time to resolve, repurchase."""
    body = feedback.stats(program_for(current_key()))
    db.session.commit()
    return jsonify(body)


@bp.post("/feedback/<int:feedback_id>/resolve")
@require_key(*MARKETER_ROLES)
def resolve(feedback_id: int) -> Response:
    """{"points": N} or {"offer_id": ..}, and "message": the apology."""
    body = json_body()
    program = program_for(current_key(), body)
    row = feedback.resolve(program, feedback_id, body, current_key())
    view = feedback.view_of(row, feedback.store_names(program.id))
    db.session.commit()
    return jsonify(view)
