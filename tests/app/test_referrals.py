"""Referrals: the share link, the friend's sign-up, both rewarded after the
friend's first purchase over the minimum, the limits (refused quietly), counts."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.extensions import db
from app.models import Member, MemberOffer, Program, Referral
from app.services import referrals
from tests.app.marketing_support import auth, marketer_key
from tests.app.pos_support import assert_ledger_matches_balances, card, make_key
from tests.app.test_signup import valid_form
from tests.app.test_stamps import buy, gift_offer, send
from tests.conftest import Demo


@pytest.fixture
def mkey(app: Flask, demo: Demo) -> str:
    return marketer_key(app, demo.program_id)


@pytest.fixture
def pos(app: Flask, demo: Demo) -> str:
    return make_key(app)


def run_referrals(client: FlaskClient, mkey: str, **changes: object) -> None:
    body = {"enabled": True, "min_amount": "1000", "reward_points": 300, **changes}
    response = send(client, "PATCH", mkey, "/api/v1/referrals", body)
    assert response.status_code == 200, response.json


def share_code(client: FlaskClient, card_token: str) -> str:
    page = client.get(f"/c/{card_token}?lang=ru").get_data(as_text=True)
    found = re.search(r'id="share-link" href="[^"]*\?ref=([0-9a-z]+)"', page)
    assert found, "the card page shows the share link"
    return found.group(1)


def join(client: FlaskClient, app: Flask, slug: str, ref: str, phone: str) -> int:
    """Open the link, sign up through it: the new member's id."""
    opened = client.get(f"/join/{slug}?ref={ref}")
    assert opened.status_code == 200
    response = client.post(
        f"/join/{slug}", data=valid_form(app, phone=phone, ref=ref, email="")
    )
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    token = response.headers["Location"].removeprefix("/c/")
    with app.app_context():
        member = db.session.scalar(select(Member).where(Member.card_token == token))
        assert member is not None
        return member.id


def points(app: Flask, member_id: int) -> int:
    with app.app_context():
        return db.session.get(Member, member_id).points


def statuses(app: Flask) -> list[tuple[str, str]]:
    with app.app_context():
        return [
            (r.status, r.reason)
            for r in db.session.scalars(select(Referral).order_by(Referral.id))
        ]


def test_settings_are_checked(client: FlaskClient, mkey: str, demo: Demo) -> None:
    assert client.get("/api/v1/referrals", headers=auth(mkey)).json["enabled"] is False
    for body in (
        {"enabled": True},  # no reward
        {"reward_points": -1},
        {"monthly_limit": 0},
        {"min_amount": "abc"},
        {"bonus": 1},
    ):
        response = send(client, "PATCH", mkey, "/api/v1/referrals", body)
        assert response.status_code == 422, body
        assert response.json["error"] == "invalid_referrals"
    run_referrals(client, mkey)
    assert client.get("/api/v1/referrals", headers=auth(mkey)).json == {
        "enabled": True,
        "min_amount": "1000.00",
        "reward_points": 300,
        "reward_offer_id": None,
        "monthly_limit": 5,
    }


def test_no_share_link_without_referrals(client: FlaskClient, demo: Demo) -> None:
    page = client.get(f"/c/{demo.passes[0].card_token}").get_data(as_text=True)
    assert 'id="share"' not in page


def test_friend_and_member_rewarded_after_the_first_purchase(
    app: Flask, client: FlaskClient, mkey: str, pos: str, demo: Demo
) -> None:
    run_referrals(client, mkey)
    referrer = demo.passes[0]
    code = share_code(client, referrer.card_token)
    page = client.get(f"/c/{referrer.card_token}?lang=ru").get_data(as_text=True)
    assert "Пригласите друга" in page
    assert 'id="share-qr"' in page
    friend_id = join(client, app, demo.slug, code, "+7 912 000-00-01")
    assert statuses(app) == [("pending", "")]
    before = points(app, referrer.member_id)
    friend_card = card(app, friend_id)
    # Below the minimum: nothing yet.
    small = buy(client, pos, friend_card.barcode, "999.99")
    assert small.status_code == 201
    assert statuses(app) == [("pending", "")]
    assert points(app, referrer.member_id) == before
    friend_before = points(app, friend_id)
    first = buy(client, pos, friend_card.barcode, "1500.00")
    assert first.status_code == 201, first.json
    assert statuses(app) == [("rewarded", "")]
    assert points(app, referrer.member_id) == before + 300
    assert points(app, friend_id) == friend_before + first.json["earned"] + 300
    # Once per friend.
    buy(client, pos, friend_card.barcode, "5000.00")
    # Each one's data download says so, without the other's personal data.
    with app.app_context():
        friend_token = db.session.get(Member, friend_id).card_token
    exported = client.get(f"/c/{friend_token}/data.json").json
    assert exported["referral"] == {
        "joined_through_a_friend": True,
        "friends_signed_up": 0,
    }
    exported = client.get(f"/c/{referrer.card_token}/data.json").json
    assert exported["referral"]["friends_signed_up"] == 1
    assert "+79120000001" not in str(exported)  # the friend's phone
    assert points(app, referrer.member_id) == before + 300
    stats = client.get("/api/v1/referrals/stats", headers=auth(mkey)).json
    assert stats == {
        "invites_opened": 1,
        "signups": 1,
        "first_purchases": 1,
        "rewards_paid": 1,
    }
    assert_ledger_matches_balances(app)
    with app.app_context():
        from app.models import Pass
        from app.services import passes as pass_service

        for member_id in (referrer.member_id, friend_id):
            pass_ = db.session.scalar(select(Pass).where(Pass.member_id == member_id))
            assert pass_ is not None
            assert pass_.content_hash == pass_service.content_hash(pass_)


def test_limits_and_fraud_are_refused_quietly(
    app: Flask, client: FlaskClient, mkey: str, pos: str, demo: Demo
) -> None:
    offer_id = gift_offer(client, mkey)
    run_referrals(
        client, mkey, reward_points=0, reward_offer_id=offer_id, monthly_limit=1
    )
    referrer = demo.passes[0]
    code = share_code(client, referrer.card_token)
    # A forged code: the page opens, nothing is recorded.
    forged = code[:-1] + ("0" if code[-1] != "0" else "1")
    assert client.get(f"/join/{demo.slug}?ref={forged}").status_code == 200
    assert client.get(f"/join/{demo.slug}?ref=%00%ff").status_code == 200
    with app.app_context():
        referrer_phone = db.session.get(Member, referrer.member_id).phone
        program = db.session.get(Program, demo.program_id)
        assert referrals.resolve(program, forged) is None
    # Self-referral: the member's own phone gets the card link, no referral.
    response = client.post(
        f"/join/{demo.slug}", data=valid_form(app, phone=referrer_phone, ref=code)
    )
    assert response.status_code == 200
    assert statuses(app) == []
    first = join(client, app, demo.slug, code, "+7 912 000-00-02")
    second = join(client, app, demo.slug, code, "+7 912 000-00-03")
    assert buy(client, pos, card(app, first).barcode, "2000.00").status_code == 201
    assert buy(client, pos, card(app, second).barcode, "2000.00").status_code == 201
    # The monthly limit (1): the second friend's purchase rewards nobody.
    assert statuses(app) == [("rewarded", ""), ("refused", "limit")]
    with app.app_context():
        held = db.session.scalars(
            select(MemberOffer.member_id).where(MemberOffer.source_kind == "referral")
        ).all()
    assert sorted(held) == sorted([referrer.member_id, first])
    stats = client.get("/api/v1/referrals/stats", headers=auth(mkey)).json
    assert stats["signups"] == 2
    assert stats["first_purchases"] == 2
    assert stats["rewards_paid"] == 1
    assert stats["invites_opened"] == 2
