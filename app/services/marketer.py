"""Members search and profile, manual points adjustments, and stats for marketers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select

from app.errors import ApiError
from app.extensions import db
from app.models import (
    ApiKey,
    GoogleCallback,
    GoogleObject,
    LedgerEntry,
    Member,
    Pass,
    PosTransaction,
    Program,
    PushDelivery,
    WalletEvent,
)
from app.services import ledger, wallet
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
        raise ApiError(404, "unknown_member", "No such member in this program.")
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
    if not isinstance(body, dict):
        raise ApiError(422, "invalid_body", "a JSON object is required")
    points, reason = body.get("points"), body.get("reason")
    if (
        not isinstance(points, int)
        or isinstance(points, bool)
        or points == 0
        or abs(points) > MAX_ADJUSTMENT
    ):
        raise ApiError(
            422,
            "invalid_points",
            f"points: a non-zero integer within ±{MAX_ADJUSTMENT}",
        )
    if not isinstance(reason, str) or not reason.strip() or len(reason) > 200:
        raise ApiError(422, "invalid_reason", "reason: 1-200 characters")
    if member.erased_at is not None:
        raise ApiError(422, "erased", "This member was erased.")
    locked = ledger.lock_member(member.id)
    if locked.points + points < 0:
        raise ApiError(
            422,
            "insufficient_points",
            f"The balance is {locked.points}: it cannot go below zero.",
        )
    entry = ledger.post(
        locked, "adjustment", points, note=reason.strip(), api_key_id=key.id
    )
    ledger.refresh_member_pass(locked)
    return entry


def erase(member: Member) -> None:
    """Erase the member's personal data (their subscriptions end with it)."""
    if member.erased_at is None:
        erase_member(member)


# -- stats ---------------------------------------------------------------------


def _per_day(query: Any, column: Any, since: datetime) -> dict[str, int]:
    # date() is a function on SQLite and a function-style cast on PostgreSQL.
    day = func.date(column)
    rows = db.session.execute(
        query.where(column >= since).with_only_columns(day, func.count()).group_by(day)
    ).all()
    return {str(d): n for d, n in rows}


def stats(program: Program, days: int) -> dict[str, Any]:
    """Per-day counts over the last `days` days (UTC dates)."""
    today = datetime.now(UTC).date()
    first = today - timedelta(days=days - 1)
    since = datetime.combine(first, datetime.min.time(), UTC)
    series: dict[str, dict[str, int]] = {}
    series["signups"] = _per_day(
        select(Member.id).where(Member.program_id == program.id),
        Member.created_at,
        since,
    )
    for platform in ("apple", "android"):
        for kind in ("install", "uninstall"):
            series[f"{platform}_{kind}s"] = _per_day(
                select(WalletEvent.id).where(
                    WalletEvent.program_id == program.id,
                    WalletEvent.platform == platform,
                    WalletEvent.kind == kind,
                ),
                WalletEvent.created_at,
                since,
            )
    program_objects = (
        select(GoogleObject.object_id)
        .join(Member, Member.id == GoogleObject.member_id)
        .where(Member.program_id == program.id)
    )
    for event, name in (("save", "google_saves"), ("del", "google_deletes")):
        series[name] = _per_day(
            select(GoogleCallback.id).where(
                GoogleCallback.event_type == event,
                GoogleCallback.object_id.in_(program_objects),
            ),
            GoogleCallback.received_at,
            since,
        )
    program_passes = select(Pass.id).where(Pass.program_id == program.id)
    pushes = select(PushDelivery.id).where(PushDelivery.pass_id.in_(program_passes))
    series["pushes_sent"] = _per_day(
        pushes.where(PushDelivery.status == "sent"), PushDelivery.sent_at, since
    )
    series["pushes_failed"] = _per_day(
        pushes.where(PushDelivery.status.in_(("failed", "dropped"))),
        PushDelivery.updated_at,
        since,
    )
    series["redemptions"] = _per_day(
        select(LedgerEntry.id).where(
            LedgerEntry.program_id == program.id, LedgerEntry.kind == "redeem"
        ),
        LedgerEntry.created_at,
        since,
    )
    # Purchases by channel: at a till, or online (a web shop's key).
    for channel in ("store", "online"):
        series[f"purchases_{channel}"] = _per_day(
            select(PosTransaction.id).where(
                PosTransaction.program_id == program.id,
                PosTransaction.channel == channel,
            ),
            PosTransaction.created_at,
            since,
        )
    dates = [first + timedelta(days=i) for i in range(days)]
    return {
        "days": days,
        "from": first.isoformat(),
        "to": today.isoformat(),
        "series": [
            {
                "date": d.isoformat(),
                **{
                    name: counts.get(d.isoformat(), 0)
                    for name, counts in series.items()
                },
            }
            for d in dates
        ],
        "totals": {name: sum(counts.values()) for name, counts in series.items()},
    }


def parse_days(value: str | None) -> int:
    try:
        days = int(value) if value is not None else 30
    except ValueError:
        days = 0
    if not 1 <= days <= 366:
        raise ApiError(422, "invalid_days", "days must be 1-366")
    return days
