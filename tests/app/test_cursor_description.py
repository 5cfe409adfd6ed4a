"""On PostgreSQL the app's psycopg cursors build `description` lazily
(app/database.py): what SQLAlchemy and any other reader see must be exactly
psycopg's own columns."""

from __future__ import annotations

import psycopg
import pytest
from flask import Flask
from sqlalchemy import select, text

from app.extensions import db
from app.models import Member
from tests.conftest import Demo


def test_cursor_description_matches_psycopgs_own(app: Flask, demo: Demo) -> None:
    with app.app_context():
        connection = db.session.connection().connection.dbapi_connection
        if not isinstance(connection, psycopg.Connection):
            pytest.skip("PostgreSQL only (SQLite's cursors are untouched)")
        query = "SELECT id, card_number, points, created_at FROM member ORDER BY id"
        lazy = connection.cursor()
        lazy.execute(query)
        plain = psycopg.Cursor(connection)
        plain.execute(query)
        assert lazy.description is not None
        # Not psycopg's list of columns built at every access: built on first use.
        assert not isinstance(lazy.description, list)
        # (Column has no ==: compare its seven DB-API fields and its type.)
        assert [(tuple(c), c.type_display) for c in lazy.description] == [
            (tuple(c), c.type_display) for c in plain.description or []
        ]
        assert len(lazy.description) == 4
        assert lazy.description[1].name == "card_number"
        assert lazy.fetchall() == plain.fetchall()
        # A statement without a result has no description, as with psycopg.
        lazy.execute("SET LOCAL statement_timeout = 0")
        assert lazy.description is None
        # Built from the result it came with, even after the cursor moved on.
        lazy.execute("SELECT 1 AS one")
        first = lazy.description
        lazy.execute("SELECT 2 AS two, 3 AS three")
        assert [c.name for c in first or []] == ["one"]
        # SQLAlchemy: cached statements (description only checked for None),
        # first-time and text statements (the columns read) all work.
        statement = select(Member.id, Member.card_number).order_by(Member.id)
        rows = [db.session.execute(statement).all() for _ in range(3)]
        assert rows[0] == rows[1] == rows[2] != []
        named = db.session.execute(text("SELECT card_number AS n FROM member")).all()
        assert {row.n for row in named} == {row.card_number for row in rows[0]}
        lazy.close()
        plain.close()
