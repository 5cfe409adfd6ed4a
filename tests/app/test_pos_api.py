"""The POS API: keys, scan, purchases (earn/redeem), idempotency, refunds, tiers."""

from __future__ import annotations

import json
import uuid

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.extensions import db
from app.models import ApiKey, LedgerEntry, Member, Pass, PosTransaction, Store
from app.services.ledger import balance_from_ledger
from tests.app.pos_support import (
    assert_ledger_matches_balances,
    balance,
    card,
    ledger_count,
    make_key,
    other_program,
)
from tests.conftest import Demo


@pytest.fixture
def key(app: Flask, demo: Demo) -> str:
    return make_key(app)


def auth(key: str, idempotency_key: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {key}"}
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    return headers


def buy(
    client: FlaskClient,
    key: str,
    code: str,
    amount: object = "1000.00",
    redeem: object = 0,
    idem: str | None = None,
    **extra: object,
):
    body = {
        "code": code,
        "amount": amount,
        "receipt_id": "R-1",
        "redeem_points": redeem,
    }
    body.update(extra)
    return client.post(
        "/api/v1/pos/transactions",
        data=json.dumps(body),
        content_type="application/json",
        headers=auth(key, idem or str(uuid.uuid4())),
    )


# -- keys -------------------------------------------------------------------


def test_cli_creates_a_hashed_key_that_can_be_revoked(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["api-key", "create", "--role", "pos", "--store", "msk-atrium"]
    )
    assert result.exit_code == 0, result.output
    key = result.stdout.strip().splitlines()[-1]
    assert key.startswith("wlk_")
    with app.app_context():
        stored = db.session.scalar(select(ApiKey))
        assert stored.key_hash != key
        assert key not in stored.key_hash
        assert stored.store.code == "msk-atrium"
        assert stored.role == "pos"
        prefix = stored.prefix
    assert client.get("/api/v1/pos/me", headers=auth(key)).status_code == 200
    with app.app_context():
        assert db.session.scalar(select(ApiKey.last_used_at)) is not None
    listed = runner.invoke(args=["api-key", "list"])
    assert prefix in listed.output
    assert key not in listed.output
    assert runner.invoke(args=["api-key", "revoke", prefix]).exit_code == 0
    response = client.get("/api/v1/pos/me", headers=auth(key))
    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthorized"


def test_cli_refuses_a_pos_key_without_a_store(app: Flask, demo: Demo) -> None:
    result = app.test_cli_runner().invoke(args=["api-key", "create", "--role", "pos"])
    assert result.exit_code != 0
    assert "needs a store" in result.output


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Basic abc", "Bearer wlk_nope_nope", "Bearer not-a-key"],
)
def test_missing_or_unknown_key_is_401(
    client: FlaskClient, demo: Demo, header: str | None
) -> None:
    headers = {"Authorization": header} if header else {}
    response = client.post("/api/v1/pos/scan", json={"code": "x"}, headers=headers)
    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthorized"


def test_tampered_key_is_401(client: FlaskClient, key: str) -> None:
    tampered = key[:-1] + ("A" if key[-1] != "A" else "B")
    assert client.get("/api/v1/pos/me", headers=auth(tampered)).status_code == 401


def test_wrong_role_and_closed_store_are_403(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    marketer = make_key(app, role="marketer")
    response = client.get("/api/v1/pos/me", headers=auth(marketer))
    assert response.status_code == 403
    pos_key = make_key(app, store_code="spb-nevsky")
    with app.app_context():
        db.session.scalar(
            select(Store).where(Store.code == "spb-nevsky")
        ).active = False
        db.session.commit()
    assert client.get("/api/v1/pos/me", headers=auth(pos_key)).status_code == 403


# -- scan -------------------------------------------------------------------


def test_scan_by_barcode_and_by_typed_number(
    app: Flask, client: FlaskClient, demo: Demo, key: str
) -> None:
    c = card(app, demo.passes[0].member_id)
    by_barcode = client.post(
        "/api/v1/pos/scan", json={"code": c.barcode}, headers=auth(key)
    )
    assert by_barcode.status_code == 200
    body = by_barcode.get_json()
    assert body["name"] == "Анна Смирнова"
    assert body["phone"] == "+7 *** ***-45-67"
    assert body["card_number"] == c.number
    assert body["balance"] == 100  # welcome bonus
    assert body["tier"]["code"] == "silver"
    assert body["tier"]["name"]["en"] == "Silver"
    assert body["offers"] == []
    assert body["back_in_stock"] == []
    assert body["can_redeem"] is True

    spaced = " ".join(c.number[i : i + 4] for i in range(0, 12, 4))
    typed = client.post("/api/v1/pos/scan", json={"code": spaced}, headers=auth(key))
    assert typed.status_code == 200
    assert typed.get_json()["can_redeem"] is False


@pytest.mark.parametrize("kind", ["bad_luhn", "forged_mac", "garbage"])
def test_scan_unknown_code_is_404(
    app: Flask, client: FlaskClient, demo: Demo, key: str, kind: str
) -> None:
    c = card(app, demo.passes[0].member_id)
    code = {
        "bad_luhn": c.number[:-1] + str((int(c.number[-1]) + 1) % 10),
        "forged_mac": c.number + "-AAAAAAAAAA",
        "garbage": "hello",
    }[kind]
    response = client.post("/api/v1/pos/scan", json={"code": code}, headers=auth(key))
    assert response.status_code == 404
    assert response.get_json() == {
        "error": "unknown_card",
        "message": "No card with this code. Scan again.",
    }


def test_scan_needs_a_code(client: FlaskClient, key: str) -> None:
    response = client.post("/api/v1/pos/scan", json={}, headers=auth(key))
    assert response.status_code == 422


def test_another_programs_card_or_store_is_403(
    app: Flask, client: FlaskClient, demo: Demo, key: str
) -> None:
    other_key, other_card = other_program(app)
    response = client.post(
        "/api/v1/pos/scan", json={"code": other_card.barcode}, headers=auth(key)
    )
    assert response.status_code == 403
    assert response.get_json()["error"] == "other_program"
    before = ledger_count(app)
    assert buy(client, key, other_card.barcode).status_code == 403
    # and the other way round, plus a refund in a store that did not sell it
    mine = card(app, demo.passes[0].member_id)
    assert buy(client, other_key, mine.barcode).status_code == 403
    sale = buy(client, key, mine.barcode).get_json()
    nevsky = make_key(app, store_code="spb-nevsky")
    refund = client.post(
        f"/api/v1/pos/transactions/{sale['transaction_id']}/refund",
        headers=auth(nevsky),
    )
    assert refund.status_code == 403
    assert ledger_count(app) == before + 1  # only the one good purchase


# -- purchases --------------------------------------------------------------


def test_purchase_earns_tier_percent_rounded_down(
    app: Flask, client: FlaskClient, demo: Demo, key: str
) -> None:
    c = card(app, demo.passes[0].member_id)
    response = buy(client, key, c.number, amount="1499.99")
    assert response.status_code == 201
    body = response.get_json()
    # silver 3 %: 44.9997 -> 44
    assert body["earned"] == 44
    assert body["redeemed"] == 0
    assert body["balance"] == 144
    assert body["amount"] == "1499.99"
    assert body["currency"] == "RUB"
    assert body["tier"]["code"] == "silver"
    assert response.headers["Idempotent-Replayed"] == "false"
    assert balance(app, c.member_id) == 144
    with app.app_context():
        entry = db.session.scalar(select(LedgerEntry).where(LedgerEntry.kind == "earn"))
        assert entry.points == 44
        assert entry.amount_kopecks == 149999
        assert entry.receipt_id == "R-1"
        assert entry.transaction_id == body["transaction_id"]
        assert entry.api_key_id is not None
        assert entry.store_id is not None
    assert_ledger_matches_balances(app)


def test_redeem_with_barcode_earns_on_the_paid_part(
    app: Flask, client: FlaskClient, demo: Demo, key: str
) -> None:
    c = card(app, demo.passes[0].member_id)
    body = buy(client, key, c.barcode, amount=1000, redeem=100).get_json()
    assert body["redeemed"] == 100
    assert body["earned"] == 27  # 3 % of 900
    assert body["balance"] == 27
    assert_ledger_matches_balances(app)


def test_amount_as_json_number_with_decimals(
    app: Flask, client: FlaskClient, demo: Demo, key: str
) -> None:
    c = card(app, demo.passes[0].member_id)
    response = client.post(
        "/api/v1/pos/transactions",
        data=f'{{"code": "{c.number}", "amount": 333.33, "receipt_id": 17}}',
        content_type="application/json",
        headers=auth(key, "number-amount-1"),
    )
    assert response.status_code == 201
    assert response.get_json()["amount"] == "333.33"
    assert response.get_json()["earned"] == 9  # 9.9999 -> 9


def test_redeem_needs_the_barcode_not_a_typed_number(
    app: Flask, client: FlaskClient, demo: Demo, key: str
) -> None:
    c = card(app, demo.passes[0].member_id)
    before = ledger_count(app)
    response = buy(client, key, c.number, redeem=10)
    assert response.status_code == 403
    assert response.get_json()["error"] == "barcode_required"
    assert "barcode" in response.get_json()["message"]
    assert ledger_count(app) == before
    assert balance(app, c.member_id) == 100


def test_redeem_over_balance_or_share_is_422_with_the_limit(
    app: Flask, client: FlaskClient, demo: Demo, key: str
) -> None:
    c = card(app, demo.passes[0].member_id)
    before = ledger_count(app)
    over_balance = buy(client, key, c.barcode, amount=10000, redeem=101)
    assert over_balance.status_code == 422
    assert over_balance.get_json()["error"] == "insufficient_points"
    assert "100" in over_balance.get_json()["message"]
    over_share = buy(client, key, c.barcode, amount="200.00", redeem=61)
    assert over_share.status_code == 422
    assert over_share.get_json() == {
        "error": "redeem_limit",
        "message": "At most 60 points can pay for this receipt (30% of it).",
    }
    assert buy(client, key, c.barcode, amount="200.00", redeem=60).status_code == 201
    assert ledger_count(app) == before + 2  # redeem + earn of the good one


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"amount": 0}, "invalid_amount"),
        ({"amount": "-5"}, "invalid_amount"),
        ({"amount": "abc"}, "invalid_amount"),
        ({"amount": "10.001"}, "invalid_amount"),
        ({"amount": "NaN"}, "invalid_amount"),
        ({"amount": "Infinity"}, "invalid_amount"),
        ({"amount": True}, "invalid_amount"),
        ({"amount": None}, "invalid_amount"),
        ({"amount": "1e12"}, "invalid_amount"),
        ({"currency": "USD"}, "unknown_currency"),
        ({"receipt_id": ""}, "invalid_receipt_id"),
        ({"receipt_id": None}, "invalid_receipt_id"),
        ({"redeem_points": -1}, "invalid_redeem_points"),
        ({"redeem_points": 1.5}, "invalid_redeem_points"),
        ({"redeem_points": "10"}, "invalid_redeem_points"),
        ({"code": ""}, "invalid_code"),
    ],
)
def test_bad_input_is_422_and_changes_nothing(
    app: Flask, client: FlaskClient, demo: Demo, key: str, change: dict, error: str
) -> None:
    c = card(app, demo.passes[0].member_id)
    body = {"code": c.barcode, "amount": "100", "receipt_id": "R-9", "redeem_points": 0}
    body.update(change)
    before = ledger_count(app)
    response = client.post(
        "/api/v1/pos/transactions",
        data=json.dumps(body),
        content_type="application/json",
        headers=auth(key, "bad-input-key-1"),
    )
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["error"] == error
    assert ledger_count(app) == before
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(PosTransaction)) == 0
    # the key was not used up by the bad request
    body.update({"code": c.barcode, "amount": "100", "receipt_id": "R-9"})
    body.update({"redeem_points": 0, "currency": "RUB"})
    ok = client.post(
        "/api/v1/pos/transactions",
        data=json.dumps(body),
        content_type="application/json",
        headers=auth(key, "bad-input-key-1"),
    )
    assert ok.status_code == 201


def test_unknown_card_purchase_is_404(client: FlaskClient, key: str) -> None:
    response = buy(client, key, "000000000000")
    assert response.status_code == 404
    assert response.get_json()["error"] == "unknown_card"


def test_idempotency_key_is_required(
    app: Flask, client: FlaskClient, demo: Demo, key: str
) -> None:
    c = card(app, demo.passes[0].member_id)
    for headers in (auth(key), auth(key, "short")):
        response = client.post(
            "/api/v1/pos/transactions",
            json={"code": c.number, "amount": "10", "receipt_id": "R"},
            headers=headers,
        )
        assert response.status_code == 400
        assert response.get_json()["error"] == "idempotency_key_required"


def test_malformed_json_is_400(client: FlaskClient, key: str) -> None:
    response = client.post(
        "/api/v1/pos/transactions",
        data="{nope",
        content_type="application/json",
        headers=auth(key, "malformed-json-1"),
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_json"


def test_same_key_same_body_replays_and_different_body_is_422(
    app: Flask, client: FlaskClient, demo: Demo, key: str
) -> None:
    c = card(app, demo.passes[0].member_id)
    first = buy(client, key, c.barcode, amount="500", redeem=50, idem="retry-key-0001")
    again = buy(client, key, c.barcode, amount="500", redeem=50, idem="retry-key-0001")
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    # "500" and "500.00" are the same purchase
    same = buy(
        client, key, c.barcode, amount="500.00", redeem=50, idem="retry-key-0001"
    )
    assert same.get_json() == first.get_json()
    other = buy(client, key, c.barcode, amount="600", redeem=50, idem="retry-key-0001")
    assert other.status_code == 422
    assert other.get_json()["error"] == "idempotency_key_reused"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(PosTransaction)) == 1
        kinds = db.session.scalars(
            select(LedgerEntry.kind).where(LedgerEntry.member_id == c.member_id)
        ).all()
        assert sorted(kinds) == ["bonus", "earn", "redeem"]
    assert balance(app, c.member_id) == 100 - 50 + 13
    assert_ledger_matches_balances(app)


# -- refunds ----------------------------------------------------------------


def test_refund_reverses_points_once(
    app: Flask, client: FlaskClient, demo: Demo, key: str
) -> None:
    c = card(app, demo.passes[0].member_id)
    sale = buy(client, key, c.barcode, amount="1000", redeem=100).get_json()
    assert balance(app, c.member_id) == 27
    url = f"/api/v1/pos/transactions/{sale['transaction_id']}/refund"
    first = client.post(url, headers=auth(key))
    assert first.status_code == 200
    body = first.get_json()
    assert body["points_returned"] == 100
    assert body["points_withdrawn"] == 27
    assert body["balance"] == 100
    assert first.headers["Idempotent-Replayed"] == "false"
    again = client.post(url, headers=auth(key))
    assert again.status_code == 200
    assert again.get_json() == body
    assert again.headers["Idempotent-Replayed"] == "true"
    assert balance(app, c.member_id) == 100
    with app.app_context():
        refunds = db.session.scalar(
            select(func.count()).where(LedgerEntry.kind == "refund")
        )
        assert refunds == 2
        assert balance_from_ledger(c.member_id) == 100
    listed = client.get("/api/v1/pos/transactions", headers=auth(key)).get_json()
    assert listed["transactions"][0]["refunded"] is True
    # The recent list names the customer, as the till's scan does.
    with app.app_context():
        name = db.session.get(Member, c.member_id).name
    assert listed["transactions"][0]["member_name"] == name
    assert (
        client.post(
            "/api/v1/pos/transactions/999999/refund", headers=auth(key)
        ).status_code
        == 404
    )
    assert_ledger_matches_balances(app)


def test_refund_after_spending_leaves_a_visible_debt(
    app: Flask, client: FlaskClient, demo: Demo, key: str
) -> None:
    c = card(app, demo.passes[0].member_id)
    sale = buy(client, key, c.barcode, amount="10000").get_json()  # +300
    assert buy(client, key, c.barcode, amount="10000", redeem=400).status_code == 201
    assert balance(app, c.member_id) == 0 + 288
    refund = client.post(
        f"/api/v1/pos/transactions/{sale['transaction_id']}/refund", headers=auth(key)
    ).get_json()
    assert refund["balance"] == -12
    assert_ledger_matches_balances(app)


# -- tiers, bonus, pass -----------------------------------------------------


def test_spend_upgrades_the_tier_and_updates_the_pass(
    app: Flask, client: FlaskClient, demo: Demo, key: str
) -> None:
    c = card(app, demo.passes[0].member_id)
    with app.app_context():
        tag_before = db.session.scalar(
            select(Pass.update_tag).where(Pass.member_id == c.member_id)
        )
    first = buy(client, key, c.barcode, amount="20000").get_json()
    assert first["tier"]["code"] == "silver"
    assert not first["tier_upgraded"]
    second = buy(client, key, c.barcode, amount="10000").get_json()
    assert second["earned"] == 300  # earned at the tier held before the purchase
    assert second["tier"]["code"] == "gold"
    assert second["tier_upgraded"]
    third = buy(client, key, c.barcode, amount="1000").get_json()
    assert third["earned"] == 50  # gold: 5 %
    with app.app_context():
        member = db.session.get(Member, c.member_id)
        assert member.tier == "gold"
        pass_ = db.session.scalar(select(Pass).where(Pass.member_id == c.member_id))
        assert pass_.update_tag > tag_before
        from app.services.passes import member_view

        view = member_view(pass_)
        assert view.points == member.points
        assert view.tier["en"] == "Gold"


def test_sign_up_credits_the_welcome_bonus_once(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    form = {
        "name": "Мария Петрова",
        "phone": "+7 912 345-67-89",
        "city": "Москва",
        "language": "ru",
        "consent": "on",
    }
    assert client.post("/join", data=form).status_code == 303
    again = client.post("/join", data=form)  # same phone: the link goes by SMS
    assert again.status_code == 200
    with app.app_context():
        member = db.session.scalar(select(Member).where(Member.phone == "+79123456789"))
        entries = db.session.scalars(
            select(LedgerEntry).where(LedgerEntry.member_id == member.id)
        ).all()
        assert [(e.kind, e.points) for e in entries] == [("bonus", 100)]
        assert member.points == 100


@pytest.mark.parametrize(("lang", "text"), [("ru", "Касса"), ("en", "Till")])
def test_pos_page_in_both_languages_with_a_strict_policy(
    client: FlaskClient, lang: str, text: str
) -> None:
    response = client.get(f"/pos?lang={lang}")
    assert response.status_code == 200
    assert f"<title>{text}</title>" in response.text
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
