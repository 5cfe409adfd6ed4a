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
from tests.app.marketing_support import auth, marketer_key, never_quiet
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


# -- issuing from campaigns and automations ----------------------------------------


def instances(app: Flask, **where: object) -> list[tuple[int, str, str, str]]:
    with app.app_context():
        query = select(
            MemberOffer.member_id,
            MemberOffer.source,
            MemberOffer.source_kind,
            MemberOffer.source_ref,
        ).order_by(MemberOffer.member_id, MemberOffer.id)
        for name, value in where.items():
            query = query.where(getattr(MemberOffer, name) == value)
        return [tuple(row) for row in db.session.execute(query)]


def test_a_campaign_issues_its_offer_to_each_member_it_messaged_once(
    app: Flask, client: FlaskClient, mkey: str, demo: Demo
) -> None:
    from app.models import Member
    from app.services import campaigns, scheduler
    from tests.app.campaign_support import NOW

    offer_id = create(client, mkey)
    erased = demo.passes[2].member_id
    with app.app_context():
        db.session.get(Member, erased).erased_at = datetime.now(UTC)
        db.session.commit()
    bad = post(
        client,
        mkey,
        "/api/v1/campaigns",
        {"texts": {"ru": "Скидка"}, "segment": {"all": {}}, "offer_id": 999},
    )
    assert bad.status_code == 422, bad.json
    response = post(
        client,
        mkey,
        "/api/v1/campaigns",
        {
            "texts": {"ru": "Скидка 15 %"},
            "segment": {"all": {}},
            "offer_id": offer_id,
            "state": "scheduled",
        },
    )
    assert response.status_code == 201, response.json
    campaign_id = response.json["id"]
    assert response.json["offer_id"] == offer_id
    never_quiet(app, demo.program_id)
    with app.app_context():
        assert scheduler.run_due(NOW)["campaigns"] == "ok"
    got = instances(app)
    members = sorted(p.member_id for p in demo.passes[:2])
    assert got == [
        (m, f"campaign:{campaign_id}", "campaign", str(campaign_id)) for m in members
    ]
    # A re-run (crash, second worker) issues nothing twice.
    with app.app_context():
        from app.models import Campaign

        row = db.session.get(Campaign, campaign_id)
        row.state, row.cursor = "sending", 0
        db.session.commit()
        campaigns.run_campaign(campaign_id, NOW)
    assert len(instances(app)) == 2


def test_automations_issue_their_offer_with_each_message(
    app: Flask, client: FlaskClient, mkey: str, demo: Demo
) -> None:
    from app.models import Program
    from app.services import automations

    never_quiet(app, demo.program_id)
    offer_id = create(client, mkey)
    bad = client.patch(
        "/api/v1/automations",
        data=json.dumps({"welcome": {"settings": {"offer_id": 12345}}}),
        content_type="application/json",
        headers=auth(mkey),
    )
    assert bad.status_code == 422, bad.json
    configured = client.patch(
        "/api/v1/automations",
        data=json.dumps(
            {"welcome": {"enabled": True, "settings": {"offer_id": offer_id}}}
        ),
        content_type="application/json",
        headers=auth(mkey),
    )
    assert configured.status_code == 200, configured.json
    now = datetime.now(UTC) + timedelta(minutes=1)
    for _ in range(2):
        with app.app_context():
            program = db.session.get(Program, demo.program_id)
            automations.run(program, "welcome", now, force=True)
            db.session.commit()
    got = instances(app)
    assert got == [
        (p.member_id, "welcome", "automation", "welcome")
        for p in sorted(demo.passes, key=lambda p: p.member_id)
    ]
