"""Offers: templates (strict checks), personal instances, the till, counting."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEntry, MemberOffer, Offer, PosTransaction
from tests.app.marketing_support import auth, marketer_key, never_quiet
from tests.app.pos_support import (
    assert_ledger_matches_balances,
    balance,
    card,
    ledger_count,
    make_key,
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


# -- at the till -------------------------------------------------------------------


@pytest.fixture
def pos(app: Flask, demo: Demo) -> str:
    return make_key(app)


def buy(
    client: FlaskClient,
    key: str,
    code: str,
    amount: str = "2000.00",
    offer_ids: list | None = None,
    idem: str | None = None,
    **extra: object,
):
    body: dict[str, object] = {"code": code, "amount": amount, "receipt_id": "R-1"}
    if offer_ids is not None:
        body["offer_ids"] = offer_ids
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


def give(client: FlaskClient, mkey: str, member_id: int, **changes: object) -> int:
    """A new template issued to the member: the instance's id."""
    offer_id = create(client, mkey, **changes)
    response = issue(client, mkey, member_id, offer_id)
    assert response.status_code == 201, response.json
    return response.json["id"]


def expected_earned(app: Flask, member_id: int, paid_kopecks: int) -> int:
    from app.models import Member
    from app.services import loyalty

    with app.app_context():
        member = db.session.get(Member, member_id)
        return loyalty.earned_points(member.program, member.tier, paid_kopecks)


def status(app: Flask, instance_id: int) -> str:
    with app.app_context():
        return db.session.get(MemberOffer, instance_id).status


def scan(client: FlaskClient, key: str, code: str) -> dict:
    response = client.post(
        "/api/v1/pos/scan",
        data=json.dumps({"code": code}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 200, response.json
    return response.json


def test_scan_lists_usable_offers_and_a_purchase_redeems_one_once(
    app: Flask, client: FlaskClient, mkey: str, pos: str, demo: Demo
) -> None:
    member_id = demo.passes[0].member_id
    c = card(app, member_id)
    instance = give(client, mkey, member_id)
    offers = scan(client, pos, c.barcode)["offers"]
    assert len(offers) == 1
    shown = offers[0]
    assert shown["id"] == instance
    assert shown["title"] == "−15 % на всё"
    assert shown["kind"] == "percent_off"
    assert shown["value"] == 15
    assert shown["min_amount"] == "1000.00"
    assert shown["combinable"] is False
    assert shown["expires_at"]
    before = balance(app, member_id)

    key = str(uuid.uuid4())
    first = buy(client, pos, c.barcode, "2000.00", [instance], idem=key)
    assert first.status_code == 201, first.json
    body = first.json
    assert body["discount"] == "300.00"
    assert body["paid"] == "1700.00"
    assert body["amount"] == "2000.00"
    assert body["earned"] == expected_earned(app, member_id, 170_000)
    assert body["offers_redeemed"] == [
        {
            "id": instance,
            "title": "−15 % на всё",
            "kind": "percent_off",
            "discount": "300.00",
        }
    ]
    assert status(app, instance) == "redeemed"
    assert balance(app, member_id) == before + body["earned"]
    # The same key replays the answer; nothing is redeemed or earned twice.
    again = buy(client, pos, c.barcode, "2000.00", [instance], idem=key)
    assert again.status_code == 201
    assert again.json == body
    assert again.headers["Idempotent-Replayed"] == "true"
    assert balance(app, member_id) == before + body["earned"]
    # A new purchase cannot use it again; nothing changes.
    entries = ledger_count(app)
    used = buy(client, pos, c.barcode, "2000.00", [instance])
    assert used.status_code == 422
    assert used.json["error"] == "offer_used"
    assert ledger_count(app) == entries
    assert scan(client, pos, c.barcode)["offers"] == []
    assert_ledger_matches_balances(app)


def test_refusals_change_nothing(
    app: Flask, client: FlaskClient, mkey: str, pos: str, demo: Demo
) -> None:
    member_id = demo.passes[0].member_id
    other_member = demo.passes[1].member_id
    c = card(app, member_id)
    mine = give(client, mkey, member_id)
    theirs = give(client, mkey, other_member, kind="amount_off", value="100")
    stale = give(client, mkey, member_id, kind="amount_off", value="50", min_amount=0)
    with app.app_context():
        db.session.get(MemberOffer, stale).expires_at = datetime.now(UTC) - timedelta(
            minutes=1
        )
        db.session.commit()
    also = give(client, mkey, member_id, kind="amount_off", value="100", min_amount=0)
    other_key, stranger = other_program(app)
    entries = ledger_count(app)
    cases = [
        ([theirs], "2000.00", "offer_not_yours"),
        ([stale], "2000.00", "offer_expired"),
        ([mine], "999.99", "offer_below_minimum"),
        ([mine, also], "2000.00", "offer_not_combinable"),
        ([987654], "2000.00", "unknown_offer"),
    ]
    for offer_ids, amount, code in cases:
        response = buy(client, pos, c.barcode, amount, offer_ids)
        assert response.status_code == 422, (code, response.json)
        assert response.json["error"] == code
        assert response.json["message"]
    for bad in ("x", [0], [mine, mine], [True], list(range(1, 8))):
        response = buy(client, pos, c.barcode, "2000.00", bad)
        assert response.status_code == 422, bad
        assert response.json["error"] == "invalid_offer_ids"
    typed = buy(client, pos, c.number, "2000.00", [mine])
    assert typed.status_code == 403
    assert typed.json["error"] == "barcode_required"
    # Another program's member cannot use this program's instance.
    response = buy(client, other_key, stranger.barcode, "2000.00", [mine])
    assert response.status_code == 422
    assert response.json["error"] == "unknown_offer"
    assert ledger_count(app) == entries
    assert count(app, PosTransaction) == 0
    assert {status(app, i) for i in (mine, theirs, also)} == {"issued"}


def test_amount_multiplier_bonus_and_combining(
    app: Flask, client: FlaskClient, mkey: str, pos: str, demo: Demo
) -> None:
    member_id = demo.passes[0].member_id
    c = card(app, member_id)
    off = give(client, mkey, member_id, kind="amount_off", value="500", combinable=True)
    double = give(
        client, mkey, member_id, kind="points_multiplier", value=2, combinable=True
    )
    bonus = give(
        client, mkey, member_id, kind="bonus_points", value=150, combinable=True
    )
    response = buy(client, pos, c.barcode, "1500.00", [off, double, bonus])
    assert response.status_code == 201, response.json
    assert response.json["discount"] == "500.00"
    assert response.json["paid"] == "1000.00"
    assert response.json["earned"] == expected_earned(app, member_id, 100_000) * 2 + 150
    # A capped percentage and a discount never beyond the receipt.
    capped = give(client, mkey, member_id, value=50, cap="100", min_amount=0)
    response = buy(client, pos, c.barcode, "1000.00", [capped])
    assert response.json["discount"] == "100.00"
    big = give(client, mkey, member_id, kind="amount_off", value="5000", min_amount=0)
    response = buy(client, pos, c.barcode, "300.00", [big])
    assert response.json["discount"] == "300.00"
    assert response.json["paid"] == "0.00"
    assert response.json["earned"] == 0
    assert_ledger_matches_balances(app)


def test_a_refund_restores_a_still_valid_offer(
    app: Flask, client: FlaskClient, mkey: str, pos: str, demo: Demo
) -> None:
    member_id = demo.passes[0].member_id
    c = card(app, member_id)
    valid = give(client, mkey, member_id)
    bought = buy(client, pos, c.barcode, "2000.00", [valid])
    assert bought.status_code == 201
    refund = client.post(
        f"/api/v1/pos/transactions/{bought.json['transaction_id']}/refund",
        headers={"Authorization": f"Bearer {pos}"},
    )
    assert refund.status_code == 200, refund.json
    assert refund.json["offers_restored"] == 1
    assert status(app, valid) == "issued"
    # An offer that expired meanwhile stays used.
    later = give(client, mkey, member_id, kind="amount_off", value="10", min_amount=0)
    bought = buy(client, pos, c.barcode, "2000.00", [later])
    with app.app_context():
        db.session.get(MemberOffer, later).expires_at = datetime.now(UTC) - timedelta(
            seconds=1
        )
        db.session.commit()
    refund = client.post(
        f"/api/v1/pos/transactions/{bought.json['transaction_id']}/refund",
        headers={"Authorization": f"Bearer {pos}"},
    )
    assert refund.json["offers_restored"] == 0
    assert status(app, later) == "redeemed"
    assert_ledger_matches_balances(app)


def test_concurrent_retries_and_tills_redeem_an_offer_once(
    app: Flask, client: FlaskClient, mkey: str, demo: Demo
) -> None:
    """Real concurrent requests (PostgreSQL row locks, SQLite's one writer): three
    retries of one purchase and three other purchases all naming one offer. One
    purchase is recorded and redeems it; its retries replay that answer; the
    others are refused with offer_used."""
    from tests.app.test_pos_concurrency import all_at_once, call, used_key
    from tests.support.liveserver import live_server

    member_id = demo.passes[0].member_id
    c = card(app, member_id)
    instance = give(client, mkey, member_id)
    with live_server(app) as server:
        key = used_key(app, server)
        url = f"{server}/api/v1/pos/transactions"
        shared = str(uuid.uuid4())

        def till(i: int):
            body = {
                "code": c.barcode,
                "amount": "2000.00",
                "receipt_id": "R-1" if i < 3 else f"R-{i}",
                "offer_ids": [instance],
            }
            idem = shared if i < 3 else str(uuid.uuid4())
            return call(url, key, body, idem)

        results = all_at_once(6, till)
    created = [body for code, body in results if code == 201]
    refused = [body for code, body in results if code != 201]
    assert {body["transaction_id"] for body in created} == {
        created[0]["transaction_id"]
    }
    assert all(body["error"] == "offer_used" for body in refused), refused
    assert count(app, PosTransaction) == 1
    with app.app_context():
        row = db.session.get(MemberOffer, instance)
        assert row.status == "redeemed"
        assert row.transaction_id == created[0]["transaction_id"]
    assert_ledger_matches_balances(app)


# -- on the pass ---------------------------------------------------------------------


def pass_json(app: Flask, member_id: int) -> dict:
    import passes
    from app.models import Pass
    from app.services.passes import pass_inputs

    with app.app_context():
        pass_ = db.session.scalar(select(Pass).where(Pass.member_id == member_id))
        return passes.build_pass_json(*pass_inputs(pass_))


def stored_hash_is_current(app: Flask, member_id: int) -> bool:
    from app.models import Pass
    from app.services.passes import content_hash

    with app.app_context():
        pass_ = db.session.scalar(select(Pass).where(Pass.member_id == member_id))
        return pass_.content_hash == content_hash(pass_)


def test_the_pass_shows_offers_front_and_back_and_notifies_only_new_ones(
    app: Flask, client: FlaskClient, mkey: str, pos: str, demo: Demo
) -> None:
    member_id = demo.passes[0].member_id
    c = card(app, member_id)
    assert "offers" not in {
        f["key"] for f in pass_json(app, member_id)["storeCard"]["auxiliaryFields"]
    }
    first = give(client, mkey, member_id)
    give(
        client,
        mkey,
        member_id,
        kind="gift",
        value=None,
        title={"ru": "Кофе"},
        terms={"ru": "Любой размер"},
        valid_days=30,
        min_amount=0,
    )
    third = give(
        client,
        mkey,
        member_id,
        kind="amount_off",
        value="100",
        valid_days=60,
        min_amount=0,
    )
    assert stored_hash_is_current(app, member_id)
    card_json = pass_json(app, member_id)["storeCard"]
    front = {f["key"]: f for f in card_json["auxiliaryFields"]}["offers"]
    assert front["label"] == "Ваши предложения"
    assert front["value"] == "−15 % на всё · ещё 2"
    assert front["changeMessage"] == "%@"
    back = [f for f in card_json["backFields"] if f["key"].startswith("offer_")]
    assert [f["label"] for f in back] == ["−15 % на всё", "Кофе", "−15 % на всё"]
    assert back[0]["value"].startswith("Кроме акционных товаров\nДействует до ")
    assert back[1]["value"].startswith("Любой размер\nДействует до ")
    # A redemption changes the pass silently (no change message), and the
    # purchase path's content hash is the one refresh_pass computes.
    bought = buy(client, pos, c.barcode, "2000.00", [first])
    assert bought.status_code == 201, bought.json
    assert stored_hash_is_current(app, member_id)
    front = {
        f["key"]: f for f in pass_json(app, member_id)["storeCard"]["auxiliaryFields"]
    }["offers"]
    assert front["value"] == "Кофе · ещё 1"
    assert "changeMessage" not in front
    # A refund brings it back (the pass follows).
    client.post(
        f"/api/v1/pos/transactions/{bought.json['transaction_id']}/refund",
        headers={"Authorization": f"Bearer {pos}"},
    )
    assert stored_hash_is_current(app, member_id)
    assert third


def test_an_english_members_pass_is_english_throughout(
    app: Flask, client: FlaskClient, mkey: str, demo: Demo
) -> None:
    from app.models import Member, Program

    member_id = demo.passes[0].member_id
    with app.app_context():
        db.session.get(Member, member_id).language = "en"
        db.session.commit()
    give(client, mkey, member_id)
    english = pass_json(app, member_id)
    assert english["description"].endswith(" loyalty card")
    assert english["locations"], "the demo member has stores nearby"
    assert all(
        loc["relevantText"].endswith(" is nearby: show your card")
        for loc in english["locations"]
    )
    front = {f["key"]: f for f in english["storeCard"]["auxiliaryFields"]}
    assert front["offers"]["label"] == "Your offers"
    assert front["offers"]["value"] == "15 % off"
    back = [f for f in english["storeCard"]["backFields"] if f["key"] == "offer_0"]
    assert back[0]["value"].startswith("Except sale items\nValid until ")
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        program.texts = {
            **program.texts,
            "organization_name": {"en": "North Store"},
            "description": {"en": "North Store card"},
        }
        db.session.commit()
    english = pass_json(app, member_id)
    assert english["organizationName"] == "North Store"
    assert english["description"] == "North Store card"
    # A Russian member's pass keeps the program's own texts.
    russian = pass_json(app, demo.passes[1].member_id)
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        assert russian["organizationName"] == program.organization_name
        assert russian["description"] == program.description


def test_google_object_shows_each_offer_as_a_message_until_it_expires(
    google_app: Flask, client: FlaskClient, demo: Demo, google_stand_in
) -> None:
    from app.models import Member
    from app.services import google_wallet
    from tests.app.test_google import object_of_app
    from tests.support import google_schema

    app = google_app
    mkey = marketer_key(app, demo.program_id)
    card_token = demo.passes[0].card_token
    member_id = demo.passes[0].member_id
    assert client.get(f"/c/{card_token}/google").status_code == 303
    with app.app_context():
        google_wallet.add_message(
            db.session.get(Member, member_id), "Акция", "Текст", "campaign-1"
        )
        db.session.commit()
    instance = give(client, mkey, member_id)
    with app.app_context():
        assert google_wallet.sync_object(db.session.get(Member, member_id))
        db.session.commit()
    body = object_of_app(app, google_stand_in, card_token)
    assert google_schema.errors("LoyaltyObject", body) == []
    messages = body["messages"]
    assert [m["header"] for m in messages] == ["Акция", "−15 % на всё"]
    offer = messages[1]
    assert offer["id"] == f"offer-{instance}"
    with app.app_context():
        expires = db.session.get(MemberOffer, instance).expires_at
    assert offer["displayInterval"]["end"]["date"] == expires.isoformat()
    assert offer["body"].startswith("Кроме акционных товаров\nДействует до ")
    # Redeemed: the message goes; the campaign's stays.
    pos = make_key(app)
    c = card(app, member_id)
    assert buy(client, pos, c.barcode, "2000.00", [instance]).status_code == 201
    with app.app_context():
        google_wallet.sync_object(db.session.get(Member, member_id))
        db.session.commit()
    messages = object_of_app(app, google_stand_in, card_token)["messages"]
    assert [m["header"] for m in messages] == ["Акция"]


def test_the_card_page_lists_active_offers_with_terms_and_expiry(
    app: Flask, client: FlaskClient, mkey: str, demo: Demo
) -> None:
    member_id = demo.passes[0].member_id
    page = client.get(f"/c/{demo.passes[0].card_token}").get_data(as_text=True)
    assert "member-offers" not in page
    give(client, mkey, member_id)
    page = client.get(f"/c/{demo.passes[0].card_token}").get_data(as_text=True)
    assert "−15 % на всё" in page
    assert "Кроме акционных товаров" in page
    assert "Действует до " in page
    english = client.get(f"/c/{demo.passes[0].card_token}?lang=en").get_data(
        as_text=True
    )
    assert "15 % off" in english
    assert "Valid until " in english


def test_the_expiry_job_ends_instances_silently_and_refreshes_passes(
    app: Flask, client: FlaskClient, mkey: str, demo: Demo, monkeypatch
) -> None:
    from app.models import Member, Pass, PushDelivery
    from app.services import offers, scheduler
    from tests.app.campaign_support import register_device

    monkeypatch.setattr(offers, "EXPIRY_BATCH", 1)  # several transactions
    member_id = demo.passes[0].member_id
    with app.app_context():
        register_device(db.session.get(Member, member_id))
        db.session.commit()
    soon = give(client, mkey, member_id, valid_days=1)
    later = give(client, mkey, member_id, kind="amount_off", value="100", valid_days=30)
    other = give(client, mkey, demo.passes[1].member_id, valid_days=1)
    with app.app_context():
        tag = db.session.scalar(
            select(Pass.update_tag).where(Pass.member_id == member_id)
        )
    moment = datetime.now(UTC) + timedelta(days=2)
    with app.app_context():
        assert scheduler.run_due(moment)["offer_expiry"] == "ok"
    assert status(app, soon) == "expired"
    assert status(app, other) == "expired"
    assert status(app, later) == "issued"
    with app.app_context():
        pass_ = db.session.scalar(select(Pass).where(Pass.member_id == member_id))
        assert pass_.update_tag > tag
        # Its device is told (the queued push coalesces with any pending one).
        assert db.session.scalar(
            select(func.count())
            .select_from(PushDelivery)
            .where(PushDelivery.pass_id == pass_.id, PushDelivery.status == "queued")
        )
    front = {
        f["key"]: f for f in pass_json(app, member_id)["storeCard"]["auxiliaryFields"]
    }["offers"]
    assert front["value"] == "−15 % на всё"  # the later one (the first expired)
    assert "changeMessage" not in front  # the phone updates without a notice


def test_counts_per_offer_and_source(
    app: Flask, client: FlaskClient, mkey: str, pos: str, demo: Demo
) -> None:
    offer_id = create(client, mkey, combinable=True)
    other_id = create(
        client, mkey, kind="amount_off", value="100", min_amount=0, combinable=True
    )
    members = [p.member_id for p in demo.passes]
    ids = {}
    for m in members:
        ids[m] = issue(client, mkey, m, offer_id).json["id"]
    extra = issue(client, mkey, members[0], offer_id, source="vip").json["id"]
    both = issue(client, mkey, members[0], other_id).json["id"]
    c0, c1 = card(app, members[0]), card(app, members[1])
    assert (
        buy(client, pos, c0.barcode, "2000.00", [ids[members[0]], both]).status_code
        == 201
    )
    assert buy(client, pos, c1.barcode, "1000.00", [ids[members[1]]]).status_code == 201
    stats = client.get(f"/api/v1/offers/{offer_id}/stats", headers=auth(mkey)).json
    assert stats["issued"] == 4
    assert stats["redeemed"] == 2
    assert stats["redemption_rate"] == 0.5
    # 15 % of 2000 and of 1000.
    assert stats["discount"] == "450.00"
    # What the two purchases paid: 2000 - 300 - 100, 1000 - 150.
    assert stats["revenue"] == "2450.00"
    by = {
        (row["source"]["kind"], row["source"]["ref"]): row for row in stats["by_source"]
    }
    assert set(by) == {("manual", "")}
    assert by[("manual", "")]["issued"] == 4
    assert extra
    other = client.get(f"/api/v1/offers/{other_id}/stats", headers=auth(mkey)).json
    assert (other["issued"], other["redeemed"], other["discount"]) == (1, 1, "100.00")
    assert client.get("/api/v1/offers/999/stats", headers=auth(mkey)).status_code == 404


def test_the_birthday_automation_issues_its_offer_once_a_year(
    app: Flask, client: FlaskClient, mkey: str, demo: Demo
) -> None:
    offer_id = create(client, mkey)
    configured = client.patch(
        "/api/v1/automations",
        data=json.dumps({"birthday": {"settings": {"offer_id": offer_id}}}),
        content_type="application/json",
        headers=auth(mkey),
    )
    assert configured.status_code == 200, configured.json
    assert configured.json["automations"][0]["settings"]["offer_id"] == offer_id
    anna = demo.passes[0].member_id  # born 14 March
    for _ in range(2):
        answer = post(
            client, mkey, "/api/v1/automations/birthday/run", {"date": "2026-03-14"}
        )
        assert answer.status_code == 200, answer.json
    assert instances(app) == [(anna, "birthday:2026", "automation", "birthday")]
    with app.app_context():
        row = db.session.scalar(select(MemberOffer))
        assert row.expires_at - row.issued_at == timedelta(days=7)
