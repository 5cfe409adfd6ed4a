"""Offers: templates (strict checks), personal instances, the till, counting."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEntry, MemberOffer, Offer
from tests.app.marketing_support import auth, marketer_key
from tests.app.pos_support import (
    other_program,
)
from tests.conftest import Demo

PERCENT = {
    "kind": "percent_off",
    "value": 15,
    "title": {"ru": "−15 % на всё", "en": "15 % off"},
    "terms": {"ru": "Кроме акционных товаров", "en": "Except sale items"},
    "valid_days": 7,
    "min_amount": "1000.00",
}


@pytest.fixture
def mkey(app: Flask, demo: Demo) -> str:
    return marketer_key(app, demo.program_id)


def post(client: FlaskClient, key: str, path: str, body: object):
    return client.post(
        path, data=json.dumps(body), content_type="application/json", headers=auth(key)
    )


def create(client: FlaskClient, key: str, **changes: object) -> int:
    response = post(client, key, "/api/v1/offers", {**PERCENT, **changes})
    assert response.status_code == 201, response.json
    return response.json["id"]


def issue(client: FlaskClient, key: str, member_id: int, offer_id: int, **extra):
    return post(
        client,
        key,
        f"/api/v1/members/{member_id}/offers",
        {"offer_id": offer_id, **extra},
    )


def count(app: Flask, model: type) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


# -- templates -----------------------------------------------------------------


def test_create_list_get_update_archive(
    app: Flask, client: FlaskClient, mkey: str
) -> None:
    offer_id = create(client, mkey)
    got = client.get(f"/api/v1/offers/{offer_id}", headers=auth(mkey)).json
    assert got["kind"] == "percent_off"
    assert got["value"] == 15
    assert got["min_amount"] == "1000.00"
    assert got["combinable"] is False
    assert got["title"] == PERCENT["title"]
    amount = create(client, mkey, kind="amount_off", value="300", min_amount=0)
    assert (
        client.get(f"/api/v1/offers/{amount}", headers=auth(mkey)).json["value"]
        == "300.00"
    )
    listed = client.get("/api/v1/offers", headers=auth(mkey)).json["offers"]
    assert [o["id"] for o in listed] == [offer_id, amount]

    changed = client.patch(
        f"/api/v1/offers/{offer_id}",
        data=json.dumps({"value": 20, "cap": "500"}),
        content_type="application/json",
        headers=auth(mkey),
    )
    assert changed.status_code == 200, changed.json
    assert changed.json["value"] == 20
    assert changed.json["cap"] == "500.00"
    archived = client.patch(
        f"/api/v1/offers/{offer_id}",
        data=json.dumps({"archived": True}),
        content_type="application/json",
        headers=auth(mkey),
    )
    assert archived.json["archived"] is True
    listed = client.get("/api/v1/offers", headers=auth(mkey)).json["offers"]
    assert [o["id"] for o in listed] == [amount]
    with app.app_context():
        actions = db.session.scalars(
            select(AuditEntry.action).where(AuditEntry.action.like("offer.%"))
        ).all()
    assert actions == ["offer.create", "offer.create", "offer.update", "offer.update"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"kind": "half_price"}, "kind"),
        ({"value": 0}, "value"),
        ({"value": 101}, "value"),
        ({"value": "15.5"}, "value"),
        ({"kind": "amount_off", "value": "-5"}, "value"),
        ({"kind": "amount_off", "value": "1.234"}, "value"),
        ({"kind": "amount_off", "value": "300", "cap": "10"}, "cap"),
        ({"kind": "points_multiplier", "value": 1}, "value"),
        ({"kind": "bonus_points", "value": -100}, "value"),
        ({"kind": "gift", "value": 5}, "value"),
        ({"min_amount": "-1"}, "min_amount"),
        ({"combinable": "yes"}, "combinable"),
        ({"valid_days": 0}, "valid_days"),
        ({"valid_days": None}, "valid_days"),
        ({"valid_days": None, "valid_until": "2020-01-01"}, "valid_until"),
        ({"valid_until": "tomorrow"}, "valid_until"),
        ({"title": {"en": "only English"}}, "title.ru"),
        ({"title": {"ru": "x" * 61}}, "title.ru"),
        ({"title": {"ru": "ok", "de": "nein"}}, "title"),
        ({"terms": "text"}, "terms"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_templates_are_refused_and_nothing_saved(
    app: Flask, client: FlaskClient, mkey: str, changes: dict, field: str
) -> None:
    body = {**PERCENT, **changes}
    body = {k: v for k, v in body.items() if v is not None}
    response = post(client, mkey, "/api/v1/offers", body)
    assert response.status_code == 422, response.json
    assert response.json["error"] == "invalid_offer"
    assert field in response.json["fields"], response.json
    assert response.json["message"]
    assert count(app, Offer) == 0


def test_fixed_dates_and_gift(client: FlaskClient, mkey: str) -> None:
    until = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    response = post(
        client,
        mkey,
        "/api/v1/offers",
        {"kind": "gift", "title": {"ru": "Кофе в подарок"}, "valid_until": until},
    )
    assert response.status_code == 201, response.json
    assert response.json["value"] is None
    assert response.json["valid_until"].startswith(until)


# -- manual issuing ----------------------------------------------------------------


def test_issue_to_a_member_once_per_source(
    app: Flask, client: FlaskClient, mkey: str, demo: Demo
) -> None:
    offer_id = create(client, mkey)
    member_id = demo.passes[0].member_id
    first = issue(client, mkey, member_id, offer_id)
    assert first.status_code == 201, first.json
    assert first.json["status"] == "issued"
    expires = datetime.fromisoformat(first.json["expires_at"])
    issued = datetime.fromisoformat(first.json["issued_at"])
    assert expires - issued == timedelta(days=7)
    again = issue(client, mkey, member_id, offer_id)
    assert again.status_code == 409
    assert again.json["error"] == "already_issued"
    other = issue(client, mkey, member_id, offer_id, source="complaint-17")
    assert other.status_code == 201
    listed = client.get(f"/api/v1/members/{member_id}/offers", headers=auth(mkey))
    assert [o["source"] for o in listed.json["offers"]] == [
        "manual:complaint-17",
        f"manual:{offer_id}",
    ]
    assert count(app, MemberOffer) == 2


def test_issue_refuses_unknown_archived_and_other_programs(
    app: Flask, client: FlaskClient, mkey: str, demo: Demo
) -> None:
    member_id = demo.passes[0].member_id
    assert issue(client, mkey, member_id, 999).status_code == 422
    assert issue(client, mkey, member_id, "1").status_code == 422
    offer_id = create(client, mkey)
    client.patch(
        f"/api/v1/offers/{offer_id}",
        data=json.dumps({"archived": True}),
        content_type="application/json",
        headers=auth(mkey),
    )
    refused = issue(client, mkey, member_id, offer_id)
    assert refused.status_code == 422
    assert refused.json["error"] == "offer_archived"
    _, stranger = other_program(app)
    assert issue(client, mkey, stranger.member_id, offer_id).status_code == 404
    assert count(app, MemberOffer) == 0
