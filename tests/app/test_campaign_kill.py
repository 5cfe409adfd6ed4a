"""Kill the worker (SIGKILL) at random points while its scheduler sends a campaign
and its push loop delivers it; after restarts every member is messaged exactly
once, every pass moved exactly once, and every device was pushed."""

from __future__ import annotations

import random
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from flask import Flask
from sqlalchemy import func, insert, select

from app.extensions import db
from app.i18n import day_month
from app.models import (
    Campaign,
    Device,
    Member,
    MemberMessage,
    Pass,
    Program,
    PushDelivery,
    Registration,
)
from app.models.base import utcnow
from app.services import campaigns
from app.services.passes import last_update_tag
from tests.app.marketing_support import never_quiet
from tests.app.test_push_kill import start_worker, worker_env
from tests.conftest import Demo
from tests.support.apns_server import ApnsStandIn

MEMBERS = 1500  # plus the demo's three
BATCH = 40  # members per campaign batch (transaction)
PUSH_BATCH = 50
IN_FLIGHT = 3  # the worker's default batches in flight
KILLS_SENDING, KILLS_DELIVERING = 3, 1


def populate(program: Program) -> list[str]:
    """MEMBERS members with passes; every second pass on a device: the tokens."""
    now = utcnow()
    db.session.execute(
        insert(Member),
        [
            {
                "program_id": program.id,
                "card_number": f"5{i:011d}",
                "card_token": f"kill-card-{i}",
                "name": f"Member {i}",
                "phone": f"+7955{i:07d}",
                "language": "en" if i % 3 == 0 else "ru",
                "consent_version": "test",
                "consent_at": now,
                "offer": "",
                "tier": "silver",
                "created_at": now,
            }
            for i in range(MEMBERS)
        ],
    )
    ids = db.session.scalars(
        select(Member.id).where(Member.card_token.startswith("kill-card-"))
    ).all()
    db.session.execute(
        insert(Pass),
        [
            {
                "program_id": program.id,
                "member_id": member_id,
                "serial_number": f"kill-{member_id}",
                "authentication_token": f"token-{member_id:020d}",
                "update_tag": 0,
                "content_hash": "",
                "updated_at": now,
                "voided": False,
                "created_at": now,
            }
            for member_id in ids
        ],
    )
    pass_ids = db.session.scalars(
        select(Pass.id).where(Pass.serial_number.startswith("kill-")).order_by(Pass.id)
    ).all()[::2]
    tokens = [f"{pass_id:064x}" for pass_id in pass_ids]
    db.session.execute(
        insert(Device),
        [
            {
                "device_library_identifier": f"kill-device-{pass_id}",
                "push_token": token,
                "platform": "apple",
                "created_at": now,
                "updated_at": now,
            }
            for pass_id, token in zip(pass_ids, tokens, strict=True)
        ],
    )
    devices = dict(
        db.session.execute(select(Device.push_token, Device.id)).tuples().all()
    )
    db.session.execute(
        insert(Registration),
        [
            {"device_id": devices[token], "pass_id": pass_id, "created_at": now}
            for pass_id, token in zip(pass_ids, tokens, strict=True)
        ],
    )
    return tokens


# What the push worker logs once its signal handlers are installed.
STARTED = " started (channels "


def wait_until(
    condition: Callable[[], bool], proc: subprocess.Popen[bytes], log: Path
) -> None:
    deadline = time.monotonic() + 120  # a hang guard, not a performance assertion
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"worker exited early:\n{log.read_text()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting:\n{log.read_text()[-3000:]}")
        time.sleep(0.02)


def test_killed_worker_sends_a_campaign_exactly_once(
    app: Flask,
    demo: Demo,
    pki_dir: Path,
    database_url: str,
    apns: ApnsStandIn,
    tmp_path: Path,
) -> None:
    never_quiet(app, demo.program_id)
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        tokens = populate(program)
        campaign = campaigns.create(
            program,
            {
                "texts": {"ru": "Распродажа", "en": "Sale"},
                "segment": {"all": {}},
                "state": "scheduled",
                "holdout_percent": 0,  # every member is messaged exactly once
            },
            None,
        )
        db.session.commit()
        campaign_id = campaign.id
        tag_before = last_update_tag(program.id)
        passes_count = db.session.scalar(select(func.count()).select_from(Pass))
        members = set(db.session.scalars(select(Member.id)))

        engine = db.engine

    def scalar(query) -> int:  # type: ignore[no-untyped-def]
        # A plain connection: polling stays cheap on a loaded machine.
        with engine.connect() as conn:
            return conn.scalar(query)

    messaged = (
        select(func.count())
        .select_from(MemberMessage)
        .where(MemberMessage.campaign_id == campaign_id)
    )
    queued = (
        select(func.count())
        .select_from(PushDelivery)
        .where(PushDelivery.status == "queued")
    )
    state = select(Campaign.state).where(Campaign.id == campaign_id)

    env = {
        **worker_env(pki_dir, database_url, apns.url),
        "SCHEDULER_SECONDS": "0.1",
        "CAMPAIGN_BATCH_SIZE": str(BATCH),
        "PUSH_BATCH_SIZE": str(PUSH_BATCH),
    }
    log = tmp_path / "worker.log"
    seed = random.randrange(1_000_000)
    rng = random.Random(seed)
    # Random kill points: members messaged while sending, then pushes delivered.
    sending = sorted(
        [
            rng.randrange(1, len(members) // 3),
            *rng.sample(range(1, len(members) - BATCH), KILLS_SENDING - 1),
        ]
    )
    delivering = sorted(
        rng.sample(range(1, len(tokens) - PUSH_BATCH), KILLS_DELIVERING)
    )
    kills: list[tuple[str, int]] = []
    for point in sending:
        worker = start_worker(env, log)
        wait_until(lambda p=point: scalar(messaged) >= p, worker, log)
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        kills.append(("messaged", scalar(messaged)))
    for point in delivering:
        worker = start_worker(env, log)
        wait_until(lambda p=point: len(apns.delivered()) >= p, worker, log)
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        kills.append(("delivered", len(apns.delivered())))
    # At least one kill landed mid-campaign (else this test would prove nothing).
    assert any(what == "messaged" and n < len(members) for what, n in kills), (
        seed,
        kills,
    )

    starts = log.read_text().count(STARTED)
    last = start_worker(env, log)
    try:
        # Also wait for it to be up: a SIGTERM before its handler is installed
        # (the work may all be done already) would kill it instead of stopping it.
        wait_until(
            lambda: (
                scalar(state) == "done"
                and scalar(queued) == 0
                and log.read_text().count(STARTED) > starts
            ),
            last,
            log,
        )
    finally:
        last.send_signal(signal.SIGTERM)
        assert last.wait(timeout=30) == 0

    context = f"seed {seed}, kills {kills}"
    with app.app_context():
        # Every member messaged exactly once (one row each, all of them).
        per_member = db.session.execute(
            select(MemberMessage.member_id, func.count())
            .where(MemberMessage.campaign_id == campaign_id)
            .group_by(MemberMessage.member_id)
        ).all()
        assert {m for m, _ in per_member} == members, context
        assert all(n == 1 for _, n in per_member), context
        assert db.session.get(Campaign, campaign_id).targeted == len(members)
        # Every pass moved exactly once: one fresh tag each, and the campaign text.
        program = db.session.get(Program, demo.program_id)
        assert last_update_tag(program.id) - tag_before == passes_count, context
        day = utcnow().date()
        offers = set(db.session.scalars(select(Member.offer)))
        ru, en = day_month(day, "ru"), day_month(day, "en")
        assert offers == {f"Распродажа · {ru}", f"Sale · {en}"}, context
        # One outbox row per device, all sent.
        statuses = db.session.execute(
            select(PushDelivery.status, func.count()).group_by(PushDelivery.status)
        ).all()
        assert statuses == [("sent", len(tokens))], context
    delivered = apns.delivered()
    assert set(delivered) == set(tokens), context  # nobody lost
    # At-least-once delivery: only pushes in flight when a worker died (claimed,
    # answered, not yet recorded) go out a second time.
    repeated = sum(delivered.values()) - len(tokens)
    assert repeated <= len(kills) * PUSH_BATCH * IN_FLIGHT, context
