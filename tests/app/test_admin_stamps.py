"""/admin/stamps: the stamp card's settings (bad input refused in Russian,
nothing saved) and its counts."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db
from app.models import Offer, Program
from tests.app.marketing_support import marketer_key
from tests.app.test_admin import sign_in
from tests.app.test_admin_catalog import post, text
from tests.conftest import Demo


@pytest.fixture
def csrf_app(app: Flask) -> Flask:
    app.config["WTF_CSRF_ENABLED"] = True
    return app


@pytest.fixture
def signed(csrf_app: Flask, client: FlaskClient, demo: Demo) -> FlaskClient:
    sign_in(client, marketer_key(csrf_app, demo.program_id))
    return client


def gift(app: Flask, program_id: int) -> int:
    with app.app_context():
        offer = Offer(
            program_id=program_id,
            kind="gift",
            value=0,
            min_kopecks=0,
            valid_days=30,
            title={"ru": "Кофе в подарок", "en": "A free coffee"},
        )
        db.session.add(offer)
        db.session.commit()
        return offer.id


def stamps_rules(app: Flask, program_id: int) -> dict | None:
    with app.app_context():
        return (db.session.get(Program, program_id).rules or {}).get("stamps")


def test_set_up_a_stamp_card(csrf_app: Flask, signed: FlaskClient, demo: Demo) -> None:
    page = text(signed.get("/admin/stamps"))
    assert "Карта штампов" in page
    assert "Сначала создайте подарочное предложение" in page
    offer_id = gift(csrf_app, demo.program_id)
    page = text(signed.get("/admin/stamps"))
    assert "Кофе в подарок" in page
    # Enabling without a reward, or a bad count: refused, nothing saved.
    for form in (
        {"enabled": "on", "target": "6", "min_amount": "0"},
        {"enabled": "on", "target": "1", "reward_offer_id": str(offer_id)},
        {"target": "x", "min_amount": "0"},
        {"target": "6", "min_amount": "-5"},
        {"target": "²", "min_amount": "0"},  # passes isdigit(), not int()
    ):
        refused = post(signed, "/admin/stamps", form, "/admin/stamps")
        assert refused.status_code == 422, form
        assert "Проверьте поля" in text(refused)
    assert stamps_rules(csrf_app, demo.program_id) is None
    saved = post(
        signed,
        "/admin/stamps",
        {
            "enabled": "on",
            "target": "6",
            "min_amount": "250,50",
            "reward_offer_id": str(offer_id),
        },
        "/admin/stamps",
    )
    assert saved.status_code == 302
    assert stamps_rules(csrf_app, demo.program_id) == {
        "enabled": True,
        "target": 6,
        "min_amount": 25050,
        "reward_offer_id": offer_id,
    }
    page = text(signed.get("/admin/stamps"))
    assert "Выдано штампов" in page
    assert 'value="250.50"' in page


def test_set_up_referrals(csrf_app: Flask, signed: FlaskClient, demo: Demo) -> None:
    page = text(signed.get("/admin/referrals"))
    assert "Приведи друга" in page
    assert "Открыто приглашений" in page
    for form in (
        {"enabled": "on", "reward_points": "0", "min_amount": "0"},  # no reward
        {"reward_points": "x"},
        {"monthly_limit": "0", "reward_points": "100"},
    ):
        refused = post(signed, "/admin/referrals", form, "/admin/referrals")
        assert refused.status_code == 422, form
        assert "Проверьте поля" in text(refused)
    with csrf_app.app_context():
        rules = db.session.get(Program, demo.program_id).rules or {}
    assert "referrals" not in rules
    saved = post(
        signed,
        "/admin/referrals",
        {
            "enabled": "on",
            "min_amount": "1000",
            "reward_points": "300",
            "monthly_limit": "3",
        },
        "/admin/referrals",
    )
    assert saved.status_code == 302
    with csrf_app.app_context():
        rules = db.session.get(Program, demo.program_id).rules or {}
    assert rules["referrals"] == {
        "enabled": True,
        "min_amount": 100000,
        "reward_points": 300,
        "reward_offer_id": None,
        "monthly_limit": 3,
    }
