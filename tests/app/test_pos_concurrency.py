"""Real concurrent requests against a threaded server, on PostgreSQL (row locks) and
SQLite (writers serialised): no lost or doubled points, one purchase per
Idempotency-Key, one refund per purchase."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from app.extensions import db
from app.models import LedgerEntry, PosTransaction
from tests.app.pos_support import (
    assert_ledger_matches_balances,
    balance,
    card,
    make_key,
)
from tests.conftest import Demo
from tests.support.liveserver import live_server


@pytest.fixture
def server(app: Flask) -> Iterator[str]:
    """The app on a threaded server: PostgreSQL row locks, SQLite BEGIN IMMEDIATE."""
    with live_server(app) as url:
        yield url


def used_key(app: Flask, server: str, store_code: str = "msk-atrium") -> str:
    """A key already used once, so that its last_used_at write (rare, throttled)
    does not serialise the requests under test."""
    key = make_key(app, store_code=store_code)
    request = urllib.request.Request(
        f"{server}/api/v1/pos/me", headers={"Authorization": f"Bearer {key}"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status == 200
    return key


def call(url: str, key: str, body: dict[str, Any], idem: str | None = None):
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    if idem:
        headers["Idempotency-Key"] = idem
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def all_at_once(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run work(i) in `count` threads released together."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(i: int) -> None:
        barrier.wait()
        results[i] = work(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_tills_on_the_same_card_never_lose_or_double_points(
    app: Flask, demo: Demo, server: str
) -> None:
    c = card(app, demo.passes[0].member_id)
    keys = [used_key(app, server, code) for code in ("msk-atrium", "spb-nevsky")]
    url = f"{server}/api/v1/pos/transactions"

    def till(i: int) -> list[tuple[int, dict[str, Any]]]:
        body = {"code": c.barcode, "amount": "1000", "receipt_id": f"T{i}"}
        return [
            call(url, keys[i % 2], {**body, "redeem_points": 10}, str(uuid.uuid4()))
            for _ in range(6)
        ]

    results = [r for batch in all_at_once(8, till) for r in batch]
    assert all(status == 201 for status, _ in results), results
    net = sum(body["earned"] - body["redeemed"] for _, body in results)
    assert balance(app, c.member_id) == 100 + net
    # Serialised by the row lock: every purchase saw a different balance.
    assert len({body["balance"] for _, body in results}) == len(results)
    with app.app_context():
        assert db.session.scalar(select(func.count(PosTransaction.id))) == 48
    assert_ledger_matches_balances(app)


def test_one_idempotency_key_sent_at_once_makes_one_purchase(
    app: Flask, demo: Demo, server: str
) -> None:
    c = card(app, demo.passes[0].member_id)
    key = used_key(app, server)
    body = {"code": c.barcode, "amount": "2500", "receipt_id": "R", "redeem_points": 50}
    url = f"{server}/api/v1/pos/transactions"
    results = all_at_once(10, lambda i: call(url, key, body, "same-key-for-all-10"))
    assert {status for status, _ in results} == {201}
    assert len({json.dumps(body, sort_keys=True) for _, body in results}) == 1
    with app.app_context():
        assert db.session.scalar(select(func.count(PosTransaction.id))) == 1
        kinds = db.session.scalars(
            select(LedgerEntry.kind).where(LedgerEntry.transaction_id.is_not(None))
        ).all()
        assert sorted(kinds) == ["earn", "redeem"]
    assert balance(app, c.member_id) == 100 - 50 + 73
    assert_ledger_matches_balances(app)


def test_one_key_for_two_cards_at_once_keeps_the_first(
    app: Flask, demo: Demo, server: str
) -> None:
    cards = [card(app, p.member_id) for p in demo.passes[:2]]
    key = used_key(app, server)
    url = f"{server}/api/v1/pos/transactions"

    def send(i: int) -> tuple[int, dict[str, Any]]:
        body = {"code": cards[i % 2].barcode, "amount": "100", "receipt_id": "R"}
        return call(url, key, body, "one-key-two-cards")

    results = all_at_once(6, send)
    statuses = sorted(status for status, _ in results)
    winners = {body["card_number"] for status, body in results if status == 201}
    assert len(winners) == 1
    assert set(statuses) <= {201, 422}
    assert statuses.count(201) == 3  # the winner's three copies replay
    with app.app_context():
        assert db.session.scalar(select(func.count(PosTransaction.id))) == 1
    assert_ledger_matches_balances(app)


def test_concurrent_refunds_reverse_once(app: Flask, demo: Demo, server: str) -> None:
    c = card(app, demo.passes[0].member_id)
    key = used_key(app, server)
    status, sale = call(
        f"{server}/api/v1/pos/transactions",
        key,
        {"code": c.barcode, "amount": "1000", "receipt_id": "R", "redeem_points": 100},
        "refund-race-sale",
    )
    assert status == 201
    url = f"{server}/api/v1/pos/transactions/{sale['transaction_id']}/refund"
    results = all_at_once(8, lambda i: call(url, key, {}))
    assert {status for status, _ in results} == {200}
    assert len({json.dumps(body, sort_keys=True) for _, body in results}) == 1
    assert balance(app, c.member_id) == 100
    with app.app_context():
        refunds = db.session.scalar(
            select(func.count(LedgerEntry.id)).where(LedgerEntry.kind == "refund")
        )
        assert refunds == 2
    assert_ledger_matches_balances(app)


def test_concurrent_redemptions_never_overdraw(
    app: Flask, demo: Demo, server: str
) -> None:
    c = card(app, demo.passes[0].member_id)
    key = used_key(app, server)
    url = f"{server}/api/v1/pos/transactions"
    body = {
        "code": c.barcode,
        "amount": "1000",
        "receipt_id": "R",
        "redeem_points": 100,
    }
    results = all_at_once(
        10,
        lambda i: call(url, key, {**body, "receipt_id": f"R{i}"}, f"overdraw-{i:04d}"),
    )
    statuses = sorted(status for status, _ in results)
    assert statuses == [201] + [422] * 9, results
    assert {b["error"] for s, b in results if s == 422} == {"insufficient_points"}
    assert balance(app, c.member_id) == 27  # 100 - 100 + 3 % of 900
    assert_ledger_matches_balances(app)


def sell_while_held(
    app: Flask, server: str, member_id: int, hold: str, params: dict[str, Any]
) -> tuple[list[str], tuple[int, dict[str, Any]]]:
    """One purchase on the member's card while another transaction holds the
    lock `hold` takes (PostgreSQL): the statements the purchase waited in for
    a lock (empty if it never waited; watched until it answers or waits),
    and its answer, once the holder let go."""
    import time

    from sqlalchemy import text

    key = used_key(app, server)
    code = card(app, member_id).barcode
    with app.app_context():
        engine = db.engine
    waiting = text("SELECT query FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
    answer: list[tuple[int, dict[str, Any]]] = []
    with engine.connect() as holder, engine.connect() as watcher:
        holder.execute(text(hold), params)
        till = threading.Thread(
            target=lambda: answer.append(
                call(
                    f"{server}/api/v1/pos/transactions",
                    key,
                    {"code": code, "amount": "1000", "receipt_id": "H1"},
                    idem=str(uuid.uuid4()),
                )
            )
        )
        till.start()
        waited: list[str] = []
        while till.is_alive() and not waited:
            waited = [query.strip() for query in watcher.execute(waiting).scalars()]
            watcher.rollback()
            time.sleep(0.02)
        holder.rollback()  # lets a till that waited finish
        till.join()
    assert answer, "the till did not answer"
    return waited, answer[0]


def test_a_purchase_does_not_wait_for_rows_that_only_refer_to_its_member(
    app: Flask, demo: Demo, server: str
) -> None:
    """A campaign batch first writes rows that refer to its members (messages,
    offers, results: their foreign keys take KEY SHARE locks on the member
    rows) and sets the members' offer fields last. The till locks its card's
    member FOR NO KEY UPDATE, which does not conflict with KEY SHARE: it goes
    on at once instead of waiting for the batch to commit (PostgreSQL)."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("row locks are PostgreSQL's (SQLite serialises writers)")
    member_id = demo.passes[0].member_id
    waited, (status, body) = sell_while_held(
        app,
        server,
        member_id,
        "SELECT id FROM member WHERE id = :id FOR KEY SHARE",
        {"id": member_id},
    )
    assert waited == [], "the till waited for a lock on its member"
    assert status == 201, body


def test_a_purchase_takes_its_programs_tag_only_at_commit(
    app: Flask, demo: Demo, server: str
) -> None:
    """Every purchase that changes a pass takes its program's next tag, whose
    row lock is held until commit. On PostgreSQL the purchase's statement only
    records the change (PassChange) and the database applies it at COMMIT, so
    the lock is never held across a round trip to the till's thread: with the
    tag row held elsewhere, the purchase waits in its COMMIT, not before. Then
    the pass has the program's newest tag and its phone a push."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("the commit-time change is PostgreSQL's (SQLite: in steps)")
    from app.models import Member, Pass, PassChange, PushDelivery
    from app.models.push import QUEUED
    from app.services.passes import last_update_tag, next_update_tag
    from tests.app.campaign_support import register_device

    member_id = demo.passes[0].member_id
    with app.app_context():
        token = register_device(db.session.get(Member, member_id)).push_token
        next_update_tag(demo.program_id)  # the program's tag row exists
        db.session.commit()
    waited, (status, body) = sell_while_held(
        app,
        server,
        member_id,
        "SELECT 1 FROM program_tag WHERE program_id = :id FOR UPDATE",
        {"id": demo.program_id},
    )
    assert waited == ["COMMIT"], waited
    assert status == 201, body
    with app.app_context():
        pass_ = db.session.scalar(select(Pass).where(Pass.member_id == member_id))
        assert pass_.update_tag == last_update_tag(demo.program_id)
        assert db.session.scalar(select(func.count()).select_from(PassChange)) == 0
        queued = db.session.scalars(
            select(PushDelivery.push_token).where(
                PushDelivery.pass_id == pass_.id, PushDelivery.status == QUEUED
            )
        )
        assert list(queued) == [token]
