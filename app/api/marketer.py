"""Marketer API: segment preview and campaigns (/api/v1). Bearer key with role
marketer or admin, or the /admin session with its CSRF token (the dashboard's
own pages call these)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from app.admin.session import api_session_key, selected_program
from app.errors import ApiError
from app.extensions import db
from app.models import ApiKey, Program
from app.services import campaigns, segments
from app.services.auth import authenticate, check_program

bp = Blueprint("marketer_api", __name__)
ROLES = ("marketer", "admin")


@bp.before_request
def authenticate_request() -> None:
    if request.headers.get("Authorization"):
        g.api_key = authenticate(request.headers.get("Authorization"), ROLES)
    else:
        g.api_key = api_session_key(request)


def _key() -> ApiKey:
    return g.api_key  # type: ignore[no-any-return]


def _body() -> Any:
    body = request.get_json(silent=True)
    if body is None:
        raise ApiError(400, "invalid_json", "The body must be JSON.")
    return body


def _program(body: Any = None) -> Program:
    """The key's program; an admin key (all programs) names one with program_id."""
    key = _key()
    if key.program is not None:
        return key.program
    raw = request.args.get("program_id")
    if raw is None and isinstance(body, dict):
        raw = body.pop("program_id", None)
    if raw is None and g.get("admin_session"):
        # The dashboard's pages: the program chosen in its header.
        selected = selected_program(key)
        raw = selected.id if selected is not None else None
    try:
        program = db.session.get(Program, int(raw)) if raw is not None else None
    except (TypeError, ValueError):
        program = None
    if program is None:
        raise ApiError(
            422, "program_required", "program_id (an existing program) is required"
        )
    check_program(key, program.id)
    return program


@bp.post("/segments/preview")
def preview_segment() -> Response:
    body = _body()
    if not isinstance(body, dict) or "segment" not in body:
        raise ApiError(422, "invalid_segment", 'The body must be {"segment": {...}}.')
    program = _program(body)
    counted = segments.counts(program, body["segment"])
    sample = segments.sample(program, body["segment"])
    db.session.commit()
    return jsonify({**counted, "sample": sample})


@bp.get("/campaigns")
def list_campaigns() -> Response:
    key = _key()
    program_id = key.program_id
    if program_id is None and g.get("admin_session"):
        program_id = _program().id
    rows = campaigns.listing(program_id)
    result = [campaigns.as_json(c) for c in rows]
    db.session.commit()
    return jsonify({"campaigns": result})


@bp.post("/campaigns")
def create_campaign() -> Response:
    body = _body()
    program = _program(body)
    campaign = campaigns.create(program, body, _key())
    db.session.commit()
    response = jsonify(campaigns.as_json(campaign))
    response.status_code = 201
    return response


@bp.get("/campaigns/<int:campaign_id>")
def get_campaign(campaign_id: int) -> Response:
    campaign = campaigns.get(_key().program_id, campaign_id)
    body = campaigns.as_json(campaign)
    db.session.commit()
    return jsonify(body)


@bp.patch("/campaigns/<int:campaign_id>")
def patch_campaign(campaign_id: int) -> Response:
    body = _body()
    campaign = campaigns.get(_key().program_id, campaign_id)
    program = db.session.get(Program, campaign.program_id)
    assert program is not None
    campaigns.update_campaign(campaign, program, body, _key())
    db.session.commit()
    return jsonify(campaigns.as_json(campaign))


@bp.post("/campaigns/<int:campaign_id>/schedule")
def schedule_campaign(campaign_id: int) -> Response:
    campaign = campaigns.get(_key().program_id, campaign_id)
    campaigns.schedule(campaign, _key())
    db.session.commit()
    return jsonify(campaigns.as_json(campaign))


@bp.delete("/campaigns/<int:campaign_id>")
def cancel_campaign(campaign_id: int) -> Response:
    campaign = campaigns.get(_key().program_id, campaign_id)
    campaigns.cancel(campaign, _key())
    db.session.commit()
    return jsonify(campaigns.as_json(campaign))
