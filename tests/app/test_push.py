"""The push pipeline: outbox rows in the change's transaction, the worker, APNs."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, func, insert, select

from app.extensions import db
from app.models import Device, Member, Pass, PushDelivery, Registration
from app.models.base import utcnow
from app.push.apns import TokenAuth
from app.push.senders import SENT, Outcome, build_senders
from app.push.worker import Settings, Worker
from app.services import outbox
from app.services.passes import refresh_pass
from tests.conftest import Demo, DemoPass
from tests.support.apns_server import ApnsStandIn
from tests.support.push import Relay, drain, push_config, start_apns

TOKENS = [f"{i:02x}" * 32 for i in range(1, 6)]


def register(
    client: FlaskClient,
    demo: Demo,
    p: DemoPass,
    device: str,
    token: str,
    scheme: str = "ApplePass",
) -> None:
    response = client.post(
        f"/wallet/v1/devices/{device}/registrations/{demo.pass_type}/{p.serial}",
        json={"pushToken": token},
        headers={"Authorization": f"{scheme} {p.token}"},
    )
    assert response.status_code in (200, 201)


def add_points(app: Flask, member_id: int, points: int, commit: bool = True) -> None:
    with app.app_context():
        member = db.session.get(Member, member_id)
        member.points += points
        pass_ = db.session.scalar(select(Pass).where(Pass.member_id == member_id))
        assert refresh_pass(pass_)
        if commit:
            db.session.commit()
        else:
            db.session.rollback()


def deliveries(app: Flask) -> list[PushDelivery]:
    with app.app_context():
        rows = list(db.session.scalars(select(PushDelivery).order_by(PushDelivery.id)))
        db.session.expunge_all()
        return rows


# -- the outbox -----------------------------------------------------------------


def test_change_enqueues_in_the_same_transaction(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    p = demo.passes[0]
    register(client, demo, p, "device-one", TOKENS[0])
    add_points(app, p.member_id, 100, commit=False)
    assert deliveries(app) == []  # rolled back with the change
    add_points(app, p.member_id, 100)
    [row] = deliveries(app)
    assert (row.channel, row.status, row.push_token, row.topic) == (
        "apns",
        "queued",
        TOKENS[0],
        demo.pass_type,
    )
    with app.app_context():
        pass_id = db.session.scalar(
            select(Pass.id).where(Pass.serial_number == p.serial)
        )
        assert [d.id for d in outbox.deliveries_for_pass(pass_id)] == [row.id]
        assert outbox.status_counts(pass_id=pass_id)["queued"] == 1


def test_unchanged_content_enqueues_nothing(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    p = demo.passes[0]
    register(client, demo, p, "device-one", TOKENS[0])
    with app.app_context():
        pass_ = db.session.scalar(select(Pass).where(Pass.serial_number == p.serial))
        assert not refresh_pass(pass_)
        db.session.commit()
    assert deliveries(app) == []


def test_one_pending_push_per_token_however_many_changes(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    first, second, third = demo.passes
    # One phone with two cards of the program, another phone with the first card
    # through an Android .pkpass app.
    register(client, demo, first, "phone-a", TOKENS[0])
    register(client, demo, second, "phone-a", TOKENS[0])
    register(client, demo, first, "phone-b", TOKENS[1], scheme="AndroidPass")
    for _ in range(3):
        add_points(app, first.member_id, 10)
        add_points(app, second.member_id, 10)
    add_points(app, third.member_id, 10)  # nobody registered: nothing to send
    rows = deliveries(app)
    assert sorted((r.channel, r.push_token) for r in rows) == [
        ("android", TOKENS[1]),
        ("apns", TOKENS[0]),
    ]
    assert all(r.status == "queued" for r in rows)


def test_campaign_tag_and_counts(app: Flask, client: FlaskClient, demo: Demo) -> None:
    p = demo.passes[0]
    register(client, demo, p, "device-one", TOKENS[0])
    with app.app_context(), outbox.campaign(42):
        member = db.session.get(Member, p.member_id)
        member.offer = "−20% on coats"
        refresh_pass(db.session.scalar(select(Pass).where(Pass.member_id == member.id)))
        db.session.commit()
    with app.app_context():
        [row] = outbox.deliveries_for_campaign(42)
        assert row.campaign_id == 42
        assert outbox.status_counts(campaign_id=42) == {
            "queued": 1,
            "sent": 0,
            "failed": 0,
            "dropped": 0,
        }
        assert outbox.deliveries_for_campaign(7) == []


# -- end to end -----------------------------------------------------------------


def test_end_to_end_balance_change_reaches_the_device(
    app: Flask,
    client: FlaskClient,
    demo: Demo,
    push_app: Flask,
    apns: ApnsStandIn,
) -> None:
    p = demo.passes[0]
    device = "e2e-device-0001"
    register(client, demo, p, device, TOKENS[0])
    listing = client.get(f"/wallet/v1/devices/{device}/registrations/{demo.pass_type}")
    tag = listing.get_json()["lastUpdated"]
    before = client.get(
        f"/wallet/v1/passes/{demo.pass_type}/{p.serial}",
        headers={"Authorization": f"ApplePass {p.token}"},
    )
    drain(push_app)
    assert apns.pushes == []  # registering alone sends nothing

    add_points(app, p.member_id, 250)
    drain(push_app)

    assert [(x.token, x.status) for x in apns.pushes] == [(TOKENS[0], 200)]
    push = apns.pushes[0]
    assert push.topic == demo.pass_type
    assert json.loads(push.body) == {}
    changed = client.get(
        f"/wallet/v1/devices/{device}/registrations/{demo.pass_type}",
        query_string={"passesUpdatedSince": tag},
    )
    assert changed.get_json()["serialNumbers"] == [p.serial]
    after = client.get(
        f"/wallet/v1/passes/{demo.pass_type}/{p.serial}",
        headers={"Authorization": f"ApplePass {p.token}"},
    )
    assert after.status_code == 200

    def points_field(pkpass: bytes) -> dict:
        with zipfile.ZipFile(io.BytesIO(pkpass)) as archive:
            pass_json = json.loads(archive.read("pass.json"))
        return pass_json["storeCard"]["headerFields"][0]

    old, new = points_field(before.data), points_field(after.data)
    assert new["value"] == old["value"] + 250
    assert "%@" in new["changeMessage"]
    [row] = deliveries(app)
    assert (row.status, row.attempts, row.pending_key) == ("sent", 1, None)


def test_token_mode_and_expired_provider_token(
    app: Flask,
    client: FlaskClient,
    demo: Demo,
    pki_dir: Path,
    make_app: Callable[[dict], Flask],
    apns_token: ApnsStandIn,
) -> None:
    token_app = make_app(push_config(pki_dir, apns_token.url, "token"))
    p = demo.passes[0]
    register(client, demo, p, "token-device", TOKENS[0])
    apns_token.answer(TOKENS[0], "403:ExpiredProviderToken")
    add_points(app, p.member_id, 5)
    drain(token_app)
    statuses = [(x.status, x.reason) for x in apns_token.pushes]
    assert statuses == [(403, "ExpiredProviderToken"), (200, None)]
    first, second = (x.headers["authorization"] for x in apns_token.pushes)
    assert first.startswith("bearer ")
    assert first != second
    assert deliveries(app)[0].status == "sent"


def test_certificate_mode_rejects_a_client_without_the_pass_certificate(
    app: Flask,
    client: FlaskClient,
    demo: Demo,
    pki_dir: Path,
    make_app: Callable[[dict], Flask],
    apns: ApnsStandIn,
) -> None:
    # Token credentials against a server that wants the pass certificate: the TLS
    # handshake fails, the row is retried, then recorded as failed with the reason.
    wrong = make_app(
        {**push_config(pki_dir, apns.url, "token"), "PUSH_MAX_ATTEMPTS": "2"}
    )
    register(client, demo, demo.passes[0], "cert-device", TOKENS[0])
    add_points(app, demo.passes[0].member_id, 5)
    drain(wrong)
    [row] = deliveries(app)
    assert row.status == "failed"
    assert row.attempts == 2
    assert "connect failed" in row.last_reason
    assert apns.pushes == []


def test_dead_tokens_are_dropped_with_their_device(
    app: Flask, client: FlaskClient, demo: Demo, push_app: Flask, apns: ApnsStandIn
) -> None:
    first, second, _ = demo.passes
    register(client, demo, first, "dead-410", TOKENS[0])
    register(client, demo, first, "dead-400", TOKENS[1])
    register(client, demo, first, "alive", TOKENS[2])
    register(client, demo, second, "alive", TOKENS[2])
    apns.answer(TOKENS[0], 410)
    apns.answer(TOKENS[1], 400)
    add_points(app, first.member_id, 1)
    drain(push_app)
    by_token = {row.push_token: row for row in deliveries(app)}
    assert by_token[TOKENS[0]].status == "dropped"
    assert by_token[TOKENS[0]].last_reason == "410 Unregistered"
    assert by_token[TOKENS[1]].status == "dropped"
    assert by_token[TOKENS[1]].last_reason == "400 BadDeviceToken"
    assert by_token[TOKENS[2]].status == "sent"
    with app.app_context():
        devices = db.session.scalars(select(Device.device_library_identifier)).all()
        assert devices == ["alive"]
        assert db.session.scalar(select(func.count()).select_from(Registration)) == 2


def test_throttling_and_server_errors_are_retried(
    app: Flask, client: FlaskClient, demo: Demo, push_app: Flask, apns: ApnsStandIn
) -> None:
    p = demo.passes[0]
    for i, token in enumerate(TOKENS[:3]):
        register(client, demo, p, f"retry-{i}", token)
    apns.answer(TOKENS[0], 429, 500)
    apns.answer(TOKENS[1], 503)
    add_points(app, p.member_id, 1)
    stats = drain(push_app)
    assert apns.delivered() == {token: 1 for token in TOKENS[:3]}
    rows = {row.push_token: row for row in deliveries(app)}
    assert {row.status for row in rows.values()} == {"sent"}
    assert rows[TOKENS[0]].attempts == 3
    assert rows[TOKENS[0]].last_reason == "500 InternalServerError"
    assert rows[TOKENS[1]].attempts == 2
    assert rows[TOKENS[1]].last_reason == "503 ServiceUnavailable"
    assert rows[TOKENS[2]].attempts == 1
    assert stats.counters["retried"] == 3


def test_a_lost_connection_is_retried_on_a_new_one(
    app: Flask, client: FlaskClient, demo: Demo, push_app: Flask, apns: ApnsStandIn
) -> None:
    p = demo.passes[0]
    register(client, demo, p, "dropped-connection", TOKENS[0])
    apns.answer(TOKENS[0], "drop", "drop")
    add_points(app, p.member_id, 1)
    drain(push_app)
    assert apns.delivered() == {TOKENS[0]: 1}
    assert apns.connections == 3
    [row] = deliveries(app)
    assert (row.status, row.attempts) == ("sent", 3)
    assert row.last_reason.startswith("connection lost")


def test_attempts_are_bounded_and_the_reason_kept(
    app: Flask, client: FlaskClient, demo: Demo, push_app: Flask, apns: ApnsStandIn
) -> None:
    p = demo.passes[0]
    register(client, demo, p, "always-busy", TOKENS[0])
    apns.answer(TOKENS[0], *[503] * 10)
    add_points(app, p.member_id, 1)
    drain(push_app)
    [row] = deliveries(app)
    assert (row.status, row.attempts, row.pending_key) == ("failed", 5, None)
    assert row.last_reason == "503 ServiceUnavailable"
    assert apns.delivered() == {}
    assert len(apns.pushes) == 5


def test_android_devices_go_through_the_relay(
    app: Flask,
    client: FlaskClient,
    demo: Demo,
    pki_dir: Path,
    make_app: Callable[[dict], Flask],
    apns: ApnsStandIn,
) -> None:
    relay = Relay()
    try:
        relay_app = make_app(
            {
                **push_config(pki_dir, apns.url),
                "WALLETPASSES_PUSH_URL": relay.url,
                "WALLETPASSES_API_KEY": "relay-key",
            },
        )
        p = demo.passes[0]
        register(client, demo, p, "android-1", "android-token-1", "AndroidPass")
        register(client, demo, p, "android-2", "android-token-2", "AndroidPass")
        register(client, demo, p, "iphone", TOKENS[0])
        relay.answers.append(503)  # the first call fails and is retried
        add_points(app, p.member_id, 7)
        drain(relay_app)
    finally:
        relay.stop()
    # One call for the batch (it got 503), then the retries (their jitter may
    # split them into separate calls): every Android token got through.
    first_headers, first_body = relay.requests[0]
    assert first_headers["Authorization"] == "relay-key"
    assert first_body == {
        "passTypeIdentifier": demo.pass_type,
        "pushTokens": ["android-token-1", "android-token-2"],
    }
    retried = sorted(t for _, body in relay.requests[1:] for t in body["pushTokens"])
    assert retried == ["android-token-1", "android-token-2"]
    assert apns.delivered() == {TOKENS[0]: 1}
    rows = deliveries(app)
    assert {(r.channel, r.status) for r in rows} == {
        ("android", "sent"),
        ("apns", "sent"),
    }


@pytest.mark.parametrize("connections", [None, "1"])
def test_pushes_are_pipelined_over_the_configured_connections(
    app: Flask,
    client: FlaskClient,
    demo: Demo,
    pki_dir: Path,
    make_app: Callable[[dict], Flask],
    connections: str | None,
) -> None:
    # The stand-in answers each request after 50 ms, like a network round trip:
    # a sender that awaited each answer would never have two requests open.
    # APNS_CONNECTIONS is 2 unless set (docs/operations.md).
    apns = start_apns(pki_dir, "certificate", delay=0.05)
    try:
        p = demo.passes[0]
        with app.app_context():
            pass_id = db.session.scalar(
                select(Pass.id).where(Pass.serial_number == p.serial)
            )
            db.session.execute(
                insert(Device),
                [
                    {
                        "device_library_identifier": f"pipelined-{i}",
                        "push_token": f"{i + 1:064x}",
                        "platform": "apple",
                        "created_at": utcnow(),
                        "updated_at": utcnow(),
                    }
                    for i in range(300)
                ],
            )
            db.session.execute(
                insert(Registration),
                [
                    {"device_id": d, "pass_id": pass_id, "created_at": utcnow()}
                    for d in db.session.scalars(select(Device.id))
                ],
            )
            db.session.commit()
        add_points(app, p.member_id, 1)
        config = push_config(pki_dir, apns.url)
        if connections is not None:
            config["APNS_CONNECTIONS"] = connections
        drain(make_app(config))
    finally:
        apns.stop()
    assert len(apns.delivered()) == 300
    assert apns.connections == (2 if connections is None else 1)
    assert apns.max_open_requests > 100


# -- the worker's bookkeeping ---------------------------------------------------


def test_a_change_during_sending_is_sent_again(
    app: Flask, client: FlaskClient, demo: Demo, push_app: Flask
) -> None:
    p = demo.passes[0]
    register(client, demo, p, "busy-device", TOKENS[0])
    add_points(app, p.member_id, 1)
    with push_app.app_context():
        worker = Worker(db.engine, build_senders(push_app.config))
        [job] = worker.claim(10)
        add_points(app, p.member_id, 1)  # commits while the push is "in flight"
        worker.record([job], [Outcome(SENT)])
        [again] = worker.claim(10)
    assert again.id == job.id
    assert again.generation == job.generation + 1
    assert deliveries(app)[0].status == "queued"


def test_leases_keep_rows_apart_and_expire(
    app: Flask, client: FlaskClient, demo: Demo, push_app: Flask
) -> None:
    p = demo.passes[0]
    for i in range(6):
        register(client, demo, p, f"lease-{i}", f"{i + 1:064x}")
    add_points(app, p.member_id, 1)
    with push_app.app_context():
        senders = build_senders(push_app.config)
        # A worker that dies right after claiming: its leases run out...
        dead = Worker(db.engine, senders, Settings(lease_seconds=0), owner="dead")
        lost = dead.claim(100)
        assert len(lost) == 6
        # ...and the rows are claimed again, by one worker at a time.
        a = Worker(db.engine, senders, owner="a")
        b = Worker(db.engine, senders, owner="b")
        first, second = a.claim(4), b.claim(100)
        assert len(first) == 4
        assert len(second) == 2
        assert not {j.id for j in first} & {j.id for j in second}
        assert b.claim(100) == []  # everything is leased
        # A late answer from the dead worker does not touch rows leased by others.
        dead.record(lost, [Outcome(SENT)] * 6)
        assert {r.status for r in deliveries(app)} == {"queued"}
        a.record(first, [Outcome(SENT)] * 4)
    assert sorted(r.status for r in deliveries(app)) == ["queued"] * 2 + ["sent"] * 4


def test_skip_locked_on_postgresql(
    app: Flask, client: FlaskClient, demo: Demo, push_app: Flask, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("FOR UPDATE SKIP LOCKED is PostgreSQL's")
    p = demo.passes[0]
    for i in range(4):
        register(client, demo, p, f"locked-{i}", f"{i + 1:064x}")
    add_points(app, p.member_id, 1)
    table = PushDelivery.__table__
    with push_app.app_context():
        url = db.engine.url
        # Another worker in the middle of its claim holds a row lock on two rows.
        holder = create_engine(url)
        # A claim that waited for the lock instead of skipping would fail here.
        claimer = create_engine(url, connect_args={"options": "-c lock_timeout=5000"})
        try:
            with holder.begin() as conn:
                locked = (
                    conn.execute(
                        select(table.c.id)
                        .order_by(table.c.id)
                        .limit(2)
                        .with_for_update()
                    )
                    .scalars()
                    .all()
                )
                worker = Worker(claimer, build_senders(push_app.config))
                jobs = worker.claim(100)
            assert len(jobs) == 2
            assert not {j.id for j in jobs} & set(locked)
        finally:
            holder.dispose()
            claimer.dispose()


def test_provider_token_is_reused_then_renewed(pki_dir: Path) -> None:
    now = [1_000_000.0]
    auth = TokenAuth(
        (pki_dir / "apns.p8").read_bytes(),
        "KEYID12345",
        "TESTTEAM01",
        clock=lambda: now[0],
    )
    first = auth.header()
    now[0] += 49 * 60
    assert auth.header() == first  # reused: Apple throttles refreshes under 20 min
    auth.renew("bearer some-older-token")
    assert auth.header() == first  # only the token APNs rejected is replaced
    now[0] += 60
    second = auth.header()
    assert second != first  # 50 minutes old: renewed before Apple's 60
    claims = jwt.decode(
        second.removeprefix("bearer "),
        serialization.load_pem_private_key(
            (pki_dir / "apns.p8").read_bytes(), None
        ).public_key(),
        algorithms=["ES256"],
    )
    assert claims == {"iss": "TESTTEAM01", "iat": int(now[0])}
    assert (
        jwt.get_unverified_header(second.removeprefix("bearer "))["kid"] == "KEYID12345"
    )
    with pytest.raises(ValueError, match="20 to 60 minutes"):
        TokenAuth(b"", "KEYID12345", "TESTTEAM01", lifetime=10 * 60)


def test_other_channels_use_the_same_outbox(app: Flask, demo: Demo) -> None:
    """E.g. the Google work: its own channel and sender, same leases and records."""

    class Recorder:
        channel = "other"

        def __init__(self) -> None:
            self.jobs: list = []

        async def send(self, jobs: list) -> list[Outcome]:
            self.jobs.extend(jobs)
            return [Outcome(SENT)] * len(jobs)

        async def close(self) -> None:
            return None

    with app.app_context():
        pass_id = db.session.scalar(
            select(Pass.id).where(Pass.serial_number == demo.passes[0].serial)
        )
        with outbox.campaign(9):
            for _ in range(3):  # coalesced into one queued row
                outbox.enqueue("other", "class-1", "object-1", pass_id=pass_id)
        db.session.commit()
        recorder = Recorder()
        worker = Worker(db.engine, {"other": recorder})
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, worker.run(until_idle=True)).result()
        [job] = recorder.jobs
        assert (job.channel, job.topic, job.token, job.pass_id) == (
            "other",
            "class-1",
            "object-1",
            pass_id,
        )
        assert outbox.status_counts(campaign_id=9)["sent"] == 1
