"""Marketer API for offers under /api/v1: templates, issuing to a member, counts.
Bearer keys with role marketer or admin, scoped to the key's program."""

from __future__ import annotations

from decimal import Decimal

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import select

from app.api.auth import MARKETER_ROLES, current_key, require_key
from app.api.body import json_body
from app.api.marketer_common import created as _created
from app.api.marketer_common import key_program as _program
from app.extensions import db
from app.models import MemberOffer
from app.services import members, offers

bp = Blueprint("marketer_offers_api", __name__)
ROLES = MARKETER_ROLES


@bp.get("/offers")
@require_key(*ROLES)
def list_offers() -> Response:
    """The program's templates (?archived=1 includes archived ones)."""
    program = _program()
    archived = request.args.get("archived") in ("1", "true")
    rows = [offers.offer_view(o) for o in offers.listing(program.id, archived)]
    db.session.commit()
    return jsonify({"offers": rows})


@bp.post("/offers")
@require_key(*ROLES)
def create_offer() -> Response:
    offer = offers.create_offer(
        _program(), json_body(parse_float=Decimal), current_key()
    )
    view = offers.offer_view(offer)
    db.session.commit()
    return _created(view)


@bp.get("/offers/<int:offer_id>")
@require_key(*ROLES)
def get_offer(offer_id: int) -> Response:
    view = offers.offer_view(offers.get_offer(_program().id, offer_id))
    db.session.commit()
    return jsonify(view)


@bp.patch("/offers/<int:offer_id>")
@require_key(*ROLES)
def update_offer(offer_id: int) -> Response:
    """Change a template, or {"archived": true} to stop issuing it."""
    offer = offers.get_offer(_program().id, offer_id)
    offers.update_offer(offer, json_body(parse_float=Decimal), current_key())
    view = offers.offer_view(offer)
    db.session.commit()
    return jsonify(view)


@bp.get("/offers/<int:offer_id>/stats")
@require_key(*ROLES)
def offer_stats(offer_id: int) -> Response:
    """Issued, redeemed, rate, discount and revenue: in total and per source."""
    program = _program()
    offer = offers.get_offer(program.id, offer_id)
    rows = offers.stats(program.id, offer.id)
    db.session.commit()
    return jsonify({"offer_id": offer_id, **offers.totals(rows), "by_source": rows})


@bp.get("/members/<int:member_id>/offers")
@require_key(*ROLES)
def member_offers(member_id: int) -> Response:
    """Every instance the member holds or held, newest first."""
    member = members.get_member(_program(), member_id)
    rows = db.session.scalars(
        select(MemberOffer)
        .where(MemberOffer.member_id == member.id)
        .order_by(MemberOffer.id.desc())
    )
    body = [offers.instance_view(i, member.language) for i in rows]
    db.session.commit()
    return jsonify({"offers": body})


@bp.post("/members/<int:member_id>/offers")
@require_key(*ROLES)
def issue_offer(member_id: int) -> Response:
    """{"offer_id", "source"?}: one personal instance; the same source again 409."""
    member = members.get_member(_program(), member_id)
    instance = offers.issue_manual(
        member, json_body(parse_float=Decimal), current_key()
    )
    offers.refresh_member(member)
    view = offers.instance_view(instance, member.language)
    db.session.commit()
    return _created(view)
