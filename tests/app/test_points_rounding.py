"""The program's `points_rounding` rule: earned points rounded down (default), to
the nearest or up, at the POS (both write paths); a refund withdraws exactly what
its purchase earned; bad values are 422 and change nothing."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEntry, Program
from app.services import loyalty
from tests.app.marketing_support import auth, marketer_key
from tests.app.pos_support import (
    assert_ledger_matches_balances,
    balance,
    card,
    make_key,
)
from tests.app.test_pos_api import auth as pos_auth
from tests.app.test_pos_api import buy
from tests.conftest import Demo

# Silver earns 3%: receipt (roubles) -> exact points.
#   1000.00 -> 30 (whole), 1050.00 -> 31.5 (a half), 1010.00 -> 30.3, 1016.50 -> 30.495
EXPECTED = {
    "down": {"1000.00": 30, "1050.00": 31, "1010.00": 30, "1016.50": 30},
    "nearest": {"1000.00": 30, "1050.00": 32, "1010.00": 30, "1016.50": 30},
    "up": {"1000.00": 30, "1050.00": 32, "1010.00": 31, "1016.50": 31},
}


@pytest.fixture
def marketer(app: Flask, demo: Demo) -> str:
    return marketer_key(app, demo.program_id)


@pytest.fixture
def till(app: Flask, demo: Demo) -> str:
    return make_key(app)


def set_rounding(client: FlaskClient, key: str, mode: str) -> dict:
    response = client.patch(
        "/api/v1/program", json={"rules": {"points_rounding": mode}}, headers=auth(key)
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_default_is_down(client: FlaskClient, demo: Demo, marketer: str) -> None:
    body = client.get("/api/v1/program", headers=auth(marketer)).get_json()
    assert body["rules"]["points_rounding"] == "down"


@pytest.mark.parametrize("mode", ["down", "nearest", "up"])
def test_each_mode_at_the_pos_and_refunds_reverse_exactly(
    app: Flask,
    client: FlaskClient,
    demo: Demo,
    marketer: str,
    till: str,
    mode: str,
) -> None:
    body = set_rounding(client, marketer, mode)
    assert body["rules"]["points_rounding"] == mode
    # Earn rules change no pass: nothing to refresh.
    assert body["refresh"] is None
    member_id = demo.passes[0].member_id
    number = card(app, member_id).number
    start = balance(app, member_id)
    sales = []
    for amount, points in EXPECTED[mode].items():
        response = buy(client, till, number, amount)
        assert response.status_code == 201, response.get_json()
        assert response.get_json()["earned"] == points, (mode, amount)
        sales.append(response.get_json())
    total = sum(EXPECTED[mode].values())
    assert balance(app, member_id) == start + total

    # The rule changes before the refunds: each refund still withdraws exactly
    # what its purchase earned.
    set_rounding(client, marketer, "up" if mode != "up" else "down")
    for sale in sales:
        refund = client.post(
            f"/api/v1/pos/transactions/{sale['transaction_id']}/refund",
            headers=pos_auth(till),
        )
        assert refund.status_code == 200, refund.get_json()
        assert refund.get_json()["points_withdrawn"] == sale["earned"]
    assert balance(app, member_id) == start
    assert_ledger_matches_balances(app)


def test_rounding_applies_after_redeemed_points(
    app: Flask, client: FlaskClient, demo: Demo, marketer: str, till: str
) -> None:
    """Earned on what is paid in money: 1055.00 - 5 points = 1050.00 -> 31.5."""
    member_id = demo.passes[1].member_id
    barcode = card(app, member_id).barcode
    assert balance(app, member_id) >= 5
    for mode, points in (("nearest", 32), ("down", 31)):
        set_rounding(client, marketer, mode)
        response = buy(client, till, barcode, "1055.00", redeem=5)
        assert response.status_code == 201, response.get_json()
        assert (response.get_json()["earned"], response.get_json()["redeemed"]) == (
            points,
            5,
        )


def test_the_rule_with_a_fractional_point_value(app: Flask, demo: Demo) -> None:
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        # 1 point = 0.40 RUB: 3% of 10.10 RUB = 0.303 RUB = 0.7575 points.
        for mode, points in (("down", 0), ("nearest", 1), ("up", 1)):
            program.rules = {"point_value": "0.4", "points_rounding": mode}
            assert loyalty.earned_points(program, "silver", 10_10) == points
        # Nothing paid in money earns nothing, however it is rounded.
        assert loyalty.earned_points(program, "silver", 0) == 0
        db.session.rollback()


@pytest.mark.parametrize(
    "value", ["DOWN", "", None, 1, True, "ceil", ["up"], {"mode": "up"}]
)
def test_bad_values_are_422_and_change_nothing(
    app: Flask, client: FlaskClient, demo: Demo, marketer: str, value: object
) -> None:
    before = client.get("/api/v1/program", headers=auth(marketer)).get_json()
    response = client.patch(
        "/api/v1/program",
        json={"rules": {"points_rounding": value, "welcome_bonus": 5}},
        headers=auth(marketer),
    )
    assert response.status_code == 422
    answer = response.get_json()
    assert answer["error"] == "invalid_rules"
    assert "points_rounding" in answer["message"]
    assert client.get("/api/v1/program", headers=auth(marketer)).get_json() == before
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuditEntry)) == 0
