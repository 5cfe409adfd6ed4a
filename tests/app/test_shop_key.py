"""A web shop's key (role shop, no store) earns, redeems and refunds through the
POS API; its purchases are recorded with channel `online` and counted apart in
the stats (issue 20)."""

from __future__ import annotations

import uuid

import pytest
from flask import Flask
from sqlalchemy import select

from app.extensions import db
from app.models import PosTransaction, Program, Store
from app.services.auth import create_key
from tests.app.marketing_support import auth, marketer_key
from tests.app.pos_support import assert_ledger_matches_balances, card, make_key
from tests.conftest import Demo


@pytest.fixture
def shop(app: Flask, demo: Demo) -> str:
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        key = create_key("shop", program=program).key
        db.session.commit()
        return key


def sale(client, key: str, code: str, receipt: str, redeem: int = 0):  # type: ignore[no-untyped-def]
    return client.post(
        "/api/v1/pos/transactions",
        json={
            "code": code,
            "amount": "1000.00",
            "receipt_id": receipt,
            "redeem_points": redeem,
        },
        headers={**auth(key), "Idempotency-Key": str(uuid.uuid4())},
    )


def test_shop_earns_redeems_refunds_online(app: Flask, demo: Demo, shop: str) -> None:
    client = app.test_client()
    me = client.get("/api/v1/pos/me", headers=auth(shop)).get_json()
    assert (me["store"], me["channel"]) == (None, "online")
    c = card(app, demo.passes[0].member_id)
    assert (
        client.post(
            "/api/v1/pos/scan", json={"code": c.barcode}, headers=auth(shop)
        ).status_code
        == 200
    )
    earned = sale(client, shop, c.barcode, "web-1")
    assert earned.status_code == 201, earned.get_json()
    redeemed = sale(client, shop, c.barcode, "web-2", redeem=50)
    assert redeemed.status_code == 201, redeemed.get_json()
    assert redeemed.get_json()["redeemed"] == 50
    till = make_key(app)
    at_till = sale(client, till, c.barcode, "till-1")
    assert at_till.status_code == 201
    with app.app_context():
        channels = dict(
            db.session.execute(
                select(PosTransaction.receipt_id, PosTransaction.channel)
            ).all()
        )
        online = db.session.scalar(select(Store).where(Store.code == "online"))
        assert online is not None
        assert online.active is False  # no pass, form or list shows it
    assert channels == {"web-1": "online", "web-2": "online", "till-1": "store"}
    # The shop refunds its own purchase, not a till's, and lists only its own.
    refund = client.post(
        f"/api/v1/pos/transactions/{earned.get_json()['transaction_id']}/refund",
        headers=auth(shop),
    )
    assert refund.status_code == 200, refund.get_json()
    other = client.post(
        f"/api/v1/pos/transactions/{at_till.get_json()['transaction_id']}/refund",
        headers=auth(shop),
    )
    assert other.status_code == 403
    listed = client.get("/api/v1/pos/transactions", headers=auth(shop)).get_json()
    assert {t["receipt_id"] for t in listed["transactions"]} == {"web-1", "web-2"}
    stats = client.get(
        "/api/v1/stats", headers=auth(marketer_key(app, demo.program_id))
    ).get_json()
    assert (
        stats["totals"]["purchases_online"],
        stats["totals"]["purchases_store"],
    ) == (
        2,
        1,
    )
    assert_ledger_matches_balances(app)


def test_shop_keys_have_no_store_and_cannot_use_marketer_routes(
    app: Flask, demo: Demo, shop: str
) -> None:
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        store = db.session.scalar(select(Store).where(Store.program_id == program.id))
        with pytest.raises(ValueError, match="no store"):
            create_key("shop", program=program, store=store)
    client = app.test_client()
    assert client.get("/api/v1/members", headers=auth(shop)).status_code == 403
    runner = app.test_cli_runner()
    made = runner.invoke(args=["api-key", "create", "--role", "shop"])
    assert made.exit_code == 0, made.output
    assert made.stdout.strip().startswith("wlk_")
