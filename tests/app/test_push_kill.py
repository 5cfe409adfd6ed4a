"""Kill the worker process mid-delivery: after a restart every token gets its push."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from flask import Flask
from sqlalchemy import func, insert, select

from app.config import ROOT
from app.extensions import db
from app.models import Device, Pass, PushDelivery, Registration
from app.models.base import utcnow
from app.services import outbox
from tests.conftest import Demo
from tests.support.apns_server import ApnsStandIn

DEVICES = 3000


def worker_env(pki_dir: Path, database_url: str, apns_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret",
        "PASS_TYPE_IDENTIFIER": "pass.test.wallet.loyalty",
        "TEAM_IDENTIFIER": "TESTTEAM01",
        "PASS_CERT_FILE": str(pki_dir / "pass.pem"),
        "PASS_KEY_FILE": str(pki_dir / "pass.key"),
        "WWDR_CERT_FILE": str(pki_dir / "wwdr.pem"),
        "DEV_CERTS_DIR": str(pki_dir),
        "APNS_URL": apns_url,
        "APNS_CA_FILE": str(pki_dir / "ca.pem"),
        "APNS_AUTH": "certificate",
        # Small batches so that a kill lands mid-way; short leases so that the
        # restarted worker does not wait long for the dead one's rows.
        "PUSH_BATCH_SIZE": "100",
        "PUSH_LEASE_SECONDS": "2",
        "PUSH_POLL_SECONDS": "0.1",
        # At the default WORKER_NICE a busy test machine could hold a worker
        # past its 2 s leases: these tests are about delivery, not priority.
        "WORKER_NICE": "0",
    }


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as stream:
        return subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "worker"],
            cwd=ROOT,
            env=env,
            stdout=stream,
            stderr=subprocess.STDOUT,
        )


def wait_for(condition, what: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120  # a hang guard, not a performance assertion
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"worker exited early:\n{log.read_text()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}:\n{log.read_text()}")
        time.sleep(0.005)


def test_killed_worker_loses_nothing(
    app: Flask,
    demo: Demo,
    pki_dir: Path,
    database_url: str,
    apns: ApnsStandIn,
    tmp_path: Path,
) -> None:
    tokens = [f"{i:064x}" for i in range(1, DEVICES + 1)]
    with app.app_context():
        pass_id = db.session.scalar(
            select(Pass.id).where(Pass.serial_number == demo.passes[0].serial)
        )
        now = utcnow()
        db.session.execute(
            insert(Device),
            [
                {
                    "device_library_identifier": f"kill-device-{i}",
                    "push_token": token,
                    "platform": "apple",
                    "created_at": now,
                    "updated_at": now,
                }
                for i, token in enumerate(tokens)
            ],
        )
        device_ids = db.session.scalars(select(Device.id)).all()
        db.session.execute(
            insert(Registration),
            [
                {"device_id": d, "pass_id": pass_id, "created_at": now}
                for d in device_ids
            ],
        )
        assert outbox.enqueue_for_passes([pass_id]) == DEVICES
        db.session.commit()

    def queued() -> int:
        with app.app_context():
            count = db.session.scalar(
                select(func.count())
                .select_from(PushDelivery)
                .where(PushDelivery.status == "queued")
            )
            db.session.remove()
            return count

    env = worker_env(pki_dir, database_url, apns.url)
    log = tmp_path / "worker.log"
    first = start_worker(env, log)
    wait_for(lambda: len(apns.delivered()) >= 300, "first pushes", first, log)
    first.send_signal(signal.SIGKILL)
    first.wait()
    delivered_before_restart = len(apns.delivered())
    assert delivered_before_restart < DEVICES, "the kill came too late to test"
    assert queued() > 0

    second = start_worker(env, log)
    try:
        wait_for(lambda: queued() == 0, "the outbox to drain", second, log)
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0

    delivered = apns.delivered()
    assert set(delivered) == set(tokens)  # nobody lost
    with app.app_context():
        statuses = db.session.execute(
            select(PushDelivery.status, func.count()).group_by(PushDelivery.status)
        ).all()
    assert statuses == [("sent", DEVICES)]
