"""Migration 0008_automations goes down and up again (both databases)."""

from __future__ import annotations

from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from app.extensions import db
from tests.conftest import Demo

TABLES = {
    "automation",
    "product",
    "product_subscription",
    "store_refresh",
    "wallet_event",
}


def test_down_and_up(app: Flask, demo: Demo) -> None:
    with app.app_context():
        db.session.remove()
        assert set(inspect(db.engine).get_table_names()) >= TABLES
        downgrade(revision="0005_messaging")
        db.engine.dispose()
        assert not TABLES & set(inspect(db.engine).get_table_names())
        upgrade()
        db.engine.dispose()
        assert set(inspect(db.engine).get_table_names()) >= TABLES
        columns = {c["name"] for c in inspect(db.engine).get_columns("store_refresh")}
        assert "stores_before" in columns
