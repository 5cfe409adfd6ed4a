"""Paced pushes yield to the tills (issue 18, "the POS bar still met while a
herd is running"): the worker reads the tills' purchases per second from the
database it shares with them and slows the herd in proportion (both databases).
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
from flask import Flask

from app.extensions import db
from app.models import Program
from app.push.worker import Pacer, Settings, TillWatch, Worker, till_share
from tests.app.campaign_support import add_member, buy, pos_key
from tests.conftest import Demo


def test_the_herd_gets_what_the_tills_leave() -> None:
    assert till_share(0, 300, 0.05) == 1.0
    assert till_share(150, 300, 0.05) == 0.5
    assert till_share(270, 300, 0.05) == pytest.approx(0.1)
    assert till_share(300, 300, 0.05) == 0.05  # never stopped: the floor
    assert till_share(900, 300, 0.05) == 0.05
    assert till_share(900, 0, 0.05) == 1.0  # PUSH_TILLS_FULL 0: off


def test_the_pacer_goes_at_its_share_of_the_rate() -> None:
    now = [0.0]
    pacer = Pacer(100, clock=lambda: now[0])
    pacer.share = 0.1
    assert pacer.current == pytest.approx(10)
    assert pacer.batch(1000) == 10  # a second's worth at the slowed rate
    assert pacer.step() == 1
    assert pacer.delay(10) == 0.0
    assert pacer.delay(10) == pytest.approx(1.0)  # ten more wait a second
    pacer.share = 1.0
    assert pacer.batch(1000) == 100


def test_the_floor_keeps_claimed_batches_within_their_lease() -> None:
    """Up to batches_in_flight seconds' worth may be claimed at the full rate
    just before the tills start; at the floor they must still go out within
    half the lease, or the rows could be claimed and pushed twice."""
    low = Settings(rate_limit=300, tills_full=300, tills_floor=0.001)
    assert Worker(None, {}, low).tills_floor() == pytest.approx(0.05)  # type: ignore[arg-type]
    longer = Settings(tills_full=300, tills_floor=0.001, lease_seconds=600)
    assert Worker(None, {}, longer).tills_floor() == pytest.approx(0.01)  # type: ignore[arg-type]
    high = Settings(tills_full=300, tills_floor=0.2)
    assert Worker(None, {}, high).tills_floor() == 0.2  # type: ignore[arg-type]


def test_settings_read_the_tills_from_the_config() -> None:
    settings = Settings.from_config(
        {"PUSH_RATE_LIMIT": "300", "PUSH_TILLS_FULL": "250", "PUSH_TILLS_FLOOR": "0.1"}
    )
    assert (settings.tills_full, settings.tills_floor) == (250.0, 0.1)
    assert Settings().tills_full == 0.0  # off unless set


def _sell(app: Flask, program_id: int, count: int) -> None:
    with app.app_context():
        program = db.session.get(Program, program_id)
        assert program is not None
        key = pos_key(program)
        member = add_member(program)
        for _ in range(count):
            buy(member, key, 0)
        db.session.commit()


def test_the_worker_slows_while_the_tills_sell_and_speeds_up_after(
    app: Flask, demo: Demo
) -> None:
    """The till watch counts the purchases written between two reads (the
    highest pos_transaction id), so 20 purchases in 2 s are 10 per second; at
    PUSH_TILLS_FULL 20 the herd's 100 devices/s become 50, and the full rate
    again once nothing more is sold."""
    settings = Settings(rate_limit=100, tills_full=20, tills_floor=0.05)
    now = [0.0]
    with app.app_context():
        watch = TillWatch(db.engine, window=1.0, clock=lambda: now[0])
        worker = Worker(db.engine, {}, settings)
        assert worker.heed_tills(watch) == 1.0  # one read: no rate yet
        _sell(app, demo.program_id, 20)
        now[0] = 2.0
        assert watch.sample() == pytest.approx(10.0)
        assert worker.heed_tills(watch) == pytest.approx(0.5)
        assert worker.pacer.current == pytest.approx(50)
        _sell(app, demo.program_id, 60)
        now[0] = 3.0
        assert worker.heed_tills(watch) == 0.05  # 60/s: the floor
        assert worker.pacer.batch(1000) == 5
        now[0] = 5.0
        assert worker.heed_tills(watch) == 1.0  # quiet again
        assert worker.pacer.batch(1000) == 100


def test_a_running_paced_worker_watches_the_tills(app: Flask, demo: Demo) -> None:
    """`run` starts the watch when both PUSH_RATE_LIMIT and PUSH_TILLS_FULL are
    set, and stops it with the worker."""
    settings = Settings(
        rate_limit=100, tills_full=20, tills_poll_seconds=0.01, poll_seconds=0.01
    )
    seen: list[float] = []
    with app.app_context():
        worker = Worker(db.engine, {}, settings)
        heed = worker.heed_tills

        def counted(watch: TillWatch) -> float:
            share = heed(watch)
            seen.append(share)
            if len(seen) >= 3:
                worker._stop.set()
            return share

        worker.heed_tills = counted  # type: ignore[method-assign]
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, worker.run()).result(timeout=60)
    assert len(seen) >= 3
    assert seen[0] == 1.0

    # Unpaced, or without PUSH_TILLS_FULL, nothing is watched.
    for unwatched in (Settings(tills_full=20), Settings(rate_limit=100)):
        with app.app_context():
            worker = Worker(db.engine, {}, unwatched)
            worker.heed_tills = counted  # type: ignore[method-assign]
            seen.clear()
            with ThreadPoolExecutor(1) as pool:
                pool.submit(asyncio.run, worker.run(until_idle=True)).result(timeout=60)
        assert seen == []
