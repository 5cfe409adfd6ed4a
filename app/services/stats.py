"""One definition per figure: what /admin's charts and /api/v1/stats count.

Each function returns per-day counts `{"YYYY-MM-DD": n}` (UTC dates) from `since`
on, for one program (`program_id`) or for all (None). Both screens call these,
so they cannot disagree. The definitions, and why:

- sign-ups: members created that day, erased ones included. A sign-up happened
  whether or not the member later asked to be erased; a chart whose past
  shrinks when someone leaves would be wrong.
- installs and uninstalls (Apple, Android): `WalletEvent` rows, one per device
  registering or unregistering a pass. Registrations are deleted on uninstall,
  so counting them would lose every install that was later removed.
- Google saves and deletes: Google's signed callbacks for the program's objects.
- pushes sent: deliveries that succeeded, dated when they were sent (`sent_at`);
  pushes failed: deliveries given up (failed or dropped), dated when they ended
  (`updated_at`, their last attempt). `sent_at` is the moment of sending; a
  finished row may still be touched later (its token cleared after a void).
- redemptions: ledger entries of kind `redeem` (points spent at the till).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select

from app.extensions import db
from app.models import (
    GoogleCallback,
    GoogleObject,
    LedgerEntry,
    Member,
    Pass,
    PosTransaction,
    PushDelivery,
    WalletEvent,
)

PLATFORMS = ("apple", "android")
FAILED = ("failed", "dropped")


def _per_day(query: Select[Any], column: Any, since: datetime) -> dict[str, int]:
    # date() is a function on SQLite and a function-style cast on PostgreSQL.
    day = func.date(column)
    rows = db.session.execute(
        query.where(column >= since).with_only_columns(day, func.count()).group_by(day)
    ).all()
    return {str(d)[:10]: int(n) for d, n in rows}


def signups(program_id: int | None, since: datetime) -> dict[str, int]:
    query = select(Member.id)
    if program_id is not None:
        query = query.where(Member.program_id == program_id)
    return _per_day(query, Member.created_at, since)


def wallet_events(
    program_id: int | None, platform: str, kind: str, since: datetime
) -> dict[str, int]:
    """Installs (`kind` "install") or uninstalls on `platform` (apple, android)."""
    query = select(WalletEvent.id).where(
        WalletEvent.platform == platform, WalletEvent.kind == kind
    )
    if program_id is not None:
        query = query.where(WalletEvent.program_id == program_id)
    return _per_day(query, WalletEvent.created_at, since)


def google_events(
    program_id: int | None, event_type: str, since: datetime
) -> dict[str, int]:
    """Google saves (`event_type` "save") or deletes ("del")."""
    query = select(GoogleCallback.id).where(GoogleCallback.event_type == event_type)
    if program_id is not None:
        objects = (
            select(GoogleObject.object_id)
            .join(Member, Member.id == GoogleObject.member_id)
            .where(Member.program_id == program_id)
        )
        query = query.where(GoogleCallback.object_id.in_(objects))
    return _per_day(query, GoogleCallback.received_at, since)


def _pushes(program_id: int | None) -> Select[Any]:
    query = select(PushDelivery.id)
    if program_id is not None:
        passes = select(Pass.id).where(Pass.program_id == program_id)
        query = query.where(PushDelivery.pass_id.in_(passes))
    return query


def pushes_sent(program_id: int | None, since: datetime) -> dict[str, int]:
    query = _pushes(program_id).where(PushDelivery.status == "sent")
    return _per_day(query, PushDelivery.sent_at, since)


def pushes_failed(program_id: int | None, since: datetime) -> dict[str, int]:
    query = _pushes(program_id).where(PushDelivery.status.in_(FAILED))
    return _per_day(query, PushDelivery.updated_at, since)


def redemptions(program_id: int | None, since: datetime) -> dict[str, int]:
    query = select(LedgerEntry.id).where(LedgerEntry.kind == "redeem")
    if program_id is not None:
        query = query.where(LedgerEntry.program_id == program_id)
    return _per_day(query, LedgerEntry.created_at, since)


def purchases(program_id: int | None, channel: str, since: datetime) -> dict[str, int]:
    """Purchases by channel: `store` (a till) or `online` (a web shop's key)."""
    query = select(PosTransaction.id).where(PosTransaction.channel == channel)
    if program_id is not None:
        query = query.where(PosTransaction.program_id == program_id)
    return _per_day(query, PosTransaction.created_at, since)
