"""Marketer API for paid membership under /api/v1: plans (/membership-plans),
their stats, and activating a membership for a member bought in a web shop
(/members/<id>/membership, also with a `shop` key)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from flask import Blueprint, Response, jsonify, request

from app.api.auth import (
    MARKETER_ROLES,
    current_key,
    current_principal,
    program_for,
    require_key,
)
from app.api.body import json_body
from app.api.marketer_common import key_program as _program
from app.extensions import db
from app.models import Program
from app.models.base import utcnow
from app.services import checks, members, memberships, purchases

bp = Blueprint("marketer_memberships_api", __name__)
MAX_DAYS = 3660


def _reply(body: dict[str, object], status: int = 200) -> Response:
    response = jsonify(body)
    response.status_code = status
    return response


@bp.get("/membership-plans")
@require_key(*MARKETER_ROLES)
def list_plans() -> Response:
    """The program's plans, archived ones included (flagged)."""
    rows = [memberships.plan_view(p) for p in memberships.list_plans(_program().id)]
    db.session.commit()
    return jsonify({"plans": rows})


@bp.post("/membership-plans")
@require_key(*MARKETER_ROLES)
def create_plan() -> Response:
    body = json_body(parse_float=Decimal)
    plan = memberships.create_plan(
        program_for(current_key(), body), body, current_key()
    )
    view = memberships.plan_view(plan)
    db.session.commit()
    return _reply(view, 201)


@bp.get("/membership-plans/<int:plan_id>")
@require_key(*MARKETER_ROLES)
def get_plan(plan_id: int) -> Response:
    view = memberships.plan_view(memberships.get_plan(_program().id, plan_id))
    db.session.commit()
    return jsonify(view)


@bp.patch("/membership-plans/<int:plan_id>")
@require_key(*MARKETER_ROLES)
def update_plan(plan_id: int) -> Response:
    """Change a plan (partial body; the code stays)."""
    body = json_body(parse_float=Decimal)
    program = program_for(current_key(), body)
    plan = memberships.get_plan(program.id, plan_id)
    view = memberships.update_plan(program, plan, body, current_key())
    db.session.commit()
    return jsonify(view)


@bp.delete("/membership-plans/<int:plan_id>")
@require_key(*MARKETER_ROLES)
def archive_plan(plan_id: int) -> Response:
    """Stop selling the plan; memberships bought run to their end."""
    program = _program()
    plan = memberships.get_plan(program.id, plan_id)
    memberships.archive_plan(program, plan, current_key())
    view = memberships.plan_view(plan)
    db.session.commit()
    return jsonify(view)


@bp.get("/membership-plans/stats")
@require_key(*MARKETER_ROLES)
def plan_stats() -> Response:
    """Active members, new, renewed, lapsed, fee revenue and members' spend
    against non-members' over the last ?days= (default 30)."""
    raw = request.args.get("days", "30")
    days = checks.form_int(raw, 5)
    if days is None or not 1 <= days <= MAX_DAYS:
        checks.fail("invalid_days", f"days must be a whole number from 1 to {MAX_DAYS}")
    program = _program()
    now = utcnow()
    body = memberships.stats(program.id, now - timedelta(days=days), now)
    db.session.commit()
    return jsonify({"days": days, **body})


@bp.post("/members/<int:member_id>/membership")
@require_key("shop", *MARKETER_ROLES)
def activate(member_id: int) -> Response:
    """{"plan": code} with an Idempotency-Key: a membership paid in a web shop
    (or granted by the marketer), renewed from the current end when active."""
    idempotency_key = purchases.check_idempotency_key(
        request.headers.get("Idempotency-Key")
    )
    principal = current_principal()
    body = json_body()
    if principal.role == "shop":
        assert principal.program is not None
        program: Program = principal.program
    else:
        program = program_for(current_key(), body)
    request_ = memberships.parse_activation(body, member_id)
    result, replayed = memberships.sell(principal, program, idempotency_key, request_)
    db.session.commit()
    response = _reply(result, 201)
    response.headers["Idempotent-Replayed"] = "true" if replayed else "false"
    return response


@bp.get("/members/<int:member_id>/membership")
@require_key(*MARKETER_ROLES)
def member_membership(member_id: int) -> Response:
    """The member's active membership ({"membership": null} without one)."""
    member = members.get_member(_program(), member_id)
    body = {"membership": memberships.member_view(member)}
    db.session.commit()
    return jsonify(body)
