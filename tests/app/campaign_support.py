"""Helpers for the segment and campaign tests: members, purchases, devices."""

from __future__ import annotations

import itertools
import secrets
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from app.extensions import db
from app.models import (
    ApiKey,
    Device,
    GoogleObject,
    Member,
    Pass,
    PosTransaction,
    Program,
    Registration,
    Store,
)
from app.services import segments
from app.services.auth import create_key

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # 15:00 in Moscow: not quiet
_numbers = itertools.count(1)


def add_member(program: Program, **fields: Any) -> Member:
    n = next(_numbers)
    values: dict[str, Any] = {
        "program_id": program.id,
        "card_number": f"9{n:011d}",
        "card_token": secrets.token_urlsafe(16),
        "name": f"Member {n}",
        "phone": f"+7900{n:07d}",
        "consent_version": "2026-11",
        "consent_at": NOW,
        "tier": "silver",
        "language": "ru",
        "created_at": NOW - timedelta(days=400),
    }
    values.update(fields)
    member = Member(**values)
    db.session.add(member)
    db.session.flush()
    return member


def pos_key(program: Program) -> ApiKey:
    store = db.session.scalar(select(Store).where(Store.program_id == program.id))
    return create_key("pos", store=store).api_key


def buy(member: Member, key: ApiKey, days_ago: float) -> None:
    at = NOW - timedelta(days=days_ago)
    db.session.add(
        PosTransaction(
            program_id=member.program_id,
            member_id=member.id,
            store_id=key.store_id,
            api_key_id=key.id,
            idempotency_key=secrets.token_hex(8),
            fingerprint="x" * 64,
            receipt_id="r",
            amount_kopecks=100_00,
            response={},
            created_at=at,
        )
    )
    db.session.flush()


def add_pass(member: Member) -> Pass:
    pass_ = Pass(
        program_id=member.program_id,
        member_id=member.id,
        serial_number=secrets.token_hex(8),
        authentication_token=secrets.token_hex(16),
    )
    db.session.add(pass_)
    db.session.flush()
    return pass_


def register_device(member: Member, platform: str = "apple") -> Device:
    pass_ = db.session.scalar(select(Pass).where(Pass.member_id == member.id))
    if pass_ is None:
        pass_ = add_pass(member)
    device = Device(
        device_library_identifier=secrets.token_hex(8),
        push_token=secrets.token_hex(32),
        platform=platform,
    )
    db.session.add(device)
    db.session.flush()
    db.session.add(Registration(device_id=device.id, pass_id=pass_.id))
    db.session.flush()
    return device


def save_google(member: Member, saved: bool = True) -> None:
    db.session.add(
        GoogleObject(
            member_id=member.id,
            object_id=f"x.{secrets.token_hex(6)}",
            class_id="x.c",
            body={},
            saved=saved,
        )
    )
    db.session.flush()


def matching(program: Program, definition: Any, now: datetime = NOW) -> set[int]:
    return set(
        db.session.scalars(
            select(Member.id).where(segments.where(program, definition, now))
        )
    )


def birthday(month: int, day: int, year: int = 1990) -> date:
    return date(year, month, day)
