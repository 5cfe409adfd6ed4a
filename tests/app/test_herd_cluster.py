"""Beyond one machine: two web processes and two push workers on one PostgreSQL
serve a herd together, and a worker killed (SIGKILL) mid-herd loses nothing.

What they share is only the database and Redis: the outbox (claimed with
`FOR UPDATE SKIP LOCKED`, leased, so a dead worker's rows are taken over when
the lease ends), the signed-pass cache (`signed_pass`, filled by whichever
worker pushes the pass, served by either web process) and the rate-limit
counts (RATELIMIT_STORAGE_URI=redis://).
"""

from __future__ import annotations

import io
import json
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from email.utils import format_datetime
from pathlib import Path

import pytest
import redis
from flask import Flask
from sqlalchemy import func, insert, select, update

from app.config import ROOT
from app.extensions import db
from app.models import (
    Device,
    Member,
    Pass,
    PushDelivery,
    Registration,
    SignedPass,
    SignedPassPart,
)
from app.models.base import utcnow
from app.services.passes import move_changed_passes
from tests.app.test_gunicorn import free_port
from tests.app.test_push_kill import worker_env
from tests.app.test_rate_limit_storage import _gunicorn
from tests.conftest import Demo
from tests.support.apns_server import ApnsStandIn
from tests.support.redis import RedisServer

MEMBERS = 300
OFFER = "Кластер: скидка 15 %"


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.stop()


def herd_members(app: Flask, demo: Demo) -> list[tuple[str, str, str, str]]:
    """MEMBERS members with a pass and one registered phone each: (serial, auth
    token, device id, push token)."""
    now = utcnow().replace(microsecond=0)
    with app.app_context():
        db.session.execute(
            insert(Member),
            [
                {
                    "program_id": demo.program_id,
                    "card_number": f"7{i:011d}",
                    "card_token": f"cluster-card-{i:06d}",
                    "name": f"Cluster {i}",
                    "phone": f"+7902{i:07d}",
                    "language": "ru",
                    "consent_version": "test",
                    "consent_at": now,
                    "points": i,
                    "tier": "silver",
                    "offer": "",
                    "created_at": now,
                }
                for i in range(MEMBERS)
            ],
        )
        member_ids = db.session.scalars(
            select(Member.id).where(Member.card_token.like("cluster-card-%"))
        ).all()
        db.session.execute(
            insert(Pass),
            [
                {
                    "program_id": demo.program_id,
                    "member_id": member_id,
                    "serial_number": f"cluster{member_id:09d}",
                    "authentication_token": f"cluster-auth-{member_id:012d}",
                    "update_tag": 0,
                    "content_hash": "",
                    "updated_at": now,
                    "voided": False,
                    "created_at": now,
                }
                for member_id in member_ids
            ],
        )
        passes_ = db.session.execute(
            select(Pass.id, Pass.serial_number, Pass.authentication_token).where(
                Pass.serial_number.like("cluster%")
            )
        ).all()
        phones = [
            (serial, auth, f"cluster-phone-{pass_id}", f"{pass_id:064x}")
            for pass_id, serial, auth in passes_
        ]
        db.session.execute(
            insert(Device),
            [
                {
                    "device_library_identifier": device,
                    "push_token": token,
                    "platform": "apple",
                    "created_at": now,
                    "updated_at": now,
                }
                for _, _, device, token in phones
            ],
        )
        device_of = dict(
            db.session.execute(
                select(Device.device_library_identifier, Device.id).where(
                    Device.device_library_identifier.like("cluster-phone-%")
                )
            ).all()
        )
        db.session.execute(
            insert(Registration),
            [
                {
                    "device_id": device_of[f"cluster-phone-{pass_id}"],
                    "pass_id": pass_id,
                    "created_at": now,
                }
                for pass_id, _, _ in passes_
            ],
        )
        db.session.commit()
    return phones


def campaign(app: Flask, demo: Demo) -> None:
    """What a campaign does to its members' passes: new offer text, tags moved
    and every phone's push queued (one transaction)."""
    with app.app_context():
        member_ids = db.session.scalars(
            select(Member.id).where(Member.card_token.like("cluster-card-%"))
        ).all()
        db.session.execute(
            update(Member).where(Member.id.in_(member_ids)).values(offer=OFFER)
        )
        moved = move_changed_passes(demo.program_id, member_ids)
        assert len(moved) == MEMBERS
        db.session.commit()


def fetch(url: str, headers: dict[str, str]) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return int(response.status), response.read()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read()


def test_two_web_processes_and_two_workers_serve_a_herd_and_a_kill_loses_nothing(
    app: Flask,
    demo: Demo,
    pki_dir: Path,
    database_url: str,
    apns: ApnsStandIn,
    redis_server: RedisServer,
    tmp_path: Path,
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("several processes on one database need PostgreSQL")
    phones = herd_members(app, demo)
    by_token = {phone[3]: phone for phone in phones}
    ports = [free_port(), free_port()]
    env = {
        **worker_env(pki_dir, database_url, apns.url),
        "SECRET_KEY": "cluster-secret-" + "x" * 32,
        "PASS_TYPE_IDENTIFIER": demo.pass_type,
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{ports[0]}",
        "RATELIMIT_STORAGE_URI": redis_server.url(),
        # Two workers at 60 pushes/s each: the herd lasts a few seconds, so
        # the kill lands in the middle of it.
        "PUSH_RATE_LIMIT": "60",
        "PUSH_BATCH_SIZE": "20",
        "SCHEDULER_SECONDS": "3600",
    }
    webs: list[subprocess.Popen[bytes]] = []
    workers: list[subprocess.Popen[bytes]] = []
    logs = [tmp_path / "worker-a.log", tmp_path / "worker-b.log"]
    try:
        for port in ports:
            webs.append(_gunicorn(env, port))
        # As in docs/operations.md: one worker runs the scheduled jobs too; the
        # one killed below only sends.
        for log, extra in zip(logs, (["--no-scheduler"], []), strict=True):
            with log.open("ab") as stream:
                workers.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "flask", "--app", "wsgi", "worker"]
                        + extra,
                        cwd=ROOT,
                        env=env,
                        stdout=stream,
                        stderr=subprocess.STDOUT,
                    )
                )
        modified_before = format_datetime(utcnow(), usegmt=True)
        time.sleep(1)  # Last-Modified has one-second resolution
        campaign(app, demo)

        # The phones: on each push, list the changed serials on one web process
        # and download the pass from the other (as a load balancer may).
        jobs: queue.Queue[tuple[str, str, str, str] | None] = queue.Queue()
        got: dict[str, bytes] = {}
        statuses: list[int] = []
        lock = threading.Lock()

        def phone() -> None:
            while (job := jobs.get()) is not None:
                serial, auth, device, _ = job
                first, second = ports if int(serial[-1]) % 2 else ports[::-1]
                status, body = fetch(
                    f"http://127.0.0.1:{first}/wallet/v1/devices/{device}"
                    f"/registrations/{demo.pass_type}?passesUpdatedSince=0",
                    {},
                )
                with lock:
                    statuses.append(status)
                if status != 200:
                    continue
                for listed in json.loads(body)["serialNumbers"]:
                    status, data = fetch(
                        f"http://127.0.0.1:{second}/wallet/v1/passes/"
                        f"{demo.pass_type}/{listed}",
                        {
                            "Authorization": f"ApplePass {auth}",
                            "If-Modified-Since": modified_before,
                        },
                    )
                    with lock:
                        statuses.append(status)
                        if status == 200:
                            got[listed] = data

        threads = [threading.Thread(target=phone) for _ in range(8)]
        for thread in threads:
            thread.start()
        seen, killed = 0, False
        deadline = time.monotonic() + 240  # a hang guard, not a timing assertion
        try:
            while len(got) < MEMBERS and time.monotonic() < deadline:
                pushes = list(apns.pushes)
                for push in pushes[seen:]:
                    if push.status == 200 and push.token in by_token:
                        jobs.put(by_token[push.token])  # a second push: fetch again
                seen = len(pushes)
                if not killed and len(apns.delivered()) >= MEMBERS // 4:
                    workers[0].send_signal(signal.SIGKILL)
                    workers[0].wait()
                    killed = True
                    with app.app_context():
                        left = db.session.scalar(
                            select(func.count())
                            .select_from(PushDelivery)
                            .where(PushDelivery.status == "queued")
                        )
                        db.session.remove()
                    assert left, "the kill came too late to test"
                for worker, log in zip(workers[1:], logs[1:], strict=True):
                    assert worker.poll() is None, log.read_text()
                time.sleep(0.02)
        finally:
            for _ in threads:
                jobs.put(None)
            for thread in threads:
                thread.join()
        assert killed

        # Every phone got its push and holds the new pass; nothing failed.
        assert set(apns.delivered()) == set(by_token)
        assert set(got) == {serial for serial, _, _, _ in phones}
        assert not [s for s in statuses if s >= 500 or s == 429], statuses
        for data in got.values():
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                assert OFFER in archive.read("pass.json").decode()
        with app.app_context():
            outbox = db.session.execute(
                select(PushDelivery.status, func.count())
                .join(Pass, Pass.id == PushDelivery.pass_id)
                .where(Pass.serial_number.like("cluster%"))
                .group_by(PushDelivery.status)
            ).all()
            cached = {
                serial: (shared or b"") + own
                for serial, shared, own in db.session.execute(
                    select(Pass.serial_number, SignedPassPart.data, SignedPass.data)
                    .join(SignedPass, SignedPass.pass_id == Pass.id)
                    .outerjoin(
                        SignedPassPart, SignedPassPart.digest == SignedPass.shared
                    )
                    .where(
                        Pass.serial_number.like("cluster%"),
                        SignedPass.update_tag == Pass.update_tag,
                    )
                ).all()
            }
        assert outbox == [("sent", MEMBERS)]
        # The shared cache: each pass's row at its tag (signed by whichever
        # worker pushed it) is what either web process served.
        assert cached == got
        # The limits were counted in the shared store.
        client = redis.Redis.from_url(redis_server.url())
        try:
            assert any(b"cluster-phone-" in key for key in client.keys("*"))
        finally:
            client.close()
    finally:
        for process in [*workers, *webs]:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in workers:
            process.wait(timeout=30)
        outputs = [web.communicate(timeout=30)[0].decode() for web in webs]
    for output in outputs:
        assert "Traceback" not in output, output
