"""Helpers for the marketer tests: keys, members, purchases in the past."""

from __future__ import annotations

from datetime import date, datetime

from flask import Flask
from sqlalchemy import select

from app.extensions import db
from app.models import ApiKey, Member, PosTransaction, Program, Store
from app.services.auth import create_key
from app.services.signup import SignupForm, sign_up


def marketer_key(app: Flask, program_id: int, role: str = "marketer") -> str:
    with app.app_context():
        program = db.session.get(Program, program_id)
        key = create_key(role, program=program if role != "admin" else None).key
        db.session.commit()
        return key


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def never_quiet(app: Flask, program_id: int) -> None:
    """Quiet hours off, so that requests sending "now" do not depend on the clock."""
    with app.app_context():
        program = db.session.get(Program, program_id)
        program.rules = {**(program.rules or {}), "quiet_hours": [0, 0]}
        db.session.commit()


def new_member(
    app: Flask,
    program_id: int,
    phone: str,
    *,
    birthday: date | None = None,
    joined: datetime | None = None,
    name: str = "Тест Тестов",
    store_code: str = "msk-atrium",
) -> int:
    with app.app_context():
        program = db.session.get(Program, program_id)
        store = db.session.scalar(
            select(Store).where(
                Store.program_id == program_id, Store.code == store_code
            )
        )
        form = SignupForm(
            name=name,
            phone=phone,
            birthday=birthday,
            store=store,
            city=store.city if store else None,
            language="ru",
        )
        member, _ = sign_up(program, form, "test")
        if joined is not None:
            member.created_at = joined
        db.session.commit()
        return member.id


def purchase_at(app: Flask, member_id: int, when: datetime, n: int) -> None:
    """A purchase recorded at `when` (straight into the table: history)."""
    with app.app_context():
        member = db.session.get(Member, member_id)
        store = db.session.scalar(
            select(Store).where(Store.program_id == member.program_id).limit(1)
        )
        key = db.session.scalar(select(ApiKey).where(ApiKey.store_id == store.id))
        if key is None:
            key = create_key("pos", store=store).api_key
        db.session.add(
            PosTransaction(
                program_id=member.program_id,
                member_id=member.id,
                store_id=store.id,
                api_key_id=key.id,
                idempotency_key=f"history-{member_id}-{n}",
                fingerprint="0" * 64,
                receipt_id=f"H-{n}",
                amount_kopecks=100_000,
                response={},
                created_at=when,
            )
        )
        db.session.commit()
