"""Migration 0003_pos goes down and up again with members in the database."""

from __future__ import annotations

from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import func, inspect, select

from app.extensions import db
from app.models import LedgerEntry, Member
from tests.app.pos_support import assert_ledger_matches_balances
from tests.conftest import Demo


def test_down_and_up_keeps_balances_as_opening_entries(app: Flask, demo: Demo) -> None:
    with app.app_context():
        db.session.remove()
        downgrade(revision="0001")
        tables = inspect(db.engine).get_table_names()
        assert "ledger_entry" not in tables
        assert "api_key" not in tables
        upgrade()
        db.session.remove()
        # Points held before the ledger existed become one opening entry each.
        entries = db.session.execute(
            select(LedgerEntry.kind, LedgerEntry.points, LedgerEntry.idempotency_key)
        ).all()
        members = db.session.scalar(select(func.count(Member.id)))
        assert len(entries) == members == 3
        assert {(kind, points) for kind, points, _ in entries} == {("adjustment", 100)}
    assert_ledger_matches_balances(app)
