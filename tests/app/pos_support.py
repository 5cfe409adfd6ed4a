"""Helpers for the POS tests: keys, barcodes, ledger checks."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask
from sqlalchemy import func, select

import passes
from app.extensions import db
from app.models import LedgerEntry, Member, Program, Store
from app.services.auth import create_key
from app.services.demo import seed_demo
from app.services.passes import barcode_secret
from app.services.signup import SignupForm, sign_up


@dataclass(frozen=True)
class Card:
    member_id: int
    number: str
    barcode: str


def make_key(app: Flask, role: str = "pos", store_code: str = "msk-atrium") -> str:
    with app.app_context():
        store = db.session.scalar(select(Store).where(Store.code == store_code))
        program = db.session.get(Program, store.program_id)
        issued = create_key(
            role, program=program, store=store if role == "pos" else None
        )
        db.session.commit()
        return issued.key


def card(app: Flask, member_id: int) -> Card:
    with app.app_context():
        member = db.session.get(Member, member_id)
        return Card(
            member_id,
            member.card_number,
            passes.barcode_payload(member.card_number, barcode_secret()),
        )


def balance(app: Flask, member_id: int) -> int:
    with app.app_context():
        return db.session.get(Member, member_id).points


def ledger_count(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(LedgerEntry))


def assert_ledger_matches_balances(app: Flask) -> None:
    """Every member's cached points equal the sum of their ledger entries."""
    with app.app_context():
        sums = dict(
            db.session.execute(
                select(LedgerEntry.member_id, func.sum(LedgerEntry.points)).group_by(
                    LedgerEntry.member_id
                )
            ).all()
        )
        for member_id, points in db.session.execute(select(Member.id, Member.points)):
            assert points == sums.get(member_id, 0), member_id


def other_program(app: Flask) -> tuple[str, Card]:
    """A second program with one store (key) and one member (card)."""
    with app.app_context():
        demo = seed_demo()
        program = Program(
            slug="other",
            name="Other",
            organization_name="Other",
            description="Other",
            logo_text="Other",
            pass_type_identifier="pass.test.other",
            team_identifier="TESTTEAM01",
            design=dict(demo.design),
            texts=dict(demo.texts),
            tiers=list(demo.tiers),
        )
        store = Store(
            program=program,
            code="other-1",
            name="Other 1",
            city="Казань",
            address="ул. Баумана, 1",
            latitude=55.79,
            longitude=49.11,
            relevant_text="Other",
        )
        db.session.add_all([program, store])
        db.session.flush()
        form = SignupForm(
            name="Иван Другой",
            phone="+79035550101",
            store=store,
            city=store.city,
            language="ru",
        )
        member, _ = sign_up(program, form, "test")
        key = create_key("pos", store=store).key
        db.session.commit()
        member_id = member.id
    return key, card(app, member_id)
