"""Members for marketers: search, profile, manual points adjustments, erasure."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select

from app.extensions import db
from app.models import (
    ApiKey,
    GoogleObject,
    LedgerEntry,
    Member,
    Program,
)
from app.services import checks, ledger, wallet
from app.services.errors import Invalid, NotFound
from app.services.masking import mask_phone
from app.services.passes import pass_for_member
from app.services.privacy import erase_member

MAX_PAGE = 100
MAX_ADJUSTMENT = 10_000_000


def _phone(member: Member, key: ApiKey) -> str:
    return member.phone if key.role == "admin" else mask_phone(member.phone)


def member_row(member: Member, key: ApiKey) -> dict[str, Any]:
    return {
        "id": member.id,
        "card_number": member.card_number,
        "name": member.name,
        "phone": _phone(member, key),
        "balance": member.points,
        "tier": member.tier,
        "created_at": member.created_at.isoformat(),
        "erased": member.erased_at is not None,
    }


def search(
    program: Program, q: str, page: int, per_page: int, key: ApiKey
) -> dict[str, Any]:
    query = select(Member).where(Member.program_id == program.id)
    q = q.strip()
    if q:
        digits = "".join(ch for ch in q if ch.isdigit())
        # SQLite's lower() and LIKE fold ASCII only: try the usual spellings too.
        variants = {q, q.lower(), q.title(), q.upper()}
        terms = [func.lower(Member.name).contains(q.lower(), autoescape=True)]
        terms += [Member.name.contains(v, autoescape=True) for v in variants]
        if digits:
            terms.append(Member.card_number.contains(digits, autoescape=True))
            terms.append(Member.phone.contains(digits, autoescape=True))
        query = query.where(or_(*terms))
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    members = db.session.scalars(
        query.order_by(Member.id.desc()).limit(per_page).offset((page - 1) * per_page)
    )
    return {
        "members": [member_row(m, key) for m in members],
        "page": page,
        "per_page": per_page,
        "total": total,
    }


def get_member(program: Program, member_id: int) -> Member:
    member = db.session.get(Member, member_id)
    if member is None or member.program_id != program.id:
        raise NotFound("unknown_member", "No such member in this program.")
    return member


def profile(member: Member, key: ApiKey) -> dict[str, Any]:
    entries = db.session.scalars(
        select(LedgerEntry)
        .where(LedgerEntry.member_id == member.id)
        .order_by(LedgerEntry.id.desc())
        .limit(100)
    )
    pass_ = pass_for_member(member)
    devices = wallet.device_list(pass_)
    google = db.session.scalar(
        select(GoogleObject).where(GoogleObject.member_id == member.id)
    )
    program = member.program
    return {
        **member_row(member, key),
        "language": member.language,
        "birthday": member.birthday.isoformat() if member.birthday else None,
        "city": member.city,
        "preferred_store_id": member.preferred_store_id,
        "offer": member.offer,
        "tier": {"code": member.tier, "name": program.tier_names(member.tier)},
        "ledger": [
            {
                "id": e.id,
                "kind": e.kind,
                "points": e.points,
                "note": e.note,
                "store_id": e.store_id,
                "created_at": e.created_at.isoformat(),
            }
            for e in entries
        ],
        "pass": None
        if pass_ is None
        else {
            "serial_number": pass_.serial_number,
            "update_tag": pass_.update_tag,
            "updated_at": pass_.updated_at.isoformat(),
            "voided": pass_.voided,
            "devices": devices,
        },
        "google": None
        if google is None
        else {
            "state": google.state,
            "saved": google.saved,
            "saves": google.save_count,
            "deletes": google.delete_count,
        },
    }


def adjust_points(member: Member, body: Any, key: ApiKey) -> LedgerEntry:
    """A manual adjustment with a reason; never below zero (422)."""
    body = checks.mapping(body, "the body", "invalid_body")
    points = checks.whole(
        body.get("points"), "points", -MAX_ADJUSTMENT, MAX_ADJUSTMENT, "invalid_points"
    )
    if points == 0:
        checks.fail("invalid_points", "points must not be 0")
    reason = checks.text(body.get("reason"), "reason", "invalid_reason", longest=200)
    if member.erased_at is not None:
        raise Invalid("erased", "This member was erased.")
    locked = ledger.lock_member(member.id)
    if locked.points + points < 0:
        raise Invalid(
            "insufficient_points",
            f"The balance is {locked.points}: it cannot go below zero.",
        )
    entry = ledger.post(locked, "adjustment", points, note=reason, api_key_id=key.id)
    ledger.refresh_member_pass(locked)
    return entry


def erase(member: Member) -> None:
    """Erase the member's personal data (their subscriptions end with it)."""
    if member.erased_at is None:
        erase_member(member)
