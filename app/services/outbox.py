"""The push outbox: enqueue deliveries in the caller's transaction, read their status.

`refresh_pass` calls `enqueue_pass_update` whenever a pass's content changed, so the
outbox rows commit (or roll back) together with the change. Nothing here talks to
the network: the worker (`app.push.worker`) drains the table.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import Integer, bindparam, case, func, literal, select, text

from app import database
from app.extensions import db
from app.models import Device, GoogleObject, Pass, Program, PushDelivery, Registration
from app.models.base import UTCDateTime, utcnow
from app.models.push import QUEUED, STATUSES
from app.services.idlist import id_rows, in_ids

# Device platform (from the web service's auth scheme) -> delivery channel.
CHANNELS = {"apple": "apns", "android": "android"}

_campaign: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "push_campaign", default=None
)


@contextmanager
def campaign(campaign_id: int | None) -> Iterator[None]:
    """Tag the deliveries enqueued inside the block with a campaign id."""
    token = _campaign.set(campaign_id)
    try:
        yield
    finally:
        _campaign.reset(token)


def pending_key(channel: str, topic: str, token: str) -> str:
    return f"{channel}:{topic}:{token}"


_UPSERT_COLUMNS = (
    "channel",
    "status",
    "device_id",
    "pass_id",
    "campaign_id",
    "topic",
    "push_token",
    "pending_key",
    "generation",
    "attempts",
    "next_attempt_at",
    "created_at",
    "updated_at",
)
# Insert queued rows; a token that already has a queued row is coalesced: that
# row is updated instead, and its generation bumped (a worker holding the older
# generation sends again, see the model). Plain SQL that PostgreSQL and SQLite
# both run: SQLAlchemy does not cache the compiled form of its ON CONFLICT
# constructs, which cost ~1.5 ms of CPU per use (docs/performance.md, "POS").
_UPSERT = text(
    "INSERT INTO push_delivery (channel, status, device_id, pass_id, campaign_id,"
    " topic, push_token, pending_key, generation, attempts, next_attempt_at,"
    " created_at, updated_at) VALUES (:channel, :status, :device_id, :pass_id,"
    " :campaign_id, :topic, :push_token, :pending_key, :generation, :attempts,"
    " :next_attempt_at, :created_at, :updated_at)"
    " ON CONFLICT (pending_key) DO UPDATE SET"
    " generation = push_delivery.generation + 1,"
    " pass_id = excluded.pass_id,"
    " device_id = excluded.device_id,"
    " campaign_id = coalesce(excluded.campaign_id, push_delivery.campaign_id),"
    " updated_at = excluded.updated_at"
).bindparams(
    *[
        bindparam(column.key, type_=column.type)
        for column in PushDelivery.__table__.c
        if column.key != "id" and column.key in _UPSERT_COLUMNS
    ]
)


def _upsert(rows: list[dict[str, Any]]) -> None:
    """Insert queued rows; a token that already has a queued row is coalesced."""
    if rows:
        db.session.execute(_UPSERT, rows)


def _coalescing(stmt: Any) -> Any:
    """The INSERT, with a queued twin (same pending_key) updated instead."""
    table = PushDelivery.__table__
    return stmt.on_conflict_do_update(
        index_elements=[table.c.pending_key],
        set_={
            # A worker holding the older generation sends again (see the model).
            "generation": table.c.generation + 1,
            "pass_id": stmt.excluded.pass_id,
            "device_id": stmt.excluded.device_id,
            "campaign_id": func.coalesce(
                stmt.excluded.campaign_id, table.c.campaign_id
            ),
            "updated_at": stmt.excluded.updated_at,
        },
    )


def _row(
    channel: str,
    topic: str,
    token: str,
    *,
    pass_id: int | None,
    device_id: int | None,
    campaign_id: int | None,
    now: datetime,
) -> dict[str, Any]:
    """A queued outbox row (its pending_key coalesces it with a queued twin)."""
    return {
        "channel": channel,
        "status": QUEUED,
        "device_id": device_id,
        "pass_id": pass_id,
        "campaign_id": campaign_id,
        "topic": topic,
        "push_token": token,
        "pending_key": pending_key(channel, topic, token),
        "generation": 0,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        "updated_at": now,
    }


def enqueue_for_passes(pass_ids: Iterable[int], campaign_id: int | None = None) -> int:
    """Queue a push to every device registered for these passes; returns the rows.

    One queued row per (channel, topic, token) however many passes changed. Only
    adds to the session's transaction; the caller commits.
    """
    ids = list(pass_ids)
    if not ids:
        return 0
    campaign_id = campaign_id if campaign_id is not None else _campaign.get()
    now = utcnow()
    rows: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        result = db.session.execute(
            select(
                Registration.pass_id,
                Device.id,
                Device.push_token,
                Device.platform,
                Program.pass_type_identifier,
            )
            .join(Device, Device.id == Registration.device_id)
            .join(Pass, Pass.id == Registration.pass_id)
            .join(Program, Program.id == Pass.program_id)
            .where(Registration.pass_id.in_(chunk))
        )
        for pass_id, device_id, token, platform, topic in result:
            row = _row(
                CHANNELS.get(platform, "apns"),
                topic,
                token,
                pass_id=pass_id,
                device_id=device_id,
                campaign_id=campaign_id,
                now=now,
            )
            rows[row["pending_key"]] = row
    values = list(rows.values())
    for start in range(0, len(values), 2000):
        _upsert(values[start : start + 2000])
    return len(values)


def enqueue_messages(
    items: Iterable[tuple[str, str, str]],
    not_before: datetime,
    campaign_id: int | None = None,
) -> None:
    """Queue (channel, topic, token) deliveries that may not go before
    `not_before` (fallback SMS/e-mail waiting out the quiet hours): one
    executemany upsert."""
    now = utcnow()
    rows = []
    for channel, topic, token in items:
        row = _row(
            channel,
            topic,
            token,
            pass_id=None,
            device_id=None,
            campaign_id=campaign_id,
            now=now,
        )
        row["next_attempt_at"] = max(now, not_before)
        rows.append(row)
    for start in range(0, len(rows), 2000):
        _upsert(rows[start : start + 2000])


def enqueue(
    channel: str,
    topic: str,
    token: str,
    *,
    pass_id: int | None = None,
    device_id: int | None = None,
    campaign_id: int | None = None,
) -> None:
    """Queue one delivery on any channel (e.g. "google": topic = class id, token =
    object id); coalesced with a queued row for the same (channel, topic, token)."""
    _upsert(
        [
            _row(
                channel,
                topic,
                token,
                pass_id=pass_id,
                device_id=device_id,
                campaign_id=campaign_id if campaign_id is not None else _campaign.get(),
                now=utcnow(),
            )
        ]
    )


def enqueue_pass_update(pass_: Pass) -> int:
    """The hook `refresh_pass` calls when a pass's content changed: pushes to the
    pass's devices, and a sync of the member's Google object if there is one."""
    if pass_.id is None:  # a brand-new pass has no devices or Google object yet
        return 0
    return enqueue_pass_update_ids(pass_.id, pass_.member_id)


# One pass's devices and its member's live Google object: prepared once (the
# purchase path runs them for every sale).
_PASS_DEVICES = (
    select(Device.id, Device.push_token, Device.platform, Program.pass_type_identifier)
    .join(Registration, Registration.device_id == Device.id)
    .join(Pass, Pass.id == Registration.pass_id)
    .join(Program, Program.id == Pass.program_id)
    .where(Registration.pass_id == bindparam("pass_id"))
    .order_by(Device.id)
)
_LIVE_GOOGLE = select(GoogleObject.id).where(
    GoogleObject.member_id == bindparam("member_id"), GoogleObject.state != "EXPIRED"
)


def google_enabled() -> bool:
    return bool(current_app.config.get("GOOGLE_ISSUER_ID"))


def enqueue_pass_update_ids(pass_id: int, member_id: int) -> int:
    """`enqueue_pass_update` by ids, with prepared statements: one SELECT for
    the devices (one more for Google when it is on) and the upsert only when
    there is something to queue."""
    connection = db.session.connection()
    now = utcnow()
    campaign_id = _campaign.get()
    rows: dict[str, dict[str, Any]] = {}
    for device_id, token, platform, topic in connection.execute(
        _PASS_DEVICES, {"pass_id": pass_id}
    ):
        row = _row(
            CHANNELS.get(platform, "apns"),
            topic,
            token,
            pass_id=pass_id,
            device_id=device_id,
            campaign_id=campaign_id,
            now=now,
        )
        rows[row["pending_key"]] = row
    if (
        google_enabled()
        and connection.execute(_LIVE_GOOGLE, {"member_id": member_id}).first()
    ):
        row = _row(
            "google",
            GOOGLE_SYNC,
            str(member_id),
            pass_id=pass_id,
            device_id=None,
            campaign_id=campaign_id,
            now=now,
        )
        rows[row["pending_key"]] = row
    _upsert(list(rows.values()))
    return len(rows)


# Work on a member's Google object ("google" channel; token = member id, or
# "<member id>:<message id>" for a message, so messages never coalesce).
GOOGLE_SYNC, GOOGLE_MESSAGE, GOOGLE_EXPIRE = "object", "message", "expire"


def enqueue_google(
    member_id: int,
    topic: str,
    token: str | None = None,
    *,
    pass_id: int | None = None,
) -> bool:
    """Queue Google work for a member who has a live object; False if none."""
    if not google_enabled():
        return False
    live = db.session.scalar(
        select(GoogleObject.id).where(
            GoogleObject.member_id == member_id, GoogleObject.state != "EXPIRED"
        )
    )
    if live is None:
        return False
    enqueue("google", topic, token or str(member_id), pass_id=pass_id)
    return True


def enqueue_google_many(
    work: list[tuple[int, str, str, int | None]], campaign_id: int | None = None
) -> int:
    """`enqueue_google` in bulk: (member id, topic, token, pass id) tuples, queued
    for the members that have a live object, in the given order; the count."""
    if not work or not google_enabled():
        return 0
    members = sorted({member_id for member_id, *_ in work})
    live = set(
        db.session.scalars(
            select(GoogleObject.member_id).where(
                in_ids(GoogleObject.member_id, members),
                GoogleObject.state != "EXPIRED",
            )
        )
    )
    campaign_id = campaign_id if campaign_id is not None else _campaign.get()
    now = utcnow()
    rows = [
        _row(
            "google",
            topic,
            token,
            pass_id=pass_id,
            device_id=None,
            campaign_id=campaign_id,
            now=now,
        )
        for member_id, topic, token, pass_id in work
        if member_id in live
    ]
    for start in range(0, len(rows), 2000):
        _upsert(rows[start : start + 2000])
    return len(rows)


def deliveries_for_pass(pass_id: int) -> list[PushDelivery]:
    return list(
        db.session.scalars(
            select(PushDelivery)
            .where(PushDelivery.pass_id == pass_id)
            .order_by(PushDelivery.id)
        )
    )


def deliveries_for_campaign(campaign_id: int) -> list[PushDelivery]:
    return list(
        db.session.scalars(
            select(PushDelivery)
            .where(PushDelivery.campaign_id == campaign_id)
            .order_by(PushDelivery.id)
        )
    )


def status_counts(
    *,
    campaign_id: int | None = None,
    pass_id: int | None = None,
    channels: Iterable[str] | None = None,
    not_channels: Iterable[str] | None = None,
) -> dict[str, int]:
    """{"queued": n, "sent": n, "failed": n, "dropped": n}, optionally filtered."""
    query = select(PushDelivery.status, func.count()).group_by(PushDelivery.status)
    if channels is not None:
        query = query.where(PushDelivery.channel.in_(list(channels)))
    if not_channels is not None:
        query = query.where(PushDelivery.channel.not_in(list(not_channels)))
    if campaign_id is not None:
        query = query.where(PushDelivery.campaign_id == campaign_id)
    if pass_id is not None:
        query = query.where(PushDelivery.pass_id == pass_id)
    counts = dict.fromkeys(STATUSES, 0)
    counts.update({status: n for status, n in db.session.execute(query)})
    return counts


def enqueue_for_passes_in_db(
    pass_ids: Iterable[int], campaign_id: int | None = None
) -> None:
    """`enqueue_for_passes` done by the database: one INSERT ... SELECT from the
    passes' registrations, no row through Python; the same rows and the same
    coalescing (one queued row per channel, topic and token). Only adds to the
    session's transaction; the caller commits."""
    ids = list(pass_ids)
    if not ids:
        return
    passes = id_rows(ids)
    campaign_id = campaign_id if campaign_id is not None else _campaign.get()
    now = utcnow()
    channel = case(
        *((Device.platform == platform, name) for platform, name in CHANNELS.items()),
        else_="apns",
    )
    # Grouped per token: a phone holding several of the passes gets one row (an
    # upsert may not touch the same row twice in one statement). The channel is a
    # function of the platform, so this groups by pending_key.
    rows = (
        select(
            channel,
            literal(QUEUED),
            func.max(Device.id),
            func.max(Registration.pass_id),
            literal(campaign_id, Integer),
            Program.pass_type_identifier,
            Device.push_token,
            channel + ":" + Program.pass_type_identifier + ":" + Device.push_token,
            literal(0),
            literal(0),
            literal(now, UTCDateTime()),
            literal(now, UTCDateTime()),
            literal(now, UTCDateTime()),
        )
        # Driven by the ids, joined by index probes (see below).
        .select_from(passes)
        .join(Registration, Registration.pass_id == passes.c.id)
        .join(Device, Device.id == Registration.device_id)
        .join(Pass, Pass.id == passes.c.id)
        .join(Program, Program.id == Pass.program_id)
        .group_by(Device.platform, Program.pass_type_identifier, Device.push_token)
    )
    table = PushDelivery.__table__
    statement = _coalescing(
        database.insert(table).from_select(list(_UPSERT_COLUMNS), rows)
    )
    if db.session.get_bind().dialect.name != "postgresql":
        db.session.execute(statement)
        return
    # Nested loops only: PostgreSQL planned this join as hash or merge joins
    # reading every registration (or pass and device) once per batch, a cost
    # that grows with the program rather than the batch (155 ms of server CPU
    # per batch of 5,000 members at 1M, 23 ms at 200k). For this statement of
    # this transaction only.
    db.session.execute(text("SET LOCAL enable_hashjoin = off"))
    db.session.execute(text("SET LOCAL enable_mergejoin = off"))
    db.session.execute(statement)
    db.session.execute(text("SET LOCAL enable_hashjoin TO DEFAULT"))
    db.session.execute(text("SET LOCAL enable_mergejoin TO DEFAULT"))
