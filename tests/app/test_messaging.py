"""Messages to members (pass offer field + Google message), and Google work
through the outbox: POS purchase -> PATCH with notification, message ->
addMessage, erasure -> EXPIRED, all delivered by the worker."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import date

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

import passes
from app.extensions import db
from app.models import Member, MemberMessage, PushDelivery, Store
from app.services import messaging
from app.services.auth import create_key
from app.services.passes import barcode_secret
from tests.app.test_google import member_by_token, sign_up
from tests.conftest import Demo
from tests.support.google_server import GoogleStandIn
from tests.support.push import drain

TEXTS = {"ru": "−20% на пальто до воскресенья", "en": "−20% on coats until Sunday"}


def register(client: FlaskClient, demo: Demo, index: int = 0) -> None:
    p = demo.passes[index]
    response = client.post(
        f"/wallet/v1/devices/dev-{index}/registrations/{demo.pass_type}/{p.serial}",
        json={"pushToken": f"{index:02d}" * 32},
        headers={"Authorization": f"ApplePass {p.token}"},
    )
    assert response.status_code == 201


def test_a_message_becomes_the_offer_field_and_a_push_once(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    register(client, demo)
    p = demo.passes[0]
    with app.app_context():
        member = db.session.get(Member, p.member_id)
        sent = messaging.deliver(
            member,
            kind="campaign",
            source_key="campaign:7",
            texts=TEXTS,
            campaign_id=7,
            on=date(2026, 11, 25),
        )
        db.session.commit()
        assert sent is not None
        assert sent.body == "−20% на пальто до воскресенья · 25.11"
        again = messaging.deliver(
            member, kind="campaign", source_key="campaign:7", texts=TEXTS
        )
        assert again is None
        rows = db.session.scalars(
            select(PushDelivery).where(PushDelivery.campaign_id == 7)
        ).all()
        assert [(r.channel, r.status) for r in rows] == [("apns", "queued")]
        assert db.session.scalar(select(func.count()).select_from(MemberMessage)) == 1
    latest = client.get(
        f"/wallet/v1/passes/{demo.pass_type}/{p.serial}",
        headers={"Authorization": f"ApplePass {p.token}"},
    )
    pass_json = json.loads(zipfile.ZipFile(io.BytesIO(latest.data)).read("pass.json"))
    (offer,) = pass_json["storeCard"]["auxiliaryFields"]
    assert offer["value"] == "−20% на пальто до воскресенья · 25.11"
    assert offer["changeMessage"] == "%@"


def test_erased_members_get_nothing(app: Flask, demo: Demo) -> None:
    with app.app_context():
        member = db.session.get(Member, demo.passes[0].member_id)
        from app.services.privacy import erase_member

        erase_member(member)
        db.session.commit()
        assert (
            messaging.deliver(member, kind="campaign", source_key="c:1", texts=TEXTS)
            is None
        )


def test_google_updates_go_through_the_outbox_worker(
    google_app: Flask,
    client: FlaskClient,
    demo: Demo,
    google_stand_in: GoogleStandIn,
) -> None:
    card_token = sign_up(client)
    assert client.get(f"/c/{card_token}/google").status_code == 303  # saved

    # A purchase at the till, through the POS API.
    with google_app.app_context():
        member = member_by_token(card_token)
        store = db.session.scalar(select(Store).where(Store.code == "msk-atrium"))
        key = create_key("pos", program=member.program, store=store).key
        db.session.commit()
        code = passes.barcode_payload(member.card_number, barcode_secret())
    purchase = client.post(
        "/api/v1/pos/transactions",
        json={"code": code, "amount": "2000.00", "receipt_id": "R-1"},
        headers={"Authorization": f"Bearer {key}", "Idempotency-Key": "purchase-0001"},
    )
    assert purchase.status_code == 201, purchase.get_json()
    balance = purchase.get_json()["balance"]
    assert not google_stand_in.calls("PATCH")  # nothing is sent from a request

    drain(google_app)
    (patch,) = google_stand_in.calls("PATCH", "loyaltyObject")
    assert patch.body["loyaltyPoints"]["balance"] == {"int": balance}
    assert patch.body["notifyPreference"] == "NOTIFY_ON_UPDATE"

    # A marketer's message: the pass's offer and a Google message.
    with google_app.app_context():
        member = member_by_token(card_token)
        messaging.deliver(member, kind="campaign", source_key="campaign:1", texts=TEXTS)
        db.session.commit()
    drain(google_app)
    (added,) = google_stand_in.calls("POST", "addMessage")
    assert "−20% на пальто" in json.dumps(added.body, ensure_ascii=False)

    # Erasure expires the object, through the worker too.
    response = client.post(f"/c/{card_token}/erase", data={"confirm": "yes"})
    assert response.status_code == 303
    drain(google_app)
    last = google_stand_in.calls("PATCH", "loyaltyObject")[-1]
    assert last.body.get("state") == "EXPIRED"
    with google_app.app_context():
        statuses = db.session.scalars(
            select(PushDelivery.status).where(PushDelivery.channel == "google")
        ).all()
        assert statuses
        assert set(statuses) == {"sent"}
