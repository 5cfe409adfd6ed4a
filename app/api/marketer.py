"""Marketer API: segment preview and campaigns (/api/v1). Bearer key with role
marketer or admin, or the /admin session with its CSRF token (the dashboard's
own pages call these)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, g, jsonify, make_response, request

from app.api.auth import marketer_key, program_for
from app.api.body import json_body
from app.extensions import db
from app.i18n import LANGUAGES
from app.models import ApiKey, Program
from app.services import automations, campaigns, results, segment_rules, segments
from app.services.errors import Invalid, NotFound

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


@bp.post("/campaigns/preview")
def preview_campaign() -> Response:
    """The pass as it will look with the campaign's message and offer; nothing
    is stored."""
    body = json_body()
    language = request.args.get("lang", "ru")
    if language not in LANGUAGES:
        language = "ru"
    program = _program(body)
    result = campaigns.preview(program, body, language, datetime.now(UTC))
    db.session.rollback()
    return jsonify(result)


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


@bp.get("/campaigns/<int:campaign_id>/estimate")
def estimate_campaign(campaign_id: int) -> Response:
    """The SMS and e-mails the campaign would send now, and the SMS cost."""
    campaign = campaigns.get(_key().program_id, campaign_id)
    body = campaigns.estimate(campaign)
    db.session.rollback()
    return jsonify(body)


# -- results (issue 16) ------------------------------------------------------------
def _results_response(body: dict[str, Any], csv_name: str, as_csv: bool) -> Response:
    if as_csv or request.args.get("format") == "csv":
        response = make_response(results.to_csv(body))
        response.headers["Content-Type"] = "text/csv; charset=utf-8"
        response.headers["Content-Disposition"] = f"attachment; filename={csv_name}"
        return response
    return jsonify(body)


@bp.get("/campaigns/<int:campaign_id>/results")
@bp.get("/campaigns/<int:campaign_id>/results.csv", endpoint="campaign_results_csv")
def campaign_results(campaign_id: int) -> Response:
    """Treated vs control (and variants) over the campaign's attribution window."""
    campaign = campaigns.get(_key().program_id, campaign_id)
    body = results.campaign_results(campaign)
    db.session.commit()
    return _results_response(
        body, f"campaign-{campaign.id}-results.csv", request.path.endswith(".csv")
    )


@bp.get("/automations/<name>/results")
@bp.get("/automations/<name>/results.csv", endpoint="automation_results_csv")
def automation_results(name: str) -> Response:
    """An automation's members assigned ?from= to ?to= (local dates, inclusive;
    the last 30 days by default), treated vs control."""
    if name not in automations.NAMES:
        raise NotFound("not_found", "No such automation.")
    program = _program()
    start, end = results.parse_period(
        program, request.args.get("from"), request.args.get("to")
    )
    conf = automations.configured(program, name)
    body = results.automation_results(
        program,
        name,
        start,
        end,
        int(conf["holdout_percent"]),
        int(conf["attribution_days"]),
    )
    db.session.commit()
    return _results_response(body, f"{name}-results.csv", request.path.endswith(".csv"))


# -- saved segments (issue 16) -----------------------------------------------------
@bp.get("/segments/saved")
def list_saved_segments() -> Response:
    rows = segment_rules.saved_listing(_program())
    body = {"segments": [segment_rules.saved_view(s) for s in rows]}
    db.session.commit()
    return jsonify(body)


@bp.post("/segments/saved")
def create_saved_segment() -> Response:
    body = json_body()
    program = _program(body)
    saved = segment_rules.create_saved(program, body)
    db.session.commit()
    response = jsonify(segment_rules.saved_view(saved))
    response.status_code = 201
    return response


@bp.get("/segments/saved/<int:segment_id>")
def get_saved_segment(segment_id: int) -> Response:
    saved = segment_rules.get_saved(_program(), segment_id)
    body = segment_rules.saved_view(saved)
    db.session.commit()
    return jsonify(body)


@bp.patch("/segments/saved/<int:segment_id>")
def update_saved_segment(segment_id: int) -> Response:
    body = json_body()
    program = _program(body)
    saved = segment_rules.get_saved(program, segment_id)
    segment_rules.update_saved(program, saved, body)
    db.session.commit()
    return jsonify(segment_rules.saved_view(saved))


@bp.delete("/segments/saved/<int:segment_id>")
def delete_saved_segment(segment_id: int) -> Response:
    program = _program()
    saved = segment_rules.get_saved(program, segment_id)
    segment_rules.delete_saved(program, saved)
    db.session.commit()
    return jsonify({"id": segment_id, "deleted": True})
