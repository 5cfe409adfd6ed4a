"""Signed webhooks (issue 20): endpoints with a secret shown once, events queued
with the change, delivered by the worker's job to a real loopback receiver,
signed, in order per member, retried with backoff, given up after a day (the
endpoint disabled, the marketer told), resent from the log; SSRF rules."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select

from app.extensions import db
from app.models import AuditEntry, WebhookDelivery, WebhookEndpoint
from app.models.base import utcnow
from app.services import webhooks
from tests.app.marketing_support import auth, marketer_key, new_member
from tests.app.pos_support import card, make_key
from tests.conftest import Demo
from tests.support.webhook_server import WebhookReceiver


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver()
    yield server
    server.stop()


@pytest.fixture
def key(app: Flask, demo: Demo) -> str:
    # The tests' PUBLIC_BASE_URL is https (production rules); the receiver is
    # on loopback.
    app.config["WEBHOOK_ALLOW_LOOPBACK"] = True
    return marketer_key(app, demo.program_id)


def subscribe(client: FlaskClient, key: str, url: str, events: list[str]) -> dict:
    response = client.post(
        "/api/v1/webhooks", json={"url": url, "events": events}, headers=auth(key)
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def verify(secret: str, headers: dict[str, str], body: bytes) -> dict:
    """The receiver's check, as a shop would write it."""
    parts = dict(p.split("=", 1) for p in headers["Wallet-Signature"].split(","))
    signed = f"{parts['t']}.".encode() + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, parts["v1"])
    return json.loads(body)


def buy(client: FlaskClient, pos: str, code: str, receipt: str) -> int:
    response = client.post(
        "/api/v1/pos/transactions",
        json={"code": code, "amount": "500.00", "receipt_id": receipt},
        headers={**auth(pos), "Idempotency-Key": str(uuid.uuid4())},
    )
    assert response.status_code == 201, response.get_json()
    return int(response.get_json()["transaction_id"])


def deliver(app: Flask, at: timedelta = timedelta(0)) -> int:
    with app.app_context():
        return webhooks.deliver_due(utcnow() + at)


def test_endpoint_secret_is_shown_once_and_bad_bodies_are_refused(
    app: Flask, key: str, receiver: WebhookReceiver
) -> None:
    client = app.test_client()
    made = subscribe(client, key, receiver.url, ["purchase.created", "member.created"])
    assert made["secret"].startswith("whsec_")
    assert made["events"] == ["member.created", "purchase.created"]
    listed = client.get("/api/v1/webhooks", headers=auth(key)).get_json()
    assert [w["id"] for w in listed["webhooks"]] == [made["id"]]
    assert "secret" not in listed["webhooks"][0]
    for body, code in [
        (
            {"url": "http://example.com/h", "events": ["member.created"]},
            "https_required",
        ),
        ({"url": receiver.url, "events": ["offer.invented"]}, "invalid_events"),
        ({"url": receiver.url, "events": []}, "invalid_events"),
        ({"url": "ftp://x.ru/h", "events": ["member.created"]}, "invalid_url"),
        ({"url": "https://u:p@x.ru/h", "events": ["member.created"]}, "invalid_url"),
    ]:
        response = client.post("/api/v1/webhooks", json=body, headers=auth(key))
        assert response.status_code == 422, body
        assert response.get_json()["error"] == code
    gone = client.delete(f"/api/v1/webhooks/{made['id']}", headers=auth(key))
    assert gone.status_code == 200
    assert (
        client.get("/api/v1/webhooks", headers=auth(key)).get_json()["webhooks"] == []
    )


def test_production_refuses_http_and_private_targets(app: Flask, key: str) -> None:
    app.config["WEBHOOK_ALLOW_LOOPBACK"] = None  # production: none
    client = app.test_client()
    for url, code in [
        ("http://127.0.0.1:9/h", "https_required"),
        ("https://127.0.0.1/h", "private_url"),
        ("https://10.1.2.3/h", "private_url"),
        ("https://169.254.169.254/latest", "private_url"),
        ("https://[::1]/h", "private_url"),
        ("https://localhost/h", "private_url"),
    ]:
        response = client.post(
            "/api/v1/webhooks",
            json={"url": url, "events": ["member.created"]},
            headers=auth(key),
        )
        assert response.status_code == 422, url
        assert response.get_json()["error"] == code, url


def test_events_are_signed_and_in_order_per_member(
    app: Flask, key: str, demo: Demo, receiver: WebhookReceiver
) -> None:
    client = app.test_client()
    made = subscribe(client, key, receiver.url, ["member.created", "purchase.created"])
    member_id = new_member(app, demo.program_id, "+79161112233", name="Вера Котова")
    pos = make_key(app)
    code = card(app, member_id).barcode
    transactions = [buy(client, pos, code, f"r-{i}") for i in range(3)]
    assert deliver(app) == 4
    bodies = [
        verify(made["secret"], headers, body) for headers, body, _ in receiver.received
    ]
    assert [b["type"] for b in bodies] == ["member.created"] + ["purchase.created"] * 3
    assert bodies[0]["data"]["name"] == "Вера Котова"  # a member event: the member
    assert [b["data"]["transaction_id"] for b in bodies[1:]] == transactions
    # A purchase event carries ids and facts, no personal data.
    assert "name" not in bodies[1]["data"]
    assert "phone" not in json.dumps(bodies[1])
    headers = receiver.received[1][0]
    assert headers["Wallet-Event"] == "purchase.created"
    assert headers["Wallet-Event-Id"] == bodies[1]["id"]
    with app.app_context():
        statuses = set(db.session.scalars(select(WebhookDelivery.status)))
    assert statuses == {"sent"}


def test_a_failed_event_holds_back_the_members_later_ones_until_it_is_sent(
    app: Flask, key: str, demo: Demo, receiver: WebhookReceiver
) -> None:
    client = app.test_client()
    subscribe(client, key, receiver.url, ["purchase.created"])
    pos = make_key(app)
    code = card(app, demo.passes[0].member_id).barcode
    first, second = buy(client, pos, code, "a-1"), buy(client, pos, code, "a-2")
    receiver.answers = [500]
    assert deliver(app) == 1  # the first failed; the second waits its turn
    assert len(receiver.received) == 1
    assert deliver(app) == 0  # not due yet (backoff)
    assert deliver(app, timedelta(minutes=1)) == 2
    sent = [
        json.loads(body)["data"]["transaction_id"] for _, body, _ in receiver.received
    ]
    assert sent == [first, first, second]
    with app.app_context():
        rows = db.session.execute(
            select(WebhookDelivery.attempts, WebhookDelivery.status).order_by(
                WebhookDelivery.id
            )
        ).all()
    assert rows == [(2, "sent"), (1, "sent")]


def test_after_a_day_of_failures_the_endpoint_is_disabled_and_resend_works(
    app: Flask, key: str, demo: Demo, receiver: WebhookReceiver
) -> None:
    client = app.test_client()
    made = subscribe(client, key, receiver.url, ["purchase.created"])
    pos = make_key(app)
    buy(client, pos, card(app, demo.passes[0].member_id).barcode, "d-1")
    receiver.always = 503
    assert deliver(app) == 1
    assert deliver(app, timedelta(hours=2)) == 1
    assert deliver(app, timedelta(days=1, minutes=1)) == 1
    with app.app_context():
        endpoint = db.session.get(WebhookEndpoint, made["id"])
        assert endpoint is not None
        assert endpoint.active is False
        assert "503" in endpoint.disabled_reason
        delivery = db.session.scalar(select(WebhookDelivery))
        assert delivery is not None
        assert (delivery.status, delivery.attempts) == ("failed", 3)
        delivery_id = delivery.id
        assert (
            db.session.scalar(
                select(AuditEntry.target).where(AuditEntry.action == "webhook.disabled")
            )
            == f"webhook:{made['id']}"
        )
    listed = client.get("/api/v1/webhooks", headers=auth(key)).get_json()["webhooks"]
    assert listed[0]["active"] is False
    # Nothing goes to a disabled endpoint; resend + enable sends it.
    receiver.always = None
    resent = client.post(
        f"/api/v1/webhooks/deliveries/{delivery_id}/resend", headers=auth(key)
    )
    assert resent.status_code == 200
    assert deliver(app) == 0
    enabled = client.post(f"/api/v1/webhooks/{made['id']}/enable", headers=auth(key))
    assert enabled.get_json()["active"] is True
    assert deliver(app) == 1
    log = client.get("/api/v1/webhooks/deliveries", headers=auth(key)).get_json()
    assert log["deliveries"][0]["status"] == "sent"
    assert receiver.received[-1][2] == 200


def test_other_programs_deliveries_are_not_found(
    app: Flask, key: str, demo: Demo
) -> None:
    client = app.test_client()
    assert (
        client.post(
            "/api/v1/webhooks/deliveries/999/resend", headers=auth(key)
        ).status_code
        == 404
    )
    assert client.delete("/api/v1/webhooks/999", headers=auth(key)).status_code == 404


def test_admin_page_adds_an_endpoint_shows_the_disabled_banner_and_resends(
    app: Flask, key: str, demo: Demo, receiver: WebhookReceiver
) -> None:
    from tests.app.test_admin import csrf_token, sign_in

    app.config["WTF_CSRF_ENABLED"] = True
    client = app.test_client()
    sign_in(client, key)
    page = client.get("/admin/webhooks?lang=ru").get_data(as_text=True)
    assert "Адресов пока нет." in page
    token = csrf_token(client, "/admin/webhooks")
    refused = client.post(
        "/admin/webhooks",
        data={"csrf_token": token, "url": "http://example.com/h", "events": "x"},
    )
    assert "Адрес должен начинаться с https://." in refused.get_data(as_text=True)
    added = client.post(
        "/admin/webhooks",
        data={
            "csrf_token": token,
            "url": receiver.url,
            "events": ["purchase.created"],
        },
    )
    html = added.get_data(as_text=True)
    assert "Секрет показывается только сейчас" in html
    with app.app_context():
        endpoint = db.session.scalar(select(WebhookEndpoint))
        assert endpoint is not None
        assert endpoint.secret in html
    pos = make_key(app)
    buy(client, pos, card(app, demo.passes[0].member_id).barcode, "p-1")
    receiver.always = 500
    deliver(app)
    deliver(app, timedelta(days=1, minutes=1))
    page = client.get("/admin/webhooks").get_data(as_text=True)
    assert "поэтому он отключён" in page
    assert endpoint.secret not in page  # shown once only
    with app.app_context():
        delivery_id = db.session.scalar(select(WebhookDelivery.id))
    resent = client.post(
        f"/admin/webhooks/deliveries/{delivery_id}/resend",
        data={"csrf_token": token},
    )
    assert resent.status_code == 302
    client.post(f"/admin/webhooks/{endpoint.id}/enable", data={"csrf_token": token})
    receiver.always = None
    assert deliver(app) == 1
    page = client.get("/admin/webhooks").get_data(as_text=True)
    assert "отправлено" in page
    assert "поэтому он отключён" not in page


def test_member_pass_and_import_events_carry_the_right_facts(
    app: Flask, key: str, demo: Demo, receiver: WebhookReceiver
) -> None:
    from tests.app.test_member_import import csv_bytes

    client = app.test_client()
    made = subscribe(
        client,
        key,
        receiver.url,
        ["member.created", "member.erased", "pass.installed", "pass.uninstalled"],
    )
    p = demo.passes[0]
    url = f"/wallet/v1/devices/dev1/registrations/{demo.pass_type}/{p.serial}"
    wallet = {"Authorization": f"ApplePass {p.token}"}
    assert (
        client.post(url, json={"pushToken": "f" * 64}, headers=wallet).status_code
        == 201
    )
    assert client.delete(url, headers=wallet).status_code == 200
    imported = client.post(
        "/api/v1/members/import",
        data=csv_bytes(["+79170000001;Лев Толстой;;;;25;;01.02.2024"]),
        headers=auth(key),
    )
    assert imported.get_json()["created"] == 1
    erased = client.delete(f"/api/v1/members/{p.member_id}", headers=auth(key))
    assert erased.status_code == 200
    deliver(app)
    bodies = [verify(made["secret"], h, b) for h, b, _ in receiver.received]
    by_type = {b["type"]: b["data"] for b in bodies}
    assert by_type["pass.installed"] == {"member_id": p.member_id, "platform": "apple"}
    assert by_type["pass.uninstalled"]["member_id"] == p.member_id
    assert by_type["member.created"]["name"] == "Лев Толстой"
    assert by_type["member.created"]["balance"] == 25
    assert by_type["member.created"]["source"] == "import"
    # An erased member's event carries the id only.
    assert by_type["member.erased"] == {"member_id": p.member_id}
    # The member's own events arrived in the order they happened.
    mine = [b["type"] for b in bodies if b["data"].get("member_id") == p.member_id]
    assert mine == ["pass.installed", "pass.uninstalled", "member.erased"]


def test_a_purchase_looks_up_endpoints_only_when_its_program_has_any(
    app: Flask, key: str, demo: Demo, receiver: WebhookReceiver
) -> None:
    """Most programs have no endpoint: their purchases skip the endpoint query
    (the key's lookup says so), and one made later is seen by the next sale."""
    client = app.test_client()
    pos = make_key(app)
    code = card(app, demo.passes[0].member_id).barcode
    statements: list[str] = []

    def seen(_c: object, _cu: object, statement: str, *_: object) -> None:
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        buy(client, pos, code, "r-1")
        looked_up = [s for s in statements if s.startswith("SELECT webhook_endpoint")]
        assert looked_up == []
        subscribe(client, key, receiver.url, ["purchase.created"])
        statements.clear()
        transaction_id = buy(client, pos, code, "r-2")
        looked_up = [s for s in statements if s.startswith("SELECT webhook_endpoint")]
        assert len(looked_up) == 1
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    with app.app_context():
        queued = db.session.execute(select(WebhookDelivery.event, WebhookDelivery.body))
        bodies = [(event_, json.loads(body)) for event_, body in queued]
    assert [(e, b["data"]["transaction_id"]) for e, b in bodies] == [
        ("purchase.created", transaction_id)
    ]


def test_a_purchase_redeeming_an_offer_queues_offer_redeemed_then_purchase_created(
    app: Flask, key: str, demo: Demo, receiver: WebhookReceiver
) -> None:
    client = app.test_client()
    subscribe(client, key, receiver.url, ["offer.redeemed", "purchase.created"])
    offer = client.post(
        "/api/v1/offers",
        json={
            "kind": "percent_off",
            "value": 10,
            "title": {"ru": "−10 %", "en": "10 % off"},
            "valid_days": 30,
        },
        headers=auth(key),
    )
    assert offer.status_code == 201, offer.get_json()
    member_id = demo.passes[0].member_id
    held = client.post(
        f"/api/v1/members/{member_id}/offers",
        json={"offer_id": offer.get_json()["id"]},
        headers=auth(key),
    )
    assert held.status_code == 201, held.get_json()
    response = client.post(
        "/api/v1/pos/transactions",
        json={
            "code": card(app, member_id).barcode,
            "amount": "1000.00",
            "receipt_id": "r-offer",
            "offer_ids": [held.get_json()["id"]],
        },
        headers={**auth(make_key(app)), "Idempotency-Key": str(uuid.uuid4())},
    )
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["discount"] == "100.00"
    with app.app_context():
        queued = db.session.execute(
            select(WebhookDelivery.event, WebhookDelivery.body).order_by(
                WebhookDelivery.id
            )
        )
        bodies = [(event_, json.loads(body)["data"]) for event_, body in queued]
    transaction_id = response.get_json()["transaction_id"]
    assert [(e, d["transaction_id"]) for e, d in bodies] == [
        ("offer.redeemed", transaction_id),
        ("purchase.created", transaction_id),
    ]
    assert bodies[0][1]["id"] == held.get_json()["id"]
