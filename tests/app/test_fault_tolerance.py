"""Fault tolerance: APNs down for many retry rounds, the database gone for a moment,
POS retries after lost answers. Everything finishes once the fault is gone, and
nothing is lost or doubled."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, func, select, text

from app import create_app
from app.extensions import db
from app.models import LedgerEntry, PosTransaction, PushDelivery
from app.push.senders import build_senders
from app.push.worker import Settings, Worker
from tests.app.pos_support import assert_ledger_matches_balances, card, make_key
from tests.app.test_push import TOKENS, add_points, register
from tests.conftest import Demo, _migrate, base_config
from tests.support.apns_server import ApnsStandIn
from tests.support.liveserver import live_server
from tests.support.postgres import PostgresServer
from tests.support.push import TOPIC, drain, push_config

# Safety limit for waits on background work: a hang fails instead of blocking the
# suite. Nothing is asserted about how long anything takes.
PATIENCE = 60


def outage_config(pki_dir: Path, url: str) -> dict:
    """Quick retries, few attempts, but a day before anything may fail."""
    return {
        **push_config(pki_dir, url),
        "PUSH_MAX_ATTEMPTS": "3",
        "PUSH_RETRY_BASE_SECONDS": "0.01",
        "PUSH_RETRY_CAP_SECONDS": "0.05",
        "PUSH_POLL_SECONDS": "0.01",
        "PUSH_GIVE_UP_SECONDS": "86400",
    }


def queue_updates(app: Flask, client: FlaskClient, demo: Demo) -> list[str]:
    """One registered device per token across the demo passes, and a change to
    every pass: a batch of queued pushes."""
    for index, token in enumerate(TOKENS):
        register(
            client, demo, demo.passes[index % len(demo.passes)], f"d{index}", token
        )
    for p in demo.passes:
        add_points(app, p.member_id, 5)
    return list(TOKENS)


def rows(app: Flask) -> list[PushDelivery]:
    with app.app_context():
        found = list(db.session.scalars(select(PushDelivery)))
        db.session.expunge_all()
        db.session.remove()
        return found


def test_apns_answering_503_for_longer_than_the_attempts_fails_nothing(
    app: Flask,
    client: FlaskClient,
    demo: Demo,
    make_app: Callable[[dict], Flask],
    apns: ApnsStandIn,
    pki_dir: Path,
) -> None:
    tokens = queue_updates(app, client, demo)
    rounds = 8  # well past PUSH_MAX_ATTEMPTS=3
    for token in tokens:
        apns.answer(token, *[503] * rounds)
    stats = drain(make_app(outage_config(pki_dir, apns.url)))
    assert apns.delivered() == dict.fromkeys(tokens, 1)
    assert stats.counters["failed"] == 0
    found = rows(app)
    assert {row.status for row in found} == {"sent"}
    assert {row.attempts for row in found} == {rounds + 1}


class BackgroundWorker:
    """The push worker running in a thread until stopped (like `flask worker`)."""

    def __init__(self, app: Flask) -> None:
        with app.app_context():
            self.worker = Worker(
                db.engine, build_senders(app.config), Settings.from_config(app.config)
            )
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=lambda: self.loop.run_until_complete(self.worker.run()), daemon=True
        )

    def __enter__(self) -> BackgroundWorker:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.worker.stop)
        self.thread.join(PATIENCE)
        self.loop.close()


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + PATIENCE
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.02)


def certificate_stand_in(pki_dir: Path, port: int = 0) -> ApnsStandIn:
    """The certificate-mode stand-in (as `start_apns`), on a chosen port."""
    return ApnsStandIn(
        str(pki_dir / "apns-server.pem"),
        str(pki_dir / "apns-server.key"),
        TOPIC,
        client_ca_file=os.pathsep.join(
            [str(pki_dir / "ca.pem"), str(pki_dir / "wwdr.pem")]
        ),
        port=port,
    ).start()


def test_apns_stopped_then_back_delivers_every_push(
    app: Flask,
    client: FlaskClient,
    demo: Demo,
    make_app: Callable[[dict], Flask],
    pki_dir: Path,
) -> None:
    first = certificate_stand_in(pki_dir)
    port = first.port
    first.stop()  # APNs unreachable: connections refused
    worker_app = make_app(outage_config(pki_dir, f"https://127.0.0.1:{port}"))
    back: ApnsStandIn | None = None
    # Queued before the worker starts: SQLite has one writer at a time.
    tokens = queue_updates(app, client, demo)
    try:
        with BackgroundWorker(worker_app) as background:
            # Several retry rounds beyond the attempt limit, all while APNs is down.
            wait_for(
                lambda: all(row.attempts >= 6 for row in rows(app)),
                "six failed rounds",
            )
            down = rows(app)
            assert {row.status for row in down} == {"queued"}
            assert all(row.last_reason for row in down)
            back = certificate_stand_in(pki_dir, port)
            wait_for(
                lambda: {row.status for row in rows(app)} == {"sent"},
                "every push sent",
            )
        assert back.delivered() == dict.fromkeys(tokens, 1)
    finally:
        # The worker has stopped (and closed its connection) before the server.
        if back is not None:
            back.stop()
    assert background.worker.stats.counters["failed"] == 0


# -- the database away for a moment ------------------------------------------


@pytest.fixture
def own_postgres(backend: str, pki_dir: Path) -> Iterator[tuple[PostgresServer, str]]:
    """A PostgreSQL server of this test's own, migrated, that it may stop."""
    if backend != "postgresql":
        pytest.skip("stopping the database server needs PostgreSQL")
    server = PostgresServer().start()
    try:
        admin = create_engine(server.url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("CREATE DATABASE wallet"))
        admin.dispose()
        url = server.url("wallet")
        _migrate({**base_config(pki_dir), "SQLALCHEMY_DATABASE_URI": url})
        yield server, url
    finally:
        server.stop()


def purchase(client: FlaskClient, key: str, barcode: str, idem: str):
    return client.post(
        "/api/v1/pos/transactions",
        json={"code": barcode, "amount": "1000", "receipt_id": idem},
        headers={"Authorization": f"Bearer {key}", "Idempotency-Key": idem},
    )


def test_database_stopped_answers_503_then_recovers_without_restart(
    own_postgres: tuple[PostgresServer, str], pki_dir: Path
) -> None:
    from app.services.demo import seed_demo

    server, url = own_postgres
    app = create_app({**base_config(pki_dir), "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        seed_demo()
        db.session.commit()
    member_id = 1
    key = make_key(app)
    c = card(app, member_id)
    client = app.test_client()
    assert (
        client.get(
            "/api/v1/pos/me", headers={"Authorization": f"Bearer {key}"}
        ).status_code
        == 200
    )
    assert purchase(client, key, c.barcode, "before-outage").status_code == 201

    server.pause()
    try:
        for _ in range(3):
            down = client.get(
                "/api/v1/pos/me", headers={"Authorization": f"Bearer {key}"}
            )
            assert down.status_code == 503
            assert down.get_json()["error"] == "database_unavailable"
            assert down.headers["Retry-After"].isdigit()
        during = purchase(client, key, c.barcode, "during-outage")
        assert during.status_code == 503
        assert client.get("/readyz").status_code == 503
        assert client.get("/healthz").status_code == 200
        # A page for people gets the friendly error page, not a traceback.
        page = client.get(f"/c/{'x' * 20}")
        assert page.status_code == 503
        assert page.mimetype == "text/html"
    finally:
        server.resume()

    # At most one request may still meet a dropped pooled connection (503);
    # then the pool is replaced and everything works: no app restart.
    first = client.get("/api/v1/pos/me", headers={"Authorization": f"Bearer {key}"})
    assert first.status_code in (200, 503)
    for _ in range(3):
        again = client.get("/api/v1/pos/me", headers={"Authorization": f"Bearer {key}"})
        assert again.status_code == 200
    assert client.get("/readyz").status_code == 200
    # The purchase that failed during the outage is retried with its key: once.
    retried = purchase(client, key, c.barcode, "during-outage")
    assert retried.status_code == 201
    assert retried.headers["Idempotent-Replayed"] == "false"
    assert (
        purchase(client, key, c.barcode, "during-outage").headers["Idempotent-Replayed"]
        == "true"
    )
    with app.app_context():
        assert db.session.scalar(select(func.count(PosTransaction.id))) == 2
    assert_ledger_matches_balances(app)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_terminated_connections_cost_at_most_one_503(
    backend: str, app: Flask, client: FlaskClient, demo: Demo, database_url: str
) -> None:
    """The server kills every connection of the app (failover, restart, admin):
    the app has no pre-ping, so one request may fail with 503; the next work."""
    if backend != "postgresql":
        pytest.skip("pg_terminate_backend is PostgreSQL")
    key = make_key(app)
    headers = {"Authorization": f"Bearer {key}"}
    # Fill the pool with a few connections (threads hold one each).
    with live_server(app) as url:
        for _ in range(3):
            host, port = url.removeprefix("http://").split(":")
            conn = http.client.HTTPConnection(host, int(port), timeout=30)
            conn.request("GET", "/api/v1/pos/me", headers=headers)
            assert conn.getresponse().status == 200
            conn.close()
    database = database_url.rsplit("/", 1)[1]
    admin = create_engine(database_url.rsplit("/", 1)[0] + "/postgres")
    with admin.begin() as conn:
        killed = conn.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": database},
        ).scalar()
    admin.dispose()
    assert killed >= 1
    statuses = [
        client.get("/api/v1/pos/me", headers=headers).status_code for _ in range(4)
    ]
    assert statuses[0] in (200, 503)
    assert statuses[1:] == [200, 200, 200]


# -- POS retries over an unreliable network ------------------------------------


def send_and_hang_up(url: str, key: str, body: dict, idem: str) -> None:
    """Send a purchase and close the connection without reading the answer: the
    till never learns whether it was recorded."""
    host, port = url.removeprefix("http://").split(":")
    payload = json.dumps(body).encode()
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(
            (
                "POST /api/v1/pos/transactions HTTP/1.1\r\n"
                f"Host: {host}\r\nAuthorization: Bearer {key}\r\n"
                f"Idempotency-Key: {idem}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
            ).encode()
            + payload
        )
        sock.shutdown(socket.SHUT_WR)


def test_lost_answers_and_retries_make_one_ledger_entry(app: Flask, demo: Demo) -> None:
    c = card(app, demo.passes[0].member_id)
    key = make_key(app)
    body = {"code": c.barcode, "amount": "1990.00", "receipt_id": "R-77"}
    idem = "retry-after-lost-answer"
    with live_server(app) as url:
        # Three attempts whose answers are lost, then retries that read them.
        for _ in range(3):
            send_and_hang_up(url, key, body, idem)
        host, port = url.removeprefix("http://").split(":")
        answers = []
        for _ in range(3):
            conn = http.client.HTTPConnection(host, int(port), timeout=30)
            conn.request(
                "POST",
                "/api/v1/pos/transactions",
                body=json.dumps(body),
                headers={
                    "Authorization": f"Bearer {key}",
                    "Idempotency-Key": idem,
                    "Content-Type": "application/json",
                },
            )
            response = conn.getresponse()
            answers.append(
                (response.status, response.getheader("Idempotent-Replayed"),
                 json.loads(response.read()))
            )  # fmt: skip
            conn.close()
    assert {status for status, _, _ in answers} == {201}
    # Whichever attempt was first recorded it; every answer read is that one.
    assert {replayed for _, replayed, _ in answers} == {"true"}
    assert len({json.dumps(body, sort_keys=True) for _, _, body in answers}) == 1
    with app.app_context():
        assert db.session.scalar(select(func.count(PosTransaction.id))) == 1
        entries = db.session.scalars(
            select(LedgerEntry.kind).where(LedgerEntry.transaction_id.is_not(None))
        ).all()
        assert entries == ["earn"]
    assert_ledger_matches_balances(app)
