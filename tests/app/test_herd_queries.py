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
    """The SELECTs (with parameters) `call` runs in an app context: seen by
    SQLAlchemy on SQLite, at the psycopg cursor on PostgreSQL (where read_rows
    runs the herd's statements on the connection itself)."""
    from app.database import _Cursor

    seen: list[tuple[str, Any]] = []

    def before(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if conn.dialect.name == "sqlite" and statement.lstrip().upper().startswith(
            "SELECT"
        ):
            seen.append((statement, params))

    execute = _Cursor.execute

    def recorded(cursor: Any, query: Any, params: Any = None, **kwargs: Any) -> Any:
        if str(query).lstrip().upper().startswith("SELECT"):
            seen.append((str(query), params))
        return execute(cursor, query, params, **kwargs)

    with app.app_context():
        engine = db.engine
        event.listen(engine, "before_cursor_execute", before)
        _Cursor.execute = recorded  # type: ignore[method-assign]
        try:
            call()
        finally:
            _Cursor.execute = execute  # type: ignore[method-assign]
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
    # Other tests in this process may have served the design already.
    pass_cache._parts.clear()  # noqa: SLF001
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
    # The pass (by its serial) and its cached bytes (by primary key) together;
    # then the design's image part, the first time this process serves it.
    first = [s for s, _ in statements]
    assert len(first) == 2, first
    assert "signed_pass_part" in first[1], first
    again = statements_of(
        app,
        lambda: answers.append(
            client.get(
                f"/wallet/v1/passes/{demo.pass_type}/{p.serial}",
                headers={"Authorization": f"ApplePass {p.token}"},
            )
        ),
    )
    assert answers[1].data == answers[0].data
    assert len(again) == 1, [s for s, _ in again]  # the part is kept in memory
    wrong = client.get(
        f"/wallet/v1/passes/{demo.pass_type}/{p.serial}",
        headers={"Authorization": "ApplePass " + "0" * 24},
    )
    assert wrong.status_code == 401


def test_the_herd_gets_run_outside_a_transaction_on_postgresql(
    app: Flask, client: FlaskClient, demo: Demo, monkeypatch: pytest.MonkeyPatch
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
    # psycopg reports INTRANS after a statement run inside a transaction. The
    # herd's statements run on the psycopg connection itself (read_rows), so
    # they are seen at its cursor, with what it sent.
    from app.database import _Cursor

    states: list[str] = []
    sent: list[str] = []
    execute = _Cursor.execute

    def recorded(cursor: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(str(query).split()[0].upper())
        result = execute(cursor, query, *args, **kwargs)
        states.append(cursor.connection.info.transaction_status.name)
        return result

    monkeypatch.setattr(_Cursor, "execute", recorded)
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
        monkeypatch.undo()
    assert listed.status_code == 200
    assert downloaded.status_code == 200
    assert states == ["IDLE", "IDLE"]
    assert sent == ["SELECT", "SELECT"]  # no BEGIN, no ROLLBACK


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


def test_a_herd_get_on_a_killed_connection_is_one_503(
    app: Flask, client: FlaskClient, demo: Demo, database_url: str
) -> None:
    """read_rows runs on the psycopg connection itself: a connection the server
    killed still ends as SQLAlchemy's error (503, never a 500) and leaves the
    pool, so the next GET works."""
    from sqlalchemy import create_engine

    if not database_url.startswith("postgresql"):
        pytest.skip("pg_terminate_backend is PostgreSQL")
    p = demo.passes[0]
    registered = client.post(
        f"/wallet/v1/devices/{DEVICE}/registrations/{demo.pass_type}/{p.serial}",
        json={"pushToken": "cd" * 32},
        headers={"Authorization": f"ApplePass {p.token}"},
    )
    assert registered.status_code == 201
    path = f"/wallet/v1/devices/{DEVICE}/registrations/{demo.pass_type}"
    assert client.get(path).status_code == 200  # the pooled connection is used
    admin = create_engine(database_url.rsplit("/", 1)[0] + "/postgres")
    with admin.begin() as conn:
        killed = conn.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": database_url.rsplit("/", 1)[1]},
        ).scalar()
    admin.dispose()
    assert killed
    statuses = [client.get(path).status_code for _ in range(3)]
    assert statuses[0] in (200, 503)
    assert statuses[1:] == [200, 200]
