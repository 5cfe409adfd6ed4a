"""Closed cards stay closed (issue 14 §3): after erasure or a voided pass the till
refuses the card (410 `card_closed`) on scan, purchase, redemption, refund and
back-in-stock; erasure forfeits the balance in the ledger; once the void has gone
out, the pass's registrations, devices and outbox tokens are forgotten."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from app.extensions import db
from app.models import Device, LedgerEntry, Member, Pass, PushDelivery, Registration
from app.models.base import utcnow
from app.models.push import QUEUED
from app.services import closed_cards, ledger, scheduler
from app.services.passes import refresh_pass
from tests.app.pos_support import (
    assert_ledger_matches_balances,
    balance,
    card,
    make_key,
)
from tests.app.test_pos_api import buy
from tests.conftest import Demo, DemoPass
from tests.support.apns_server import ApnsStandIn
from tests.support.push import drain


def erase(client: FlaskClient, p: DemoPass) -> None:
    response = client.post(f"/c/{p.card_token}/erase", data={"confirm": "yes"})
    assert response.status_code == 303


def void(app: Flask, member_id: int) -> None:
    with app.app_context():
        db.session.execute(
            update(Pass).where(Pass.member_id == member_id).values(voided=True)
        )
        db.session.commit()


def give_points(app: Flask, member_id: int, points: int) -> None:
    with app.app_context():
        member = ledger.lock_member(member_id)
        ledger.post(member, "adjustment", points)
        db.session.commit()


def scan(client: FlaskClient, key: str, code: str):
    return client.post(
        "/api/v1/pos/scan",
        json={"code": code},
        headers={"Authorization": f"Bearer {key}"},
    )


def assert_closed(response) -> None:
    assert response.status_code == 410, response.get_json()
    assert response.get_json()["error"] == "card_closed"


@pytest.mark.parametrize("how", ["erased", "voided"])
def test_the_till_refuses_a_closed_card(
    app: Flask, client: FlaskClient, demo: Demo, how: str
) -> None:
    p = demo.passes[0]
    key = make_key(app)
    the_card = card(app, p.member_id)
    give_points(app, p.member_id, 300)
    if how == "erased":
        erase(client, p)
    else:
        void(app, p.member_id)
    points = balance(app, p.member_id)
    with app.app_context():
        entries = db.session.scalar(select(func.count()).select_from(LedgerEntry))

    assert_closed(scan(client, key, the_card.barcode))
    assert_closed(scan(client, key, the_card.number))
    assert_closed(buy(client, key, the_card.number, amount="1000"))  # earn
    assert_closed(buy(client, key, the_card.barcode, amount="1000", redeem=10))
    assert_closed(buy(client, key, the_card.number, amount="1000", redeem=10))
    assert_closed(
        client.post(
            "/api/v1/pos/subscriptions",
            json={"code": the_card.barcode, "sku": "nothing"},
            headers={"Authorization": f"Bearer {key}"},
        )
    )

    assert balance(app, p.member_id) == points
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(LedgerEntry)) == (
            entries
        )
    # Other cards are served as before.
    assert (
        scan(client, key, card(app, demo.passes[1].member_id).barcode).status_code
        == 200
    )


def test_erasure_forfeits_the_balance_in_the_ledger(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    p = demo.passes[0]
    give_points(app, p.member_id, 250)
    before = balance(app, p.member_id)
    assert before > 0

    erase(client, p)

    assert balance(app, p.member_id) == 0
    with app.app_context():
        [entry] = db.session.scalars(
            select(LedgerEntry).where(
                LedgerEntry.member_id == p.member_id, LedgerEntry.kind == "forfeit"
            )
        )
        assert entry.points == -before
        assert ledger.balance_from_ledger(p.member_id) == 0
    assert_ledger_matches_balances(app)


def test_a_refund_after_the_card_closed_moves_no_points(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    p = demo.passes[0]
    key = make_key(app)
    first = buy(client, key, card(app, p.member_id).number, amount="2000")
    second = buy(client, key, card(app, p.member_id).number, amount="3000")
    assert first.status_code == second.status_code == 201
    done = client.post(
        f"/api/v1/pos/transactions/{first.get_json()['transaction_id']}/refund",
        headers={"Authorization": f"Bearer {key}"},
    )
    assert done.status_code == 200
    erase(client, p)

    refused = client.post(
        f"/api/v1/pos/transactions/{second.get_json()['transaction_id']}/refund",
        headers={"Authorization": f"Bearer {key}"},
    )
    assert_closed(refused)
    assert balance(app, p.member_id) == 0
    # A refund made before the card closed still answers as it did.
    again = client.post(
        f"/api/v1/pos/transactions/{first.get_json()['transaction_id']}/refund",
        headers={"Authorization": f"Bearer {key}"},
    )
    assert again.status_code == 200
    assert again.get_json() == done.get_json()
    assert_ledger_matches_balances(app)


TOKENS = ["a" * 64, "b" * 64, "c" * 64]


def register(client: FlaskClient, demo: Demo, p: DemoPass, device: str, token: str):
    response = client.post(
        f"/wallet/v1/devices/{device}/registrations/{demo.pass_type}/{p.serial}",
        json={"pushToken": token},
        headers={"Authorization": f"ApplePass {p.token}"},
    )
    assert response.status_code == 201


def traces(app: Flask, pass_id: int) -> tuple[int, int, set[str]]:
    """(registrations, devices, outbox tokens) left for the pass."""
    with app.app_context():
        registrations = db.session.scalar(
            select(func.count())
            .select_from(Registration)
            .where(Registration.pass_id == pass_id)
        )
        devices = db.session.scalar(select(func.count()).select_from(Device))
        tokens = set(
            db.session.scalars(
                select(PushDelivery.push_token).where(PushDelivery.pass_id == pass_id)
            )
        )
        return registrations, devices, tokens


def test_a_delivered_void_forgets_the_devices_and_tokens(
    app: Flask,
    client: FlaskClient,
    demo: Demo,
    push_app: Flask,
    apns: ApnsStandIn,
) -> None:
    p, other = demo.passes[0], demo.passes[1]
    register(client, demo, p, "closed-phone-0001", TOKENS[0])
    register(client, demo, p, "closed-phone-0002", TOKENS[1])
    # A phone holding both cards keeps its token for the other one.
    register(client, demo, p, "shared-phone-0003", TOKENS[2])
    register(client, demo, other, "shared-phone-0003", TOKENS[2])
    with app.app_context():
        pass_id = db.session.scalar(
            select(Pass.id).where(Pass.member_id == p.member_id)
        )
    give_points(app, p.member_id, 100)
    with app.app_context():
        refresh_pass(db.session.get(Pass, pass_id))
        db.session.commit()
    drain(push_app)  # an earlier update went out: old outbox rows with tokens

    erase(client, p)
    later = utcnow() + closed_cards.VOID_GRACE + timedelta(hours=1)
    with app.app_context():
        queued = db.session.scalar(
            select(func.count())
            .select_from(PushDelivery)
            .where(PushDelivery.pass_id == pass_id, PushDelivery.status == QUEUED)
        )
        assert queued == 3  # the void is on its way to every phone
        # Not delivered yet: nothing is forgotten, however late.
        assert closed_cards.forget_closed_passes(later) == []
        db.session.commit()
    assert traces(app, pass_id) == (3, 3, set(TOKENS))

    drain(push_app)
    assert {x.token for x in apns.pushes[-3:]} == set(TOKENS)
    with app.app_context():
        # Delivered a moment ago: the phones still ask for the voided pass.
        assert closed_cards.forget_closed_passes(utcnow()) == []
        db.session.commit()
    listing = client.get(
        f"/wallet/v1/devices/closed-phone-0001/registrations/{demo.pass_type}"
    )
    assert listing.status_code == 200

    with app.app_context():
        assert scheduler.run_due(later)["closed_passes"] == "ok"
    assert traces(app, pass_id) == (0, 1, {""})
    with app.app_context():
        shared = db.session.scalar(
            select(Device).where(
                Device.device_library_identifier == "shared-phone-0003"
            )
        )
        assert shared is not None
        assert shared.push_token == TOKENS[2]
        assert [r.pass_.serial_number for r in shared.registrations] == [other.serial]
        member = db.session.get(Member, p.member_id)
        assert member.erased_at is not None
    gone = client.get(
        f"/wallet/v1/devices/closed-phone-0001/registrations/{demo.pass_type}"
    )
    assert gone.status_code == 204
    # Nothing left to do: the next run finds nothing.
    with app.app_context():
        assert closed_cards.forget_closed_passes(later) == []


def test_the_cashier_page_explains_a_closed_card_in_its_language(
    client: FlaskClient,
) -> None:
    def texts(query: str) -> dict[str, str]:
        page = client.get(f"/pos{query}").get_data(True)
        found = re.search(r'id="page-i18n">(.*?)</script>', page, re.S)
        assert found is not None
        return json.loads(found.group(1))["texts"]

    assert texts("?lang=ru")["error.card_closed"].startswith("Карта закрыта")
    assert texts("?lang=en")["error.card_closed"].startswith("This card is closed")
