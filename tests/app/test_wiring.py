"""Where results (issue 16) and offers (issue 15) meet: offer costs in campaign
results and ROMI, the offer_redeemed segment rule, one lapse definition for the
segment and win-back, offer counts in /api/v1/stats."""

from __future__ import annotations

import html
import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from app.extensions import db
from app.i18n import money
from app.models import Assignment, MemberMessage, MemberOffer, Program
from app.services import scheduler, segments
from passes.cardnumber import new_card_number
from tests.app.campaign_support import NOW, add_member, matching
from tests.app.marketing_support import (
    auth,
    marketer_key,
    never_quiet,
    new_member,
    purchase_at,
)
from tests.app.pos_support import card, make_key
from tests.app.test_admin import sign_in
from tests.conftest import Demo

OFFER = {
    "kind": "percent_off",
    "value": 10,
    "title": {"ru": "−10 %", "en": "10 % off"},
    "valid_days": 30,
}


def till(client: FlaskClient, key: str, code: str, amount: str, offers: list[int]):
    body: dict[str, object] = {"code": code, "amount": amount, "receipt_id": "R-9"}
    if offers:
        body["offer_ids"] = offers
    return client.post(
        "/api/v1/pos/transactions",
        data=json.dumps(body),
        content_type="application/json",
        headers={
            "Authorization": f"Bearer {key}",
            "Idempotency-Key": str(uuid.uuid4()),
        },
    )


def _campaign_with_offer(
    app: Flask, client: FlaskClient, mkey: str, demo: Demo
) -> tuple[int, int]:
    """A sent campaign (holdout 30 %) with a 10 % offer: (campaign id, offer id)."""
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        for _ in range(40):
            add_member(program, card_number=new_card_number())
        db.session.commit()
    offer = client.post("/api/v1/offers", json=OFFER, headers=auth(mkey))
    assert offer.status_code == 201, offer.json
    offer_id = offer.json["id"]
    response = client.post(
        "/api/v1/campaigns",
        json={
            "texts": {"ru": "Скидка 10 %"},
            "segment": {"all": {}},
            "offer_id": offer_id,
            "holdout_percent": 30,
            "attribution_days": 7,
            "state": "scheduled",
        },
        headers=auth(mkey),
    )
    assert response.status_code == 201, response.json
    never_quiet(app, demo.program_id)
    with app.app_context():
        assert scheduler.run_due(NOW)["campaigns"] == "ok"
    return response.json["id"], offer_id


def test_campaign_results_count_redeemed_offers_and_their_discount_in_romi(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    mkey = marketer_key(app, demo.program_id)
    pos = make_key(app)
    campaign_id, offer_id = _campaign_with_offer(app, client, mkey, demo)
    real_now = datetime.now(UTC)
    with app.app_context():
        # The till works on the real clock: the send moves to an hour ago, so the
        # purchases below fall within the 7-day attribution window.
        db.session.execute(
            update(Assignment)
            .where(Assignment.campaign_id == campaign_id)
            .values(created_at=real_now - timedelta(hours=1))
        )
        db.session.execute(
            update(MemberOffer)
            .where(MemberOffer.offer_id == offer_id)
            .values(expires_at=None)
        )
        db.session.commit()
        held = db.session.execute(
            select(MemberOffer.member_id, MemberOffer.id)
            .where(MemberOffer.offer_id == offer_id)
            .order_by(MemberOffer.id)
        ).all()
        control = db.session.scalars(
            select(Assignment.member_id).where(
                Assignment.campaign_id == campaign_id, Assignment.grp == "control"
            )
        ).all()
    # (The members this test added, not the demo's.)
    demo_ids = {p.member_id for p in demo.passes}
    held = [row for row in held if row[0] not in demo_ids]
    control = [m for m in control if m not in demo_ids]
    assert len(held) >= 5
    assert control
    # Three treated members redeem the offer on 2 000 ₽ (200 ₽ off each), one
    # buys without it; one control member buys.
    for member_id, instance in held[:3]:
        response = till(
            client, pos, card(app, member_id).barcode, "2000.00", [instance]
        )
        assert response.status_code == 201, response.json
        assert response.json["discount"] == "200.00"
    response = till(client, pos, card(app, held[3][0]).barcode, "2000.00", [])
    assert response.status_code == 201, response.json
    response = till(client, pos, card(app, control[0]).barcode, "500.00", [])
    assert response.status_code == 201, response.json

    body = client.get(
        f"/api/v1/campaigns/{campaign_id}/results", headers=auth(mkey)
    ).json
    treated, held_out = body["groups"]["treatment"], body["groups"]["control"]
    assert treated["offers_redeemed"] == 3
    assert treated["discount_cost"] == 600.0
    assert held_out["offers_redeemed"] == 0
    assert held_out["discount_cost"] == 0.0
    assert body["cost"] == round(600.0 + treated["bonus_points_cost"], 2)
    margin = body["gross_margin_percent"]
    incremental = body["incremental_revenue"]
    expected = (incremental * margin / 100 - body["cost"]) / body["cost"]
    assert body["romi"] == round(expected, 4)
    # The same redemptions in offers' own counting (one definition).
    stats = client.get(f"/api/v1/offers/{offer_id}/stats", headers=auth(mkey)).json
    assert stats["redeemed"] == 3
    assert stats["discount"] == "600.00"
    # /api/v1/stats carries the same counts per offer and source, and /admin
    # shows them (one function: offers.by_offer over offers.stats).
    overview = client.get("/api/v1/stats", headers=auth(mkey)).json["offers"]
    assert [row for row in overview if row["offer_id"] == offer_id] == [stats]
    assert stats["by_source"][0]["source"] == {
        "kind": "campaign",
        "ref": str(campaign_id),
    }
    sign_in(client, mkey)
    page = html.unescape(client.get("/admin/offers").get_data(as_text=True))
    with app.test_request_context():
        assert money(Decimal("600.00"), "ru") in page
        assert money(Decimal(stats["revenue"]), "ru") in page
    # A redemption after the attribution window is not the campaign's cost.
    with app.app_context():
        db.session.execute(
            update(Assignment)
            .where(Assignment.campaign_id == campaign_id)
            .values(created_at=real_now - timedelta(days=8))
        )
        db.session.commit()
    body = client.get(
        f"/api/v1/campaigns/{campaign_id}/results", headers=auth(mkey)
    ).json
    assert body["groups"]["treatment"]["offers_redeemed"] == 0
    assert body["groups"]["treatment"]["discount_cost"] == 0.0


def test_offer_redeemed_segment_rule(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    from app.services.errors import Invalid

    mkey = marketer_key(app, demo.program_id)
    pos = make_key(app)
    campaign_id, offer_id = _campaign_with_offer(app, client, mkey, demo)
    with app.app_context():
        db.session.execute(
            update(MemberOffer)
            .where(MemberOffer.offer_id == offer_id)
            .values(expires_at=None)
        )
        db.session.commit()
        held = db.session.execute(
            select(MemberOffer.member_id, MemberOffer.id)
            .where(MemberOffer.offer_id == offer_id)
            .order_by(MemberOffer.id)
        ).all()
    demo_ids = {p.member_id for p in demo.passes}
    held = [row for row in held if row[0] not in demo_ids]
    other = client.post(
        "/api/v1/offers", json={**OFFER, "value": 20}, headers=auth(mkey)
    ).json["id"]
    lone = held[4][0]
    manual = client.post(
        f"/api/v1/members/{lone}/offers", json={"offer_id": other}, headers=auth(mkey)
    )
    assert manual.status_code == 201, manual.json
    for member_id, instance in held[:2]:
        code = card(app, member_id).barcode
        assert till(client, pos, code, "2000.00", [instance]).status_code == 201
    code = card(app, lone).barcode
    assert till(client, pos, code, "2000.00", [manual.json["id"]]).status_code == 201
    first, second = held[0][0], held[1][0]
    with app.app_context():
        # The first redemption was 40 days ago.
        db.session.execute(
            update(MemberOffer)
            .where(MemberOffer.id == held[0][1])
            .values(redeemed_at=datetime.now(UTC) - timedelta(days=40))
        )
        db.session.commit()
        program = db.session.get(Program, demo.program_id)
        now = datetime.now(UTC)

        def match(definition: Any) -> set[int]:
            return matching(program, definition, now)

        assert match({"offer_redeemed": {"offer": offer_id}}) == {first, second}
        assert match({"offer_redeemed": {"offer": offer_id, "days": 30}}) == {second}
        assert match({"offer_redeemed": {}}) == {first, second, lone}
        assert match({"offer_redeemed": {"days": 30}}) == {second, lone}
        assert match({"offer_redeemed": {"offer": other}}) == {lone}
        for bad in (
            {"offer_redeemed": {"offer": 999999}},
            {"offer_redeemed": {"offer": "1"}},
            {"offer_redeemed": {"days": 0}},
            {"offer_redeemed": {"weeks": 2}},
            {"offer_redeemed": []},
        ):
            with pytest.raises(Invalid) as refused:
                segments.validate(program, bad)
            assert refused.value.code == "invalid_segment"
    # Through the API's preview too.
    preview = client.post(
        "/api/v1/segments/preview",
        json={"segment": {"offer_redeemed": {"offer": other}}},
        headers=auth(mkey),
    )
    assert preview.status_code == 200, preview.json
    assert preview.json["members"] == 1


def test_lapsed_segment_and_win_back_pick_the_same_members(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    """Generated histories with uneven gaps (mean != median): the segment's
    preview and a win-back run (same factor and days) pick the same members."""
    from app.services import automations

    rng = random.Random(1516)
    now = NOW
    joined = now - timedelta(days=900)
    members = []
    for i in range(36):
        member_id = new_member(app, demo.program_id, f"+7999160{i:04d}", joined=joined)
        members.append(member_id)
        count = rng.choice([0, 1, 2, 3, 4, 5, 6, 8])
        at = now - timedelta(days=rng.uniform(0, 150))
        for n in range(count):
            purchase_at(app, member_id, at, n)
            # Mostly short gaps with the odd long pause: the mean drifts far
            # above the median.
            at -= timedelta(days=rng.choice([2, 3, 5, 7, 60, 120]))
    never_quiet(app, demo.program_id)
    definition = {"lapsed": {"factor": 2, "days": 60}}
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        conf = automations.configured(program, "win_back")
        assert (conf["factor"], conf["days"], conf["min_purchases"]) == (2.0, 60, 3)
        previewed = matching(program, definition, now)
        by_mean = matching(
            program, {"lapsed": {**definition["lapsed"], "stat": "mean"}}, now
        )
        counted = segments.counts(program, definition, now)["members"]
    # The data tells the two statistics apart (else this test proves nothing).
    assert previewed != by_mean
    assert counted == len(previewed)
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        automations.run(program, "win_back", now, force=True)
        db.session.commit()
        messaged = set(
            db.session.scalars(
                select(MemberMessage.member_id).where(
                    MemberMessage.source_key.startswith("winback:")
                )
            )
        )
        held_out = set(
            db.session.scalars(
                select(Assignment.member_id).where(
                    Assignment.automation == "win_back", Assignment.grp == "control"
                )
            )
        )
    assert previewed
    assert messaged | held_out == previewed
