"""Marketer API: segment preview and campaigns (/api/v1). Bearer key with role
marketer or admin, or the /admin session with its CSRF token (the dashboard's
own pages call these)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, jsonify

from app.api.auth import marketer_key, program_for
from app.api.body import json_body
from app.extensions import db
from app.models import ApiKey, Program
from app.services import campaigns, segments
from app.services.errors import Invalid

bp = Blueprint("marketer_api", __name__)


@bp.before_request
def authenticate_request() -> None:
    g.api_key = marketer_key()


def _key() -> ApiKey:
    key: ApiKey = g.api_key  # set by the blueprint's before_request
    return key


def _program(body: Any = None) -> Program:
    return program_for(_key(), body)


@bp.post("/segments/preview")
def preview_segment() -> Response:
    body = json_body()
    if "segment" not in body:
        raise Invalid("invalid_segment", 'The body must be {"segment": {...}}.')
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
    body = json_body()
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
    body = json_body()
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
