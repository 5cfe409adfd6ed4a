"""Marketer API for the loyalty mechanics: the stamp card (/api/v1/stamps) and
referrals (/api/v1/referrals), their settings and counts. Bearer keys with role
marketer or admin, scoped to the key's program."""

from __future__ import annotations

from decimal import Decimal

from flask import Blueprint, Response, jsonify

from app.api.auth import MARKETER_ROLES, current_key, program_for, require_key
from app.api.body import json_body
from app.extensions import db
from app.services import referrals, stamps

bp = Blueprint("marketer_stamps_api", __name__)


@bp.get("/stamps")
@require_key(*MARKETER_ROLES)
def get_stamps() -> Response:
    """The program's stamp card settings."""
    body = stamps.view(program_for(current_key()))
    db.session.commit()
    return jsonify(body)


@bp.patch("/stamps")
@require_key(*MARKETER_ROLES)
def patch_stamps() -> Response:
    """Change the stamp card (partial body); passes follow when they change."""
    body = json_body(parse_float=Decimal)
    program = program_for(current_key(), body, lock=True)
    result = stamps.update_settings(program, body, current_key())
    db.session.commit()
    return jsonify(result)


@bp.get("/stamps/stats")
@require_key(*MARKETER_ROLES)
def stamp_stats() -> Response:
    """Stamps given, rewards issued, members collecting."""
    body = stamps.stats(program_for(current_key()).id)
    db.session.commit()
    return jsonify(body)


@bp.get("/referrals")
@require_key(*MARKETER_ROLES)
def get_referrals() -> Response:
    """The program's referral settings."""
    body = referrals.view(program_for(current_key()))
    db.session.commit()
    return jsonify(body)


@bp.patch("/referrals")
@require_key(*MARKETER_ROLES)
def patch_referrals() -> Response:
    """Change the referral program (partial body)."""
    body = json_body(parse_float=Decimal)
    program = program_for(current_key(), body, lock=True)
    result = referrals.update_settings(program, body, current_key())
    db.session.commit()
    return jsonify(result)


@bp.get("/referrals/stats")
@require_key(*MARKETER_ROLES)
def referral_stats() -> Response:
    """Invites opened, sign-ups, first purchases, rewards paid."""
    body = referrals.stats(program_for(current_key()).id)
    db.session.commit()
    return jsonify(body)
