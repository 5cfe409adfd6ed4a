"""Stamp cards: settings, a stamp per qualifying purchase (idempotent), the
reward offer at N, refunds taking stamps back, the pass front, counts."""

from __future__ import annotations

import json
import uuid

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, select

import passes
from app.extensions import db
from app.models import Member, MemberOffer, Pass
from app.services import passes as pass_service
from tests.app.marketing_support import auth, marketer_key
from tests.app.pos_support import assert_ledger_matches_balances, card, make_key
from tests.conftest import Demo

GIFT = {
    "kind": "gift",
    "title": {"ru": "Кофе в подарок", "en": "A free coffee"},
    "valid_days": 30,
    "min_amount": 0,
}


@pytest.fixture
def mkey(app: Flask, demo: Demo) -> str:
    return marketer_key(app, demo.program_id)


@pytest.fixture
def pos(app: Flask, demo: Demo) -> str:
    return make_key(app)


def send(client: FlaskClient, method: str, key: str, path: str, body: object):
    return client.open(
        path,
        method=method,
        data=json.dumps(body),
        content_type="application/json",
        headers=auth(key),
    )


def gift_offer(client: FlaskClient, mkey: str) -> int:
    response = send(client, "POST", mkey, "/api/v1/offers", GIFT)
    assert response.status_code == 201, response.json
    return int(response.json["id"])


def run_stamps(client: FlaskClient, mkey: str, **changes: object) -> int:
    offer_id = gift_offer(client, mkey)
    body = {"enabled": True, "target": 6, "reward_offer_id": offer_id, **changes}
    response = send(client, "PATCH", mkey, "/api/v1/stamps", body)
    assert response.status_code == 200, response.json
    return offer_id


def buy(
    client: FlaskClient,
    key: str,
    code: str,
    amount: str = "300.00",
    idem: str | None = None,
    **extra: object,
):
    body: dict[str, object] = {"code": code, "amount": amount, "receipt_id": "R-1"}
    body.update(extra)
    return client.post(
        "/api/v1/pos/transactions",
        data=json.dumps(body),
        content_type="application/json",
        headers={
            "Authorization": f"Bearer {key}",
            "Idempotency-Key": idem or str(uuid.uuid4()),
        },
    )


def refund(client: FlaskClient, key: str, transaction_id: int):
    return client.post(
        f"/api/v1/pos/transactions/{transaction_id}/refund",
        headers={"Authorization": f"Bearer {key}"},
    )


def stamps_of(app: Flask, member_id: int) -> int:
    with app.app_context():
        return db.session.get(Member, member_id).stamps


def rewards(app: Flask, member_id: int) -> list[str]:
    with app.app_context():
        return list(
            db.session.scalars(
                select(MemberOffer.status)
                .where(
                    MemberOffer.member_id == member_id,
                    MemberOffer.source_kind == "stamps",
                )
                .order_by(MemberOffer.id)
            )
        )


def stamps_field(app: Flask, member_id: int) -> dict | None:
    """The pass front's stamps field (and the stored hash is the real one)."""
    with app.app_context():
        pass_ = db.session.scalar(select(Pass).where(Pass.member_id == member_id))
        assert pass_.content_hash == pass_service.content_hash(pass_)
        inputs = pass_service.pass_inputs(pass_)
        built = passes.build_pass_json(*inputs)
        fields = built["storeCard"]["primaryFields"]
        return fields[0] if fields else None


def test_settings_are_checked_and_shown(
    client: FlaskClient, mkey: str, demo: Demo
) -> None:
    got = client.get("/api/v1/stamps", headers=auth(mkey))
    assert got.status_code == 200
    assert got.json["enabled"] is False
    for body, code in (
        ({"enabled": True}, "invalid_stamps"),  # no reward offer
        ({"target": 1}, "invalid_stamps"),
        ({"target": "6"}, "invalid_stamps"),
        ({"enabled": "yes"}, "invalid_stamps"),
        ({"min_amount": "-1"}, "invalid_stamps"),
        ({"colour": "red"}, "invalid_stamps"),
    ):
        response = send(client, "PATCH", mkey, "/api/v1/stamps", body)
        assert response.status_code == 422, body
        assert response.json["error"] == code
    response = send(
        client,
        "PATCH",
        mkey,
        "/api/v1/stamps",
        {"enabled": True, "reward_offer_id": 987654},
    )
    assert response.status_code == 404
    # An unknown offer is refused even while the card is off.
    response = send(client, "PATCH", mkey, "/api/v1/stamps", {"reward_offer_id": "x"})
    assert response.status_code == 404
    assert client.get("/api/v1/stamps", headers=auth(mkey)).json == {
        "enabled": False,
        "target": 6,
        "min_amount": "0.00",
        "reward_offer_id": None,
    }
    offer_id = run_stamps(client, mkey, min_amount="250.50")
    got = client.get("/api/v1/stamps", headers=auth(mkey)).json
    assert got == {
        "enabled": True,
        "target": 6,
        "min_amount": "250.50",
        "reward_offer_id": offer_id,
    }


def test_no_stamp_card_no_stamps(
    app: Flask, client: FlaskClient, pos: str, demo: Demo
) -> None:
    member_id = demo.passes[0].member_id
    response = buy(client, pos, card(app, member_id).barcode, qualifying=True)
    assert response.status_code == 201, response.json
    assert "stamps" not in response.json
    assert stamps_of(app, member_id) == 0
    assert stamps_field(app, member_id) is None
    bad = buy(client, pos, card(app, member_id).barcode, qualifying="yes")
    assert bad.status_code == 422
    assert bad.json["error"] == "invalid_qualifying"


def test_six_stamps_give_the_reward_and_restart(
    app: Flask, client: FlaskClient, mkey: str, pos: str, demo: Demo
) -> None:
    run_stamps(client, mkey)
    member_id = demo.passes[0].member_id
    c = card(app, member_id)
    # Not flagged and no minimum amount: no stamp.
    plain = buy(client, pos, c.barcode)
    assert "stamps" not in plain.json
    idem = str(uuid.uuid4())
    first = buy(client, pos, c.barcode, idem=idem, qualifying=True)
    assert first.json["stamps"] == {"count": 1, "target": 6, "rewarded": False}
    # A retry of the same purchase adds nothing.
    again = buy(client, pos, c.barcode, idem=idem, qualifying=True)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json["stamps"]["count"] == 1
    assert stamps_of(app, member_id) == 1
    for n in (2, 3, 4):
        assert buy(client, pos, c.barcode, qualifying=True).json["stamps"]["count"] == n
    field = stamps_field(app, member_id)
    assert field is not None
    assert field["value"] == "●●●●○○ 4 из 6"
    assert field["label"] == "Штампы"
    assert "changeMessage" not in field
    assert buy(client, pos, c.barcode, qualifying=True).json["stamps"]["count"] == 5
    field = stamps_field(app, member_id)
    assert field is not None
    assert field["value"] == "●●●●●○ 5 из 6"
    assert field["changeMessage"] == "Ещё один штамп до подарка: %@"
    last = buy(client, pos, c.barcode, qualifying=True)
    assert last.json["stamps"] == {"count": 0, "target": 6, "rewarded": True}
    assert stamps_of(app, member_id) == 0
    assert rewards(app, member_id) == ["issued"]
    field = stamps_field(app, member_id)
    assert field is not None
    assert field["value"] == "○○○○○○ 0 из 6"
    with app.app_context():
        pass_ = db.session.scalar(select(Pass).where(Pass.member_id == member_id))
        assert pass_ is not None
        shown = pass_service.member_view(pass_)
        assert [o.title for o in shown.offers] == ["Кофе в подарок"]
        assert shown.offers_new  # the phone notifies of the reward
    stats = client.get("/api/v1/stamps/stats", headers=auth(mkey)).json
    assert stats == {"stamps_given": 6, "rewards_issued": 1, "members_collecting": 0}
    assert_ledger_matches_balances(app)


def test_minimum_amount_qualifies(
    app: Flask, client: FlaskClient, mkey: str, pos: str, demo: Demo
) -> None:
    run_stamps(client, mkey, min_amount="500")
    c = card(app, demo.passes[0].member_id)
    assert "stamps" not in buy(client, pos, c.barcode, "499.99").json
    assert buy(client, pos, c.barcode, "500.00").json["stamps"]["count"] == 1
    assert (
        buy(client, pos, c.number, "10.00", qualifying=True).json["stamps"]["count"]
        == 2
    )


def test_refunds_take_stamps_back(
    app: Flask, client: FlaskClient, mkey: str, pos: str, demo: Demo
) -> None:
    run_stamps(client, mkey, target=3)
    member_id = demo.passes[0].member_id
    c = card(app, member_id)
    one = buy(client, pos, c.barcode, qualifying=True).json["transaction_id"]
    buy(client, pos, c.barcode, qualifying=True)
    plain = buy(client, pos, c.barcode).json["transaction_id"]
    assert refund(client, pos, plain).json.get("stamps") is None
    assert stamps_of(app, member_id) == 2
    back = refund(client, pos, one)
    assert back.status_code == 200, back.json
    assert back.json["stamps"] == 1
    assert refund(client, pos, one).json["stamps"] == 1  # asked again: same answer
    assert stamps_of(app, member_id) == 1
    buy(client, pos, c.barcode, qualifying=True)
    completing = buy(client, pos, c.barcode, qualifying=True).json
    assert completing["stamps"]["rewarded"] is True
    assert rewards(app, member_id) == ["issued"]
    # Refunding the purchase that completed the card cancels the unused reward.
    back = refund(client, pos, completing["transaction_id"])
    assert back.json["stamps"] == 2
    assert rewards(app, member_id) == ["cancelled"]
    assert stamps_of(app, member_id) == 2
    field = stamps_field(app, member_id)
    assert field is not None
    assert field["value"] == "●●○ 2 из 3"
    stats = client.get("/api/v1/stamps/stats", headers=auth(mkey)).json
    assert stats == {"stamps_given": 2, "rewards_issued": 0, "members_collecting": 1}
    assert_ledger_matches_balances(app)


def test_migration_down_and_up_matches_the_models(app: Flask, demo: Demo) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with app.app_context():
        db.session.remove()
        downgrade(revision="0023_herd")
        db.engine.dispose()
        columns = {c["name"] for c in inspect(db.engine).get_columns("member")}
        assert "stamps" not in columns
        assert "referral" not in inspect(db.engine).get_table_names()
        upgrade()
        db.engine.dispose()
        with db.engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), db.metadata)
        mine = [d for d in diff if "stamps" in repr(d) or "referral" in repr(d)]
        assert mine == []
        assert db.session.scalar(select(Member.stamps).where(Member.id == 1)) == 0


def test_card_page_shows_the_stamps(
    app: Flask, client: FlaskClient, mkey: str, pos: str, demo: Demo
) -> None:
    member = demo.passes[0]
    page = client.get(f"/c/{member.card_token}?lang=ru").get_data(as_text=True)
    assert 'id="stamps"' not in page
    run_stamps(client, mkey)
    c = card(app, member.member_id)
    for _ in range(4):
        buy(client, pos, c.barcode, qualifying=True)
    page = client.get(f"/c/{member.card_token}?lang=ru").get_data(as_text=True)
    assert "●●●●○○" in page
    assert "4 из 6" in page
    assert "ещё 2 штампа до подарка" in page
    assert "Подарок: Кофе в подарок" in page
    buy(client, pos, c.barcode, qualifying=True)
    page = client.get(f"/c/{member.card_token}?lang=ru").get_data(as_text=True)
    assert "ещё 1 штамп до подарка" in page
    english = client.get(f"/c/{member.card_token}?lang=en").get_data(as_text=True)
    assert "5 of 6" in english
    assert "1 more stamp to your gift" in english
    assert "Gift: A free coffee" in english
