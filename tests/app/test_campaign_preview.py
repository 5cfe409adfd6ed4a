"""POST /api/v1/campaigns/preview: the pass as it will look with a campaign's
message and offer (issue 17); nothing is stored."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.extensions import db
from app.i18n import date_text, day_month
from app.models import Campaign, MemberOffer, Offer, Program
from tests.app.marketing_support import auth, marketer_key
from tests.conftest import Demo

OFFER = {
    "kind": "percent_off",
    "value": 15,
    "title": {"ru": "−15 % на всё", "en": "15 % off"},
    "terms": {"ru": "Кроме акционных товаров", "en": "Except sale items"},
    "valid_days": 7,
}


@pytest.fixture
def mkey(app: Flask, demo: Demo) -> str:
    return marketer_key(app, demo.program_id)


def post(client: FlaskClient, key: str, path: str, body: object):
    return client.post(
        path, data=json.dumps(body), content_type="application/json", headers=auth(key)
    )


def fields(pass_json: dict, group: str) -> dict[str, dict]:
    return {f["key"]: f for f in pass_json["storeCard"][group]}


def stored(app: Flask) -> tuple[int, int]:
    with app.app_context():
        return (
            db.session.scalar(select(func.count(Campaign.id))),
            db.session.scalar(select(func.count(MemberOffer.id))),
        )


def test_the_preview_shows_the_message_and_the_offer_as_the_pass_would(
    app: Flask, client: FlaskClient, demo: Demo, mkey: str
) -> None:
    offer_id = post(client, mkey, "/api/v1/offers", OFFER).json["id"]
    body = {"texts": {"ru": "Скидки выходного дня", "en": "Weekend sale"}}
    answer = post(
        client, mkey, "/api/v1/campaigns/preview", {**body, "offer_id": offer_id}
    )
    assert answer.status_code == 200, answer.json
    with app.app_context():
        zone = ZoneInfo(db.session.get(Program, demo.program_id).timezone)
    today = datetime.now(UTC)
    front = fields(answer.json["pass"], "auxiliaryFields")
    # The message as the delivery writes it (with the day), notifying.
    assert front["offer"]["value"] == f"Скидки выходного дня · {day_month(today, 'ru')}"
    assert front["offer"]["changeMessage"] == "%@"
    assert front["offers"]["value"] == "−15 % на всё"
    assert front["offers"]["changeMessage"] == "%@"
    back = fields(answer.json["pass"], "backFields")
    until = date_text((today + timedelta(days=7)).astimezone(zone).date(), "ru")
    assert back["offer_0"] == {
        "key": "offer_0",
        "label": "−15 % на всё",
        "value": f"Кроме акционных товаров\nДействует до {until}",
    }
    assert answer.json["notifications"] == [front["offer"]["value"], "−15 % на всё"]
    assert answer.json["images"]["strip"].startswith("data:image/png;base64,")

    english = post(
        client,
        mkey,
        "/api/v1/campaigns/preview?lang=en",
        {**body, "offer_id": offer_id},
    ).json
    assert fields(english["pass"], "auxiliaryFields")["offers"]["value"] == "15 % off"
    assert fields(english["pass"], "auxiliaryFields")["offer"]["value"].startswith(
        "Weekend sale · "
    )
    # Only the message: no offers field; nothing: the placeholder, no notification.
    only_text = post(client, mkey, "/api/v1/campaigns/preview", body).json
    assert "offers" not in fields(only_text["pass"], "auxiliaryFields")
    empty = post(client, mkey, "/api/v1/campaigns/preview", {}).json
    assert "changeMessage" not in fields(empty["pass"], "auxiliaryFields")["offer"]
    assert empty["notifications"] == []
    assert stored(app) == (0, 0)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"texts": {"en": "no Russian"}}, "invalid_campaign"),
        ({"texts": "text"}, "invalid_campaign"),
        ({"offer_id": 999999}, "unknown_offer"),
        ({"offer_id": "1"}, "unknown_offer"),
        ({"offer_id": "archived"}, "offer_archived"),
    ],
)
def test_bad_previews_are_refused_with_nothing_stored(
    app: Flask, client: FlaskClient, mkey: str, body: dict, code: str
) -> None:
    if body.get("offer_id") == "archived":
        offer_id = post(client, mkey, "/api/v1/offers", OFFER).json["id"]
        client.patch(
            f"/api/v1/offers/{offer_id}",
            data=json.dumps({"archived": True}),
            content_type="application/json",
            headers=auth(mkey),
        )
        body = {"offer_id": offer_id}
    answer = post(client, mkey, "/api/v1/campaigns/preview", body)
    assert answer.status_code == 422, answer.json
    assert answer.json["error"] == code
    assert stored(app) == (0, 0)
    with app.app_context():
        assert db.session.scalar(select(func.count(Offer.id))) <= 1
