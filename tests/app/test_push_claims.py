"""Claims and records of the push outbox, and the batch sender (issue 18)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import event, insert, select, text, update

from app.extensions import db
from app.models import PushDelivery
from app.models.base import utcnow
from app.push import senders as s
from app.push.apns import ApnsClient, ApnsResult, client_ssl_context
from app.push.worker import Worker
from tests.support.apns_server import ApnsStandIn
from tests.support.push import TOPIC

T = PushDelivery.__table__


def queue(count: int) -> None:
    now = utcnow()
    db.session.execute(
        insert(T),
        [
            {
                "channel": "apns",
                "status": "queued",
                "topic": TOPIC,
                "push_token": f"{i + 1:064x}",
                "pending_key": f"apns:{TOPIC}:{i + 1:064x}",
                "generation": 0,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
                "updated_at": now,
            }
            for i in range(count)
        ],
    )
    db.session.commit()


def test_the_due_index_holds_only_queued_rows(app: Flask) -> None:
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            definition = db.session.scalar(
                text(
                    "SELECT indexdef FROM pg_indexes "
                    "WHERE indexname = 'ix_push_delivery_due'"
                )
            )
            options = db.session.scalar(
                text("SELECT reloptions FROM pg_class WHERE relname = 'push_delivery'")
            )
            # Room on each page: a claim's lease update is a HOT update.
            assert options == ["fillfactor=50"]
        else:
            definition = db.session.scalar(
                text(
                    "SELECT sql FROM sqlite_master WHERE name = 'ix_push_delivery_due'"
                )
            )
        assert definition is not None
        assert "next_attempt_at, id" in definition
        assert "WHERE" in definition
        assert "queued" in definition


def test_a_batch_is_recorded_in_one_statement_unless_a_generation_moved(
    app: Flask,
) -> None:
    with app.app_context():
        queue(10)
        worker = Worker(db.engine, {"apns": None})  # type: ignore[dict-item]
        jobs = worker.claim(100)
        assert len(jobs) == 10
        updates: list[str] = []

        def seen(*args: Any) -> None:
            if args[2].lstrip().upper().startswith("UPDATE"):
                updates.append(args[2])

        event.listen(db.engine, "before_cursor_execute", seen)
        try:
            worker.record(jobs, [s.Outcome(s.SENT)] * len(jobs))
            assert len(updates) == 1
            statuses = db.session.scalars(select(T.c.status)).all()
            assert set(statuses) == {"sent"}

            # A change while sending (generation moved): that row stays queued.
            db.session.execute(update(T).values(status="queued", pending_key=None))
            db.session.commit()
            jobs = worker.claim(100)
            moved = jobs[3].id
            db.session.execute(
                update(T).where(T.c.id == moved).values(generation=T.c.generation + 1)
            )
            db.session.commit()
            updates.clear()
            worker.record(jobs, [s.Outcome(s.SENT)] * len(jobs))
            assert len(updates) == 2
        finally:
            event.remove(db.engine, "before_cursor_execute", seen)
        rows = dict(db.session.execute(select(T.c.id, T.c.status)).all())
        assert rows.pop(moved) == "queued"
        assert set(rows.values()) == {"sent"}
        assert worker.claim(100)[0].id == moved  # and goes out again


def test_send_many_answers_each_push_in_order(pki_dir: Path, apns: ApnsStandIn) -> None:
    tokens = [f"{i:064x}" for i in range(1, 601)]
    apns.answer(tokens[1], 410)
    apns.answer(tokens[300], 429)
    apns.answer(tokens[599], "400:BadDeviceToken")

    async def scenario() -> list[ApnsResult]:
        context = client_ssl_context(
            str(pki_dir / "ca.pem"),
            str(pki_dir / "pass.pem"),
            str(pki_dir / "pass.key"),
        )
        # More pushes than the two connections' streams: the rest wait for slots.
        client = ApnsClient(apns.url, context, connections=2, streams=100)
        try:
            return await client.send_many([(t, TOPIC) for t in tokens])
        finally:
            await client.close()

    with ThreadPoolExecutor(1) as pool:
        results = pool.submit(asyncio.run, scenario()).result()
    statuses = [r.status for r in results]
    assert statuses[1] == 410
    assert statuses[300] == 429
    assert (statuses[599], results[599].reason) == (400, "BadDeviceToken")
    assert statuses.count(200) == 597
    assert apns.delivered() == {
        t: 1 for i, t in enumerate(tokens) if i not in (1, 300, 599)
    }
    assert apns.connections == 2
