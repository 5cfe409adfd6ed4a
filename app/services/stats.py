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

from datetime import UTC, datetime, timedelta
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
    Program,
    PushDelivery,
    WalletEvent,
)
from app.services import checks

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


# -- the per-day series of /api/v1/stats -------------------------------------------


def daily(program: Program, days: int) -> dict[str, Any]:
    """Per-day counts over the last `days` days (UTC dates): the figures above
    (the same as /admin's charts)."""
    today = datetime.now(UTC).date()
    first = today - timedelta(days=days - 1)
    since = datetime.combine(first, datetime.min.time(), UTC)
    pid = program.id
    series: dict[str, dict[str, int]] = {"signups": signups(pid, since)}
    for platform in PLATFORMS:
        for kind in ("install", "uninstall"):
            series[f"{platform}_{kind}s"] = wallet_events(pid, platform, kind, since)
    series["google_saves"] = google_events(pid, "save", since)
    series["google_deletes"] = google_events(pid, "del", since)
    series["pushes_sent"] = pushes_sent(pid, since)
    series["pushes_failed"] = pushes_failed(pid, since)
    series["redemptions"] = redemptions(pid, since)
    for channel in ("store", "online"):
        series[f"purchases_{channel}"] = purchases(pid, channel, since)
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
    # ASCII digits only: int() also reads "²"-like digits and "1_0".
    if value is None:
        return 30
    days = int(value) if value.isascii() and value.isdigit() and len(value) < 9 else 0
    return checks.whole(days, "days", 1, 366, "invalid_days")
