"""A change of the tier thresholds re-tiers every member at once (up or down) from
their rolling 12-month spend, in the settings refresh job: passes whose tier
moved get a new tag and a push, the others are left alone, and it is audited."""

from __future__ import annotations

import io
import secrets
import zipfile
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.extensions import db
from app.models import (
    AuditEntry,
    Member,
    Pass,
    PassRefresh,
    PosTransaction,
    Program,
)
from app.services import loyalty, stores
from app.services.demo import TIERS
from app.services.passes import refresh_pass
from tests.app.campaign_support import NOW, add_member, pos_key, register_device
from tests.app.marketing_support import auth, marketer_key
from tests.app.test_settings import run_refresh, tags
from tests.conftest import Demo
from tests.support.apns_server import ApnsStandIn
from tests.support.push import drain

# The demo's tiers with gold from 15 000 (was 30 000), platinum from 50 000 (was
# 100 000); names unchanged, so a pass changes only if its member's tier moves.
NEW_TIERS = [
    TIERS[0],
    {**TIERS[1], "min_spend": 15000},
    {**TIERS[2], "min_spend": 50000},
]


@pytest.fixture
def key(app: Flask, demo: Demo) -> str:
    return marketer_key(app, demo.program_id)


def spend(member: Member, roubles: int, days_ago: float, refunded: bool = False):
    """A purchase of `roubles`, `days_ago` before NOW (the refresh job's now)."""
    at = NOW - timedelta(days=days_ago)
    db.session.add(
        PosTransaction(
            program_id=member.program_id,
            member_id=member.id,
            store_id=pos_key_for(member).store_id,
            api_key_id=pos_key_for(member).id,
            idempotency_key=secrets.token_hex(8),
            fingerprint="x" * 64,
            receipt_id="r",
            amount_kopecks=roubles * 100,
            response={},
            created_at=at,
            refunded_at=at + timedelta(hours=1) if refunded else None,
        )
    )
    db.session.flush()


_keys: dict[int, object] = {}


def pos_key_for(member: Member):
    if member.program_id not in _keys:
        _keys[member.program_id] = pos_key(db.session.get(Program, member.program_id))
    return _keys[member.program_id]


def tiers_of(app: Flask, ids: dict[str, int]) -> dict[str, str]:
    with app.app_context():
        return {
            name: db.session.get(Member, member_id).tier
            for name, member_id in ids.items()
        }


def test_new_thresholds_retier_everyone_and_push_only_the_moved_passes(
    app: Flask,
    client: FlaskClient,
    demo: Demo,
    key: str,
    push_app: Flask,
    apns: ApnsStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _keys.clear()
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        up = add_member(program)  # silver, 20 000 this year: gold now
        spend(up, 12000, days_ago=30)
        spend(up, 8000, days_ago=300)
        down = add_member(program, tier="platinum")  # 40 000: gold now
        spend(down, 40000, days_ago=10)
        no_pass = add_member(program)  # 60 000, no pass: platinum
        spend(no_pass, 60000, days_ago=100)
        stays = add_member(program)  # old and refunded purchases do not count
        spend(stays, 20000, days_ago=400)
        spend(stays, 20000, days_ago=5, refunded=True)
        erased = add_member(program, tier="gold", erased_at=NOW)
        devices = {
            "up": register_device(up).push_token,
            "down": register_device(down).push_token,
            "stays": register_device(stays).push_token,
        }
        # Every pass shows what it should (a known content hash).
        for pass_ in db.session.scalars(
            select(Pass).where(Pass.program_id == program.id)
        ):
            refresh_pass(pass_)
        db.session.commit()
        ids = {
            "up": up.id,
            "down": down.id,
            "no_pass": no_pass.id,
            "stays": stays.id,
            "erased": erased.id,
        }
        pass_ids = {
            name: db.session.scalar(select(Pass.id).where(Pass.member_id == mid))
            for name, mid in ids.items()
        }
    drain(push_app)  # the pushes of the set-up
    pushed_before = len(apns.pushes)
    before = tags(app, demo.program_id)
    assert len(before) == 6  # three demo members, up, down, stays
    # Small batches: the re-tiering goes batch by batch with the passes.
    monkeypatch.setattr(stores, "BATCH", 2)
    monkeypatch.setattr(loyalty, "RETIER_BATCH", 2)

    response = client.patch(
        "/api/v1/program", json={"tiers": NEW_TIERS}, headers=auth(key)
    )
    assert response.status_code == 200, response.get_json()
    refresh = response.get_json()["refresh"]
    assert refresh["status"] == "queued"
    assert (refresh["retier"], refresh["retiered"]) == (True, 0)
    # Nothing moves in the request.
    assert tiers_of(app, ids) == {
        "up": "silver",
        "down": "platinum",
        "no_pass": "silver",
        "stays": "silver",
        "erased": "gold",
    }

    run_refresh(app)
    progress = client.get(
        f"/api/v1/program/refreshes/{refresh['id']}", headers=auth(key)
    ).get_json()
    assert progress["status"] == "done"
    assert (progress["total"], progress["processed"]) == (6, 6)
    assert (progress["retiered"], progress["refreshed"]) == (3, 2)
    assert tiers_of(app, ids) == {
        "up": "gold",
        "down": "gold",
        "no_pass": "platinum",
        "stays": "silver",
        "erased": "gold",  # erased members are left alone
    }
    # Only the two passes whose tier moved got a new tag...
    after = tags(app, demo.program_id)
    moved = {pid for pid in before if after[pid] != before[pid]}
    assert moved == {pass_ids["up"], pass_ids["down"]}
    # ... and their devices a push.
    drain(push_app)
    assert sorted(p.token for p in apns.pushes[pushed_before:]) == sorted(
        [devices["up"], devices["down"]]
    )
    # The member moved down sees the new tier on the pass.
    with app.app_context():
        card_token = db.session.get(Member, ids["down"]).card_token
    data = client.get(f"/c/{card_token}/pass.pkpass").data
    pass_json = zipfile.ZipFile(io.BytesIO(data)).read("pass.json").decode()
    assert "Золото" in pass_json
    assert "Платина" not in pass_json

    with app.app_context():
        entries = {
            entry.action: entry.details
            for entry in db.session.scalars(select(AuditEntry))
        }
    assert entries["program.settings"]["retier"] == {
        "before": [["silver", 0], ["gold", 30000], ["platinum", 100000]],
        "after": [["silver", 0], ["gold", 15000], ["platinum", 50000]],
    }
    assert entries["program.retier"] == {"refresh_id": refresh["id"], "retiered": 3}

    # The POS agrees: the next purchase keeps the tier the refresh gave.
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        assert loyalty.tier_for_spend(program, 20000_00) == "gold"


def test_names_or_earn_rates_alone_do_not_retier(
    app: Flask, client: FlaskClient, demo: Demo, key: str
) -> None:
    with app.app_context():
        member = add_member(db.session.get(Program, demo.program_id), tier="gold")
        db.session.commit()
        member_id = member.id
    renamed = [dict(TIERS[0], name={"ru": "Бронза"}), *TIERS[1:]]
    body = client.patch(
        "/api/v1/program", json={"tiers": renamed}, headers=auth(key)
    ).get_json()
    assert body["refresh"]["retier"] is False
    rates = [dict(tier, earn_percent=tier["earn_percent"] + 1) for tier in renamed]
    body = client.patch(
        "/api/v1/program", json={"tiers": rates}, headers=auth(key)
    ).get_json()
    assert body["changed"] == ["tiers"]
    assert body["refresh"] is None or body["refresh"]["retier"] is False
    run_refresh(app)
    with app.app_context():
        # Gold with no spend: kept, as no threshold changed.
        assert db.session.get(Member, member_id).tier == "gold"
        assert not db.session.scalar(
            select(PassRefresh.id).where(PassRefresh.retier.is_(True))
        )


def test_a_store_change_keeps_a_queued_retier(
    app: Flask, client: FlaskClient, demo: Demo, key: str
) -> None:
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        member = add_member(program, tier="platinum")
        db.session.commit()
        member_id = member.id
    body = client.patch(
        "/api/v1/program", json={"tiers": NEW_TIERS}, headers=auth(key)
    ).get_json()
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        # A store change before the worker started: it takes the retier over.
        newer = stores.queue_refresh(program, stores.snapshot(program))
        db.session.commit()
        assert (newer.retier, newer.stores_before) == (True, None)
        newer_id = newer.id
        assert db.session.get(PassRefresh, body["refresh"]["id"]).status == (
            "superseded"
        )
    run_refresh(app)
    with app.app_context():
        assert db.session.get(PassRefresh, newer_id).retiered == 1
        assert db.session.get(Member, member_id).tier == "silver"


def test_bad_tiers_change_nothing(
    app: Flask, client: FlaskClient, demo: Demo, key: str
) -> None:
    bad = [TIERS[0], {**TIERS[1], "min_spend": -1}, TIERS[2]]
    response = client.patch("/api/v1/program", json={"tiers": bad}, headers=auth(key))
    assert response.status_code == 422
    with app.app_context():
        assert db.session.scalar(select(PassRefresh.id)) is None
        assert db.session.scalar(select(AuditEntry.id)) is None
