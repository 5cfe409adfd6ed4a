"""Paid premium membership: plans (marketer API, 422s, audit), sales at the till
and for a web shop (idempotent, renewals from the end, refunds), the earn-rate
bonus at the POS, the pass's back, the silent end, stats."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

import passes
from app.extensions import db
from app.models import (
    AuditEntry,
    Member,
    MemberOffer,
    MembershipSale,
    Pass,
    PosTransaction,
)
from app.models.base import utcnow
from app.services import memberships, scheduler
from app.services import passes as pass_service
from tests.app.marketing_support import auth, marketer_key
from tests.app.pos_support import assert_ledger_matches_balances, card, make_key
from tests.conftest import Demo

CLUB = {
    "code": "club",
    "name": {"ru": "Клуб", "en": "Club"},
    "price": "990.00",
    "period_days": 30,
    "earn_bonus_percent": 50,
    "perks": [{"ru": "Бесплатная доставка", "en": "Free delivery"}],
}


@pytest.fixture
def mkey(app: Flask, demo: Demo) -> str:
    return marketer_key(app, demo.program_id)


@pytest.fixture
def pos(app: Flask, demo: Demo) -> str:
    return make_key(app)


def send(client: FlaskClient, method: str, key: str, path: str, body: object, **h):
    return client.open(
        path,
        method=method,
        data=json.dumps(body),
        content_type="application/json",
        headers={**auth(key), **h},
    )


def make_plan(client: FlaskClient, mkey: str, **changes: object) -> dict:
    response = send(
        client, "POST", mkey, "/api/v1/membership-plans", {**CLUB, **changes}
    )
    assert response.status_code == 201, response.json
    return response.json


def sell(client: FlaskClient, key: str, code: str, plan: str = "club", idem=None):
    return send(
        client,
        "POST",
        key,
        "/api/v1/pos/memberships",
        {"code": code, "plan": plan},
        **{"Idempotency-Key": idem or str(uuid.uuid4())},
    )


def member(app: Flask, member_id: int) -> Member:
    with app.app_context():
        found = db.session.get(Member, member_id)
        db.session.expunge(found)
        return found


def back_field(app: Flask, member_id: int, key: str = "membership") -> dict | None:
    """The pass's back field (and the stored hash is the real one)."""
    with app.app_context():
        pass_ = db.session.scalar(select(Pass).where(Pass.member_id == member_id))
        assert pass_.content_hash == pass_service.content_hash(pass_)
        built = passes.build_pass_json(*pass_service.pass_inputs(pass_))
        for field in built["storeCard"]["backFields"]:
            if field["key"] == key:
                return field
        return None


def test_plans_are_checked_audited_and_listed(
    app: Flask, client: FlaskClient, mkey: str, demo: Demo
) -> None:
    url = "/api/v1/membership-plans"
    for body in (
        {**CLUB, "code": "Bad Code"},
        {**CLUB, "price": "0"},
        {**CLUB, "price": "9.999"},
        {**CLUB, "price": True},
        {**CLUB, "period_days": 0},
        {**CLUB, "period_days": "30"},
        {**CLUB, "earn_bonus_percent": -1},
        {**CLUB, "name": {"en": "Club"}},
        {**CLUB, "perks": "free delivery"},
        {**CLUB, "perks": [{"ru": "a\x00b"}]},
        {**CLUB, "colour": "gold"},
        {k: v for k, v in CLUB.items() if k != "price"},
    ):
        response = send(client, "POST", mkey, url, body)
        assert response.status_code == 422, body
        assert response.json["error"] == "invalid_plan", body
    missing_offer = send(client, "POST", mkey, url, {**CLUB, "welcome_offer_id": 98765})
    assert missing_offer.status_code == 404
    plan = make_plan(client, mkey)
    assert plan["price"] == "990.00"
    assert plan["perks"] == CLUB["perks"]
    assert send(client, "POST", mkey, url, CLUB).status_code == 409
    changed = send(client, "PATCH", mkey, f"{url}/{plan['id']}", {"price": "1200"})
    assert changed.status_code == 200
    assert changed.json["price"] == "1200.00"
    code_change = send(client, "PATCH", mkey, f"{url}/{plan['id']}", {"code": "vip"})
    assert code_change.status_code == 422
    assert client.get(f"{url}/999999", headers=auth(mkey)).status_code == 404
    listed = client.get(url, headers=auth(mkey)).json["plans"]
    assert [p["code"] for p in listed] == ["club"]
    archived = client.delete(f"{url}/{plan['id']}", headers=auth(mkey))
    assert archived.json["archived"] is True
    with app.app_context():
        actions = set(
            db.session.scalars(
                select(AuditEntry.action).where(
                    AuditEntry.action.like("membership_plan.%")
                )
            )
        )
    assert actions == {
        "membership_plan.create",
        "membership_plan.update",
        "membership_plan.archive",
    }


def test_sold_at_the_till_once_per_key_and_shown_on_the_pass(
    app: Flask, client: FlaskClient, mkey: str, pos: str, demo: Demo
) -> None:
    gift = send(
        client,
        "POST",
        mkey,
        "/api/v1/offers",
        {"kind": "gift", "title": {"ru": "Подарок", "en": "A gift"}, "valid_days": 30},
    )
    assert gift.status_code == 201, gift.json
    make_plan(client, mkey, welcome_offer_id=gift.json["id"])
    member_id = demo.passes[0].member_id
    c = card(app, member_id)
    assert back_field(app, member_id) is None
    points_before = member(app, member_id).points
    idem = str(uuid.uuid4())
    first = sell(client, pos, c.barcode, idem=idem)
    assert first.status_code == 201, first.json
    assert first.headers["Idempotent-Replayed"] == "false"
    assert first.json["kind"] == "new"
    assert first.json["amount"] == "990.00"
    assert first.json["welcome_offer_issued"] is True
    again = sell(client, pos, c.barcode, idem=idem)
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json == first.json
    other_body = sell(client, pos, c.number, idem=idem)
    assert other_body.status_code == 422
    assert other_body.json["error"] == "idempotency_key_reused"
    with app.app_context():
        sales = db.session.scalars(select(MembershipSale)).all()
        assert len(sales) == 1
        assert sales[0].amount_kopecks == 99000
        assert sales[0].channel == "store"
        assert sales[0].store_id is not None
        # A fee, not loyalty spend: no purchase, no points.
        assert db.session.scalar(select(func.count(PosTransaction.id))) == 0
        welcome = db.session.scalars(
            select(MemberOffer).where(MemberOffer.source_kind == "membership")
        ).all()
        assert len(welcome) == 1
    assert member(app, member_id).points == points_before
    field = back_field(app, member_id)
    assert field is not None
    assert field["label"] == "Клубная программа"
    assert field["value"].startswith("Клуб до ")
    assert "• Бесплатная доставка" in field["value"]


def test_renewal_extends_from_the_end_and_refunds_take_periods_back(
    app: Flask, client: FlaskClient, mkey: str, pos: str, demo: Demo
) -> None:
    make_plan(client, mkey)
    make_plan(client, mkey, code="year", period_days=365)
    member_id = demo.passes[1].member_id
    c = card(app, member_id)
    first = sell(client, pos, c.barcode).json
    renewal = sell(client, pos, c.barcode)
    assert renewal.status_code == 201, renewal.json
    assert renewal.json["kind"] == "renewal"
    assert renewal.json["starts_at"] == first["ends_at"]
    ends = member(app, member_id).membership_ends_at
    assert ends.isoformat() == renewal.json["ends_at"]
    assert renewal.json["ends_at"] > first["ends_at"]
    assert sell(client, pos, c.barcode, plan="nope").status_code == 422
    # The first period cannot go while the renewal stands on it.
    url = "/api/v1/pos/memberships/{}/refund"
    blocked = client.post(url.format(first["sale_id"]), headers=auth(pos))
    assert blocked.status_code == 409
    assert blocked.json["error"] == "later_sale"
    undone = client.post(url.format(renewal.json["sale_id"]), headers=auth(pos))
    assert undone.status_code == 200, undone.json
    assert undone.headers["Idempotent-Replayed"] == "false"
    assert undone.json["membership_ends_at"] == first["ends_at"]
    replay = client.post(url.format(renewal.json["sale_id"]), headers=auth(pos))
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json == undone.json
    gone = client.post(url.format(first["sale_id"]), headers=auth(pos))
    assert gone.status_code == 200
    assert gone.json["membership_ends_at"] is None
    assert member(app, member_id).membership_plan_id is None
    assert back_field(app, member_id) is None
    other_store = make_key(app, store_code="spb-nevsky")
    fresh = sell(client, pos, c.barcode).json
    refused = client.post(url.format(fresh["sale_id"]), headers=auth(other_store))
    assert refused.status_code == 403
    assert client.post(url.format(99999999), headers=auth(pos)).status_code == 404


def shift(app: Flask, member_id: int, days: int) -> None:
    """Move the member's sales and membership end `days` into the past."""
    with app.app_context():
        for row in db.session.scalars(
            select(MembershipSale).where(MembershipSale.member_id == member_id)
        ):
            row.starts_at -= timedelta(days=days)
            row.ends_at -= timedelta(days=days)
        found = db.session.get(Member, member_id)
        found.membership_ends_at -= timedelta(days=days)
        db.session.commit()


def test_another_plan_is_a_change_with_the_unused_period_credited(
    app: Flask, client: FlaskClient, mkey: str, pos: str, demo: Demo
) -> None:
    club_plan = make_plan(client, mkey)  # 990.00 for 30 days
    make_plan(client, mkey, code="year", price="5000.00", period_days=365)
    member_id = demo.passes[2].member_id
    c = card(app, member_id)
    club = sell(client, pos, c.barcode).json
    shift(app, member_id, 15)  # half of the club's period is used
    club_ends = member(app, member_id).membership_ends_at
    scan = send(client, "POST", pos, "/api/v1/pos/scan", {"code": c.barcode})
    # 15 days of 30 left (the day begun counts as unused): 990.00 × 15 / 30.
    assert scan.json["membership"]["credit"] == "495.00"
    # Upgrade: pays the year less the unused half month, from now.
    up = sell(client, pos, c.barcode, plan="year")
    assert up.status_code == 201, up.json
    assert up.json["kind"] == "change"
    assert up.json["credit"] == "495.00"
    assert up.json["amount"] == "4505.00"
    assert up.json["membership"]["plan"]["code"] == "year"
    assert up.json["starts_at"] < club["ends_at"]
    held = member(app, member_id)
    assert held.membership_ends_at.isoformat() == up.json["ends_at"]
    assert (held.membership_ends_at - utcnow()).days in (364, 365)
    with app.app_context():
        row = db.session.get(MembershipSale, up.json["sale_id"])
        assert row.previous_ends_at == club_ends
        assert row.amount_kopecks + row.credit_kopecks == 500000
    # The club sale stands under the change: only the change can be refunded.
    url = "/api/v1/pos/memberships/{}/refund"
    blocked = client.post(url.format(club["sale_id"]), headers=auth(pos))
    assert blocked.json["error"] == "later_sale"
    undone = client.post(url.format(up.json["sale_id"]), headers=auth(pos))
    assert undone.status_code == 200, undone.json
    assert undone.json["amount"] == up.json["amount"]
    back = member(app, member_id)
    assert back.membership_ends_at == club_ends
    assert back.membership_plan_id == club_plan["id"]
    assert back_field(app, member_id)["value"].split()[0] in ("Клуб", "Club")
    # Downgrade: the unused year is worth more than a month of the club, so the
    # club runs longer and costs nothing.
    again = sell(client, pos, c.barcode, plan="year").json
    down = sell(client, pos, c.barcode).json
    assert down["kind"] == "change"
    assert down["amount"] == "0.00"
    # The year's period is worth its fee plus the credit it carried (5000.00),
    # all of it unused: it buys 30 × 5000 / 990 = 151.5 days of the club.
    assert down["credit"] == "5000.00"
    days = (member(app, member_id).membership_ends_at - utcnow()).days
    assert days == 151
    assert again["kind"] == "change"
    # Counted as changes, with what they charged.
    stats = client.get("/api/v1/membership-plans/stats?days=30", headers=auth(mkey))
    assert stats.json["changed"] == 2
    assert stats.json["active"] >= 1


def test_a_refund_after_the_period_is_refused(
    app: Flask, client: FlaskClient, mkey: str, pos: str, demo: Demo
) -> None:
    make_plan(client, mkey)
    sale = sell(client, pos, card(app, demo.passes[0].member_id).barcode).json
    with app.app_context():
        row = db.session.get(MembershipSale, sale["sale_id"])
        row.ends_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
    late = client.post(
        f"/api/v1/pos/memberships/{sale['sale_id']}/refund", headers=auth(pos)
    )
    assert late.status_code == 409
    assert late.json["error"] == "refund_period_over"


def test_members_earn_the_bonus_while_active(
    app: Flask, client: FlaskClient, mkey: str, pos: str, demo: Demo
) -> None:
    make_plan(client, mkey)
    member_id = demo.passes[0].member_id
    c = card(app, member_id)

    def buy() -> dict:
        response = send(
            client,
            "POST",
            pos,
            "/api/v1/pos/transactions",
            {"code": c.barcode, "amount": "1000", "receipt_id": "R1"},
            **{"Idempotency-Key": str(uuid.uuid4())},
        )
        assert response.status_code == 201, response.json
        return response.json

    tier_rate = buy()["earned"]
    assert sell(client, pos, c.barcode).status_code == 201
    with_bonus = buy()
    assert with_bonus["earned"] == tier_rate * 3 // 2  # 50 % more
    assert with_bonus["membership_bonus_percent"] == 50
    with app.app_context():
        row = db.session.get(Member, member_id)
        row.membership_ends_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    # Ended (the job has not run yet): no bonus.
    assert buy()["earned"] == tier_rate
    assert_ledger_matches_balances(app)
    # The purchases' pass hashes stayed true while the membership was shown.
    back_field(app, member_id)


def test_web_shop_and_marketer_activation(
    app: Flask, client: FlaskClient, mkey: str, demo: Demo
) -> None:
    make_plan(client, mkey)
    shop = make_key(app, role="shop")
    member_id = demo.passes[2].member_id
    url = f"/api/v1/members/{member_id}/membership"
    missing = send(client, "POST", shop, url, {"plan": "club"})
    assert missing.status_code == 400
    idem = {"Idempotency-Key": "shop-order-0001"}
    first = send(client, "POST", shop, url, {"plan": "club"}, **idem)
    assert first.status_code == 201, first.json
    assert first.json["channel"] == "online"
    again = send(client, "POST", shop, url, {"plan": "club"}, **idem)
    assert again.json == first.json
    assert again.headers["Idempotent-Replayed"] == "true"
    granted = send(client, "POST", mkey, url, {"plan": "club"}, **idem)
    assert granted.status_code == 201
    assert granted.json["channel"] == "api"
    assert granted.json["kind"] == "renewal"
    assert send(client, "POST", mkey, url, {"plan": 5}, **idem).status_code == 422
    assert (
        send(client, "POST", mkey, url, {"plan": "club", "x": 1}, **idem).status_code
        == 422
    )
    unknown = send(
        client,
        "POST",
        mkey,
        "/api/v1/members/999999/membership",
        {"plan": "club"},
        **{"Idempotency-Key": "unknown-member-1"},
    )
    assert unknown.status_code == 404
    shown = client.get(url, headers=auth(mkey)).json["membership"]
    assert shown["plan"]["code"] == "club"
    assert shown["ends_at"] == granted.json["ends_at"]


def test_the_end_is_silent_and_refreshes_the_pass(
    app: Flask, client: FlaskClient, mkey: str, pos: str, demo: Demo
) -> None:
    make_plan(client, mkey)
    member_id = demo.passes[0].member_id
    assert sell(client, pos, card(app, member_id).barcode).status_code == 201
    with app.app_context():
        before = db.session.scalar(
            select(Pass.updated_at).where(Pass.member_id == member_id)
        )
        assert memberships.expire() == 0
        row = db.session.get(Member, member_id)
        row.membership_ends_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
        # The worker's job (as `flask run-jobs` runs it).
        assert scheduler.run_due()["membership_expiry"] == "ok"
        tag = db.session.scalar(
            select(Pass.updated_at).where(Pass.member_id == member_id)
        )
        assert tag != before
    assert member(app, member_id).membership_plan_id is None
    assert back_field(app, member_id) is None


def test_stats(
    app: Flask, client: FlaskClient, mkey: str, pos: str, demo: Demo
) -> None:
    make_plan(client, mkey)
    a, b = (card(app, p.member_id) for p in demo.passes[:2])
    sell(client, pos, a.barcode)
    sell(client, pos, a.barcode)
    lapsing = sell(client, pos, b.barcode).json
    with app.app_context():
        row = db.session.get(MembershipSale, lapsing["sale_id"])
        row.ends_at = utcnow() - timedelta(days=1)
        db.session.get(Member, b.member_id).membership_ends_at = row.ends_at
        db.session.commit()
    for c, amount in ((a, "1000"), (b, "300")):
        send(
            client,
            "POST",
            pos,
            "/api/v1/pos/transactions",
            {"code": c.barcode, "amount": amount, "receipt_id": "S"},
            **{"Idempotency-Key": str(uuid.uuid4())},
        )
    got = client.get("/api/v1/membership-plans/stats?days=30", headers=auth(mkey))
    assert got.status_code == 200, got.json
    body = got.json
    assert body["active"] == 1
    assert body["new"] == 2
    assert body["renewed"] == 1
    assert body["changed"] == 0
    assert body["lapsed"] == 1
    assert body["revenue"] == "2970.00"
    assert body["member_spend_avg"] == "1000.00"
    assert body["non_member_spend_avg"] == "300.00"
    bad = client.get("/api/v1/membership-plans/stats?days=x", headers=auth(mkey))
    assert bad.status_code == 422


def test_concurrent_retries_charge_once(app: Flask, demo: Demo) -> None:
    """Eight copies of one sale at once (PostgreSQL row locks, SQLite's write
    lock): one sale, the same answer for all."""
    from tests.app.test_pos_concurrency import all_at_once, call, used_key
    from tests.support.liveserver import live_server

    mkey = marketer_key(app, demo.program_id)
    with live_server(app) as server:
        status, _ = call(f"{server}/api/v1/membership-plans", mkey, CLUB)
        assert status == 201
        key = used_key(app, server)
        c = card(app, demo.passes[0].member_id)
        url = f"{server}/api/v1/pos/memberships"
        body = {"code": c.barcode, "plan": "club"}
        results = all_at_once(8, lambda i: call(url, key, body, "same-sale-key"))
        # And eight different sales for one card at once: serialised renewals.
        renewals = all_at_once(4, lambda i: call(url, key, body, f"renewal-key-{i}"))
    assert {status for status, _ in results} == {201}
    assert len({json.dumps(b, sort_keys=True) for _, b in results}) == 1
    assert {status for status, _ in renewals} == {201}
    ends = sorted(b["ends_at"] for _, b in renewals)
    assert len(set(ends)) == 4  # each extended the one before
    with app.app_context():
        assert db.session.scalar(select(func.count(MembershipSale.id))) == 5
        final = db.session.get(Member, c.member_id).membership_ends_at
        assert final.isoformat() == ends[-1]


def test_segment_rule_membership(
    app: Flask, client: FlaskClient, mkey: str, pos: str, demo: Demo
) -> None:
    make_plan(client, mkey)
    make_plan(client, mkey, code="year", period_days=365)
    first, second = (card(app, p.member_id) for p in demo.passes[:2])
    sell(client, pos, first.barcode)
    sell(client, pos, second.barcode, plan="year")
    with app.app_context():  # the year plan has ended (the job has not run)
        db.session.get(Member, second.member_id).membership_ends_at = utcnow()
        db.session.commit()

    def count(rule: object) -> int:
        response = send(
            client, "POST", mkey, "/api/v1/segments/preview", {"segment": rule}
        )
        assert response.status_code == 200, response.json
        return response.json["members"]

    everyone = count({"all": {}})
    assert count({"membership": "club"}) == 1
    assert count({"membership": ["club", "year"]}) == 1
    assert count({"membership": "year"}) == 0
    assert count({"membership": "any"}) == 1
    assert count({"membership": "none"}) == everyone - 1
    for bad in ({"membership": "nope"}, {"membership": []}, {"membership": 5}):
        response = send(
            client, "POST", mkey, "/api/v1/segments/preview", {"segment": bad}
        )
        assert response.status_code == 422, bad
        assert response.json["error"] == "invalid_segment"


def test_renewal_reminder_once_per_end_with_consent(
    app: Flask,
    client: FlaskClient,
    mkey: str,
    pos: str,
    demo: Demo,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from app.models import MemberMessage, Program
    from app.services import automations
    from tests.app.marketing_support import never_quiet

    monkeypatch.setitem(
        automations.DEFAULTS["membership_renewal"], "holdout_percent", 0
    )
    never_quiet(app, demo.program_id)
    make_plan(client, mkey)
    anna, boris = (card(app, p.member_id) for p in demo.passes[:2])
    for c in (anna, boris):
        sell(client, pos, c.barcode)
    with app.app_context():
        soon = utcnow() + timedelta(days=3)
        db.session.get(Member, anna.member_id).membership_ends_at = soon
        later = db.session.get(Member, boris.member_id)
        later.membership_ends_at = soon
        later.marketing_off_at = utcnow()  # switched offers off: no reminder
        db.session.commit()

    def run() -> int:
        with app.app_context():
            program = db.session.get(Program, demo.program_id)
            result = automations.run(
                program, "membership_renewal", utcnow(), force=True
            )
            db.session.commit()
            return result["sent"]

    def reminders() -> list[tuple[int, str]]:
        with app.app_context():
            return list(
                db.session.execute(
                    select(MemberMessage.member_id, MemberMessage.body).where(
                        MemberMessage.kind == "membership_renewal"
                    )
                ).tuples()
            )

    assert run() == 1
    [(member_id, body)] = reminders()
    assert member_id == anna.member_id
    assert body.startswith("Ваш «Клуб» действует до ")
    assert run() == 0  # once per end
    # A renewal moves the end: the next reminder is for the new end (not yet due).
    assert sell(client, pos, anna.barcode).json["kind"] == "renewal"
    assert run() == 0
    # Settings are checked like every automation's.
    bad = send(
        client,
        "PATCH",
        mkey,
        "/api/v1/automations",
        {"membership_renewal": {"settings": {"days_before": 0}}},
    )
    assert bad.status_code == 422


def test_the_card_page_shows_the_membership_in_russian_only(
    app: Flask, client: FlaskClient, mkey: str, pos: str, demo: Demo
) -> None:
    from tests.support.english import page_english

    make_plan(client, mkey)
    token = demo.passes[0].card_token
    page = client.get(f"/c/{token}?lang=ru").get_data(as_text=True)
    assert 'id="membership"' not in page
    sell(client, pos, card(app, demo.passes[0].member_id).barcode)
    page = client.get(f"/c/{token}?lang=ru").get_data(as_text=True)
    assert "Клубное членство" in page
    assert "Клуб до " in page
    assert "+50 % баллов за покупки" in page
    assert "<li>Бесплатная доставка</li>" in page
    assert page_english(page) == []
    english = client.get(f"/c/{token}?lang=en").get_data(as_text=True)
    assert "Club until " in english
    assert "<li>Free delivery</li>" in english


def test_a_refund_pays_back_the_unused_part_of_the_fee(
    app: Flask, client: FlaskClient, mkey: str, pos: str, demo: Demo
) -> None:
    """Pro rata of the days still to come, as a plan change credits them: a
    month refunded with 10 of its 30 days left pays back a third; the stats
    count the fee kept as revenue."""
    make_plan(client, mkey)  # 990.00 for 30 days
    before = client.get("/api/v1/membership-plans/stats?days=30", headers=auth(mkey))
    member_id = demo.passes[0].member_id
    sale = sell(client, pos, card(app, member_id).barcode).json
    shift(app, member_id, 20)  # 20 of 30 days used
    url = f"/api/v1/pos/memberships/{sale['sale_id']}/refund"
    late = client.post(url, headers=auth(pos))
    assert late.status_code == 200, late.json
    assert late.json["fee"] == "990.00"
    assert late.json["amount"] == "330.00"
    assert member(app, member_id).membership_plan_id is None
    with app.app_context():
        row = db.session.get(MembershipSale, sale["sale_id"])
        assert row.refund_kopecks == 33000
    # Again: the same answer, nothing paid twice.
    again = client.post(url, headers=auth(pos))
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json == late.json
    after = client.get("/api/v1/membership-plans/stats?days=30", headers=auth(mkey))
    kept = Decimal(after.json["revenue"]) - Decimal(before.json["revenue"])
    assert kept == Decimal("660.00")
    # Bought and refunded the same day: all of it.
    fresh = sell(client, pos, card(app, member_id).barcode).json
    whole = client.post(
        f"/api/v1/pos/memberships/{fresh['sale_id']}/refund", headers=auth(pos)
    )
    assert whole.json["amount"] == whole.json["fee"] == "990.00"
