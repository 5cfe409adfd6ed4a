"""After a campaign every device lists its changed serials: index look-ups only."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select, text

from app.extensions import db
from app.services import wallet
from tests.conftest import Demo

DEVICE = "plan-device-0001"


def statements_of(app: Flask, call: Any) -> list[tuple[str, Any]]:
    """The SELECTs (with parameters) `call` runs in an app context."""
    seen: list[tuple[str, Any]] = []

    def before(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, params))

    with app.app_context():
        engine = db.engine
        event.listen(engine, "before_cursor_execute", before)
        try:
            call()
        finally:
            event.remove(engine, "before_cursor_execute", before)
            db.session.rollback()
    return seen


def plan(app: Flask, statement: str, params: Any) -> str:
    with app.app_context():
        connection = db.session.connection()
        cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        if connection.dialect.name == "sqlite":
            cursor.execute(f"EXPLAIN QUERY PLAN {statement}", params)
            lines = [str(row[-1]) for row in cursor.fetchall()]
        else:
            # Tiny test tables make sequential scans cheapest; forbid them so the
            # plan shows whether an index can serve every table.
            connection.execute(text("SET LOCAL enable_seqscan = off"))
            cursor.execute(f"EXPLAIN {statement}", params)
            lines = [str(row[0]) for row in cursor.fetchall()]
        db.session.rollback()
        return "\n".join(lines)


def test_changed_serials_is_one_statement_on_indexes(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    p = demo.passes[0]
    registered = client.post(
        f"/wallet/v1/devices/{DEVICE}/registrations/{demo.pass_type}/{p.serial}",
        json={"pushToken": "cd" * 32},
        headers={"Authorization": f"ApplePass {p.token}"},
    )
    assert registered.status_code == 201
    found: list[Any] = []
    statements = statements_of(
        app, lambda: found.append(wallet.changed_serials(DEVICE, demo.pass_type, 0))
    )
    assert found[0] is not None
    assert found[0][0] == [p.serial]
    [(statement, params)] = statements
    explained = plan(app, statement, params)
    # From the device, never along the program's tag index (every changed pass).
    assert "ix_pass_program_tag" not in explained, explained
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        assert "SCAN" not in explained, explained
        assert explained.startswith("SEARCH device"), explained
    else:
        assert "Seq Scan" not in explained, explained
        first_scan = next(line for line in explained.splitlines() if "Scan" in line)
        assert " on device" in first_scan, explained


def test_a_cached_pass_download_is_one_statement(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    from app.models import Pass
    from app.services import pass_cache

    p = demo.passes[0]
    with app.app_context():
        pass_id = db.session.scalar(
            select(Pass.id).where(Pass.serial_number == p.serial)
        )
        assert pass_cache.sign_ahead([pass_id]) == 1
    answers: list[Any] = []
    statements = statements_of(
        app,
        lambda: answers.append(
            client.get(
                f"/wallet/v1/passes/{demo.pass_type}/{p.serial}",
                headers={"Authorization": f"ApplePass {p.token}"},
            )
        ),
    )
    assert answers[0].status_code == 200
    assert answers[0].data[:2] == b"PK"
    # The pass (by its serial) and its cached bytes (by primary key) together.
    assert len(statements) == 1, [s for s, _ in statements]
    wrong = client.get(
        f"/wallet/v1/passes/{demo.pass_type}/{p.serial}",
        headers={"Authorization": "ApplePass " + "0" * 24},
    )
    assert wrong.status_code == 401


def test_the_herd_gets_run_outside_a_transaction_on_postgresql(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    """One round trip per GET: no BEGIN before the statement, no ROLLBACK after."""
    from app.models import Pass
    from app.services import pass_cache

    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip(
            "autocommit reads are PostgreSQL's (SQLite reads cost no round trip)"
        )
    p = demo.passes[0]
    registered = client.post(
        f"/wallet/v1/devices/{DEVICE}/registrations/{demo.pass_type}/{p.serial}",
        json={"pushToken": "cd" * 32},
        headers={"Authorization": f"ApplePass {p.token}"},
    )
    assert registered.status_code == 201
    with app.app_context():
        pass_id = db.session.scalar(
            select(Pass.id).where(Pass.serial_number == p.serial)
        )
        assert pass_cache.sign_ahead([pass_id]) == 1
        db.session.remove()
    # psycopg reports INTRANS after a statement run inside a transaction.
    states: list[str] = []

    def after(conn: Any, cursor: Any, *_: Any) -> None:
        states.append(cursor.connection.info.transaction_status.name)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "after_cursor_execute", after)
    try:
        listed = client.get(
            f"/wallet/v1/devices/{DEVICE}/registrations/{demo.pass_type}"
            "?passesUpdatedSince=0"
        )
        downloaded = client.get(
            f"/wallet/v1/passes/{demo.pass_type}/{p.serial}",
            headers={"Authorization": f"ApplePass {p.token}"},
        )
    finally:
        event.remove(engine, "after_cursor_execute", after)
    assert listed.status_code == 200
    assert downloaded.status_code == 200
    assert states == ["IDLE", "IDLE"]


def test_the_herd_gets_leave_the_orm_session_alone(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    """Both herd GETs read on a pooled connection of their own (read_rows): the
    request's ORM session never begins (its set-up and tear-down were ~10 % of
    a GET's CPU, docs/performance.md "herdfast"); a cache miss still may."""
    from sqlalchemy.orm import Session

    from app.models import Pass
    from app.services import pass_cache

    p = demo.passes[0]
    registered = client.post(
        f"/wallet/v1/devices/{DEVICE}/registrations/{demo.pass_type}/{p.serial}",
        json={"pushToken": "cd" * 32},
        headers={"Authorization": f"ApplePass {p.token}"},
    )
    assert registered.status_code == 201
    with app.app_context():
        pass_id = db.session.scalar(
            select(Pass.id).where(Pass.serial_number == p.serial)
        )
        assert pass_cache.sign_ahead([pass_id]) == 1
        db.session.remove()
    begun: list[object] = []

    def after_begin(session: Any, transaction: Any, connection: Any) -> None:
        begun.append(session)

    event.listen(Session, "after_begin", after_begin)
    try:
        listed = client.get(
            f"/wallet/v1/devices/{DEVICE}/registrations/{demo.pass_type}"
            "?passesUpdatedSince=0"
        )
        downloaded = client.get(
            f"/wallet/v1/passes/{demo.pass_type}/{p.serial}",
            headers={"Authorization": f"ApplePass {p.token}"},
        )
        unchanged = client.get(
            f"/wallet/v1/passes/{demo.pass_type}/{p.serial}",
            headers={
                "Authorization": f"ApplePass {p.token}",
                "If-Modified-Since": downloaded.headers["Last-Modified"],
            },
        )
        unknown = client.get(
            f"/wallet/v1/devices/{DEVICE}/registrations/pass.no.such.type"
        )
    finally:
        event.remove(Session, "after_begin", after_begin)
    assert listed.status_code == 200
    assert listed.json is not None
    assert listed.json["serialNumbers"] == [p.serial]
    assert downloaded.status_code == 200
    assert downloaded.data[:2] == b"PK"
    assert unchanged.status_code == 304
    assert unknown.status_code == 404
    assert begun == []
