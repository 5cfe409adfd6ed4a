"""`flask worker --processes N`: forked delivery processes share the outbox."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, insert, select

from app.config import ROOT
from app.extensions import db
from app.models import Device, Pass, PushDelivery, Registration
from app.models.base import utcnow
from app.services import outbox
from tests.app.test_push_kill import worker_env
from tests.conftest import Demo
from tests.support.apns_server import ApnsStandIn

DEVICES = 2000


def queue_pushes(app: Flask, demo: Demo) -> list[str]:
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
                    "device_library_identifier": f"proc-device-{i}",
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
    return tokens


def run_worker(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "worker", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,  # a hang guard, not a performance assertion
        check=False,
    )


def test_two_delivery_processes_send_every_push_once(
    app: Flask,
    demo: Demo,
    pki_dir: Path,
    database_url: str,
    apns: ApnsStandIn,
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("several delivery processes need PostgreSQL")
    tokens = queue_pushes(app, demo)
    # No process dies here: a lease must not run out while its batch waits its
    # turn on a busy machine (the kill tests' 2 s lease did at load average ~15,
    # and the other process then rightly sent those pushes again).
    env = {**worker_env(pki_dir, database_url, apns.url), "PUSH_LEASE_SECONDS": "600"}
    done = run_worker(env, "--until-idle", "--processes", "2")
    assert done.returncode == 0, done.stderr
    owners = set(re.findall(r"push worker (\S+) started", done.stderr))
    assert len(owners) == 2, done.stderr
    delivered = apns.delivered()
    assert set(delivered) == set(tokens)
    assert set(delivered.values()) == {1}  # none sent twice
    with app.app_context():
        statuses = db.session.execute(
            select(PushDelivery.status, func.count()).group_by(PushDelivery.status)
        ).all()
    assert statuses == [("sent", DEVICES)]


def test_several_processes_on_sqlite_are_refused(
    app: Flask, pki_dir: Path, database_url: str, apns: ApnsStandIn
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite only")
    env = worker_env(pki_dir, database_url, apns.url)
    refused = run_worker(env, "--until-idle", "--processes", "2")
    assert refused.returncode != 0
    assert "--processes needs PostgreSQL" in refused.stderr


@pytest.mark.parametrize(("setting", "added"), [(None, 10), ("3", 3), ("0", 0)])
def test_the_worker_lowers_its_own_cpu_priority(
    app: Flask,
    pki_dir: Path,
    database_url: str,
    apns: ApnsStandIn,
    setting: str | None,
    added: int,
) -> None:
    """WORKER_NICE (default 10): signing and pushing yield the cores to the
    tills; every delivery process runs at the lowered priority."""
    env = worker_env(pki_dir, database_url, apns.url)
    env.pop("WORKER_NICE", None)
    if setting is not None:
        env["WORKER_NICE"] = setting
    processes = "2" if database_url.startswith("postgresql") else "1"
    done = run_worker(env, "--until-idle", "--processes", processes)
    assert done.returncode == 0, done.stderr
    expected = min(19, os.nice(0) + added)
    niceness = re.findall(
        r"push worker \S+ started \(channels \S+, nice (-?\d+)\)", done.stderr
    )
    assert niceness == [str(expected)] * int(processes), done.stderr


def test_the_scheduler_keeps_the_normal_priority(
    app: Flask, pki_dir: Path, database_url: str, apns: ApnsStandIn
) -> None:
    """Only signing and pushing yield the cores (WORKER_NICE): the scheduler's
    jobs hold rows the tills need while they write (a campaign's batch), so
    they must not wait for the CPU behind the tills while holding them."""
    import signal
    import time

    env = worker_env(pki_dir, database_url, apns.url)
    env.pop("WORKER_NICE", None)
    env["SCHEDULER_SECONDS"] = "3600"
    worker = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "worker"],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen = ""
    try:
        deadline = time.monotonic() + 120  # a hang guard, not a timing assertion
        assert worker.stderr is not None
        while time.monotonic() < deadline and not (
            "scheduler started" in seen and "push worker" in seen
        ):
            line = worker.stderr.readline()
            if not line:
                break
            seen += line
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.communicate(timeout=60)
    base = os.nice(0)
    assert re.search(rf"scheduler started \(every 3600s, nice {base}\)", seen), seen
    assert re.search(
        rf"push worker \S+ started \(channels \S+, nice {min(19, base + 10)}\)", seen
    ), seen
