"""Results (issue 16): control groups held out and recorded, variants, and the
results of campaigns and automations, with a known uplift recovered and an A/A
split that shows nothing."""

from __future__ import annotations

import csv
import io
import random
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, insert, select, update

from app.extensions import db
from app.models import (
    Assignment,
    Campaign,
    LedgerEntry,
    Member,
    MemberMessage,
    MemberOffer,
    Pass,
    PosTransaction,
    Program,
    Registration,
    WalletEvent,
)
from app.models.campaign import DONE
from app.services import automations, offers, results, scheduler
from app.services.auth import create_key
from tests.app.campaign_support import (
    NOW,
    add_member,
    add_pass,
    pos_key,
    register_device,
)
from tests.app.marketing_support import never_quiet
from tests.conftest import Demo

TEXTS = {"ru": "Скидка 20% на пальто", "en": "20% off coats"}


@pytest.fixture
def key(app: Flask, demo: Demo) -> str:
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        issued = create_key("marketer", program=program)
        db.session.commit()
        return issued.key


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def create(client: FlaskClient, key: str, **body: object) -> dict[str, Any]:
    response = client.post(
        "/api/v1/campaigns",
        json={"texts": TEXTS, "segment": {"all": {}}, **body},
        headers=auth(key),
    )
    assert response.status_code == 201, response.json
    return dict(response.json or {})


def count(model: type, *where: Any) -> int:
    return int(db.session.scalar(select(func.count()).select_from(model).where(*where)))


# -- statistics --------------------------------------------------------------------
def test_newcombe_and_welch_intervals() -> None:
    # Newcombe (1998), Statistics in Medicine 17:873, table II example (a):
    # 56/70 - 48/80, method 10 (hybrid score): 0.0524 to 0.3339.
    interval = results.proportion_difference(56, 70, 48, 80)
    assert interval is not None
    assert round(interval.estimate, 4) == 0.2
    assert (round(interval.low, 4), round(interval.high, 4)) == (0.0524, 0.3339)
    assert interval.significant
    # Welch: means 2 and 1 of [1, 2, 3] and [0, 1, 2] (variance 1 each):
    # standard error sqrt(1/3 + 1/3), 1 ± 1.96 x 0.8165.
    welch = results.mean_difference(6, 14, 3, 3, 5, 3)
    assert welch is not None
    assert welch.estimate == 1
    assert round(welch.low, 3) == round(1 - 1.959964 * (2 / 3) ** 0.5, 3)
    assert not welch.significant
    assert welch.as_json()["verdict"] == "not significant yet"
    # Nothing to compare with: no interval.
    assert results.proportion_difference(1, 10, 0, 0) is None
    assert results.mean_difference(1, 1, 1, 1, 1, 1) is None


def test_the_split_is_stable_and_follows_the_shares() -> None:
    held = [m for m in range(1, 20_001) if results.is_held_out("campaign:7", m, 10)]
    # The same on every call (no process-randomised hash) and close to 10 %.
    assert held == [
        m for m in range(1, 20_001) if results.is_held_out("campaign:7", m, 10)
    ]
    assert 1_800 < len(held) < 2_200
    assert not any(results.is_held_out("campaign:7", m, 0) for m in range(1, 1000))
    variants = [{"name": "A", "share": 70}, {"name": "B", "share": 30}]
    picked = [results.pick_variant("campaign:7", m, variants) for m in range(1, 10_001)]
    assert 6_700 < picked.count("A") < 7_300
    assert picked.count("A") + picked.count("B") == 10_000


# -- control groups and variants ---------------------------------------------------
def test_campaign_holds_out_a_recorded_control_group_that_is_not_messaged(
    app: Flask, client: FlaskClient, demo: Demo, key: str
) -> None:
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        for i in range(120):
            member = add_member(program)
            if i % 2:
                register_device(member)
        db.session.commit()
    campaign = create(client, key, holdout_percent=30, state="scheduled")
    assert campaign["holdout_percent"] == 30
    assert campaign["attribution_days"] == 14
    with app.app_context():
        scheduler.run_due(NOW)
        assert db.session.get(Campaign, campaign["id"]).state == DONE
        rows = db.session.execute(
            select(Assignment.member_id, Assignment.grp, Assignment.reached).where(
                Assignment.campaign_id == campaign["id"]
            )
        ).all()
        messaged = set(
            db.session.scalars(
                select(MemberMessage.member_id).where(
                    MemberMessage.campaign_id == campaign["id"]
                )
            )
        )
        members = set(db.session.scalars(select(Member.id)))
        control = {m for m, grp, _ in rows if grp == "control"}
        treated = {m for m, grp, _ in rows if grp == "treatment"}
        # Everyone is assigned once; the control group is exactly the hash's
        # choice, about 30 %, and no control member got the message.
        assert control | treated == members
        assert not control & treated
        source = f"campaign:{campaign['id']}"
        assert control == {m for m in members if results.is_held_out(source, m, 30)}
        assert 20 < len(control) < 60
        assert messaged == treated
        # Reached: messaged on a registered device.
        reached = {m for m, grp, was_reached in rows if was_reached}
        assert reached
        assert reached <= treated
        assert all(grp == "treatment" for _, grp, r in rows if r)


def test_campaign_batches_record_each_member_once_reached_exactly_when_registered(
    app: Flask, client: FlaskClient, demo: Demo, key: str
) -> None:
    """Over many small batches with a control group and an offer: one row per
    member, the treated messaged and offered (the held out neither), and
    `reached` (now written with the treated rows, after their send) exactly for
    the treated with a registered device on a live pass."""
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        for i in range(60):
            member = add_member(program)
            if i % 3 == 0:
                register_device(member)
            elif i % 3 == 1:
                add_pass(member)  # a card without a device: not reached
        voided = add_member(program)
        register_device(voided)
        db.session.execute(
            update(Pass).where(Pass.member_id == voided.id).values(voided=True)
        )
        offer = offers.create_offer(
            program,
            {
                "kind": "percent_off",
                "value": 10,
                "title": {"ru": "−10 %"},
                "valid_days": 7,
            },
            None,
        )
        db.session.commit()
        offer_id, voided_id = offer.id, voided.id
    app.config["CAMPAIGN_BATCH_SIZE"] = 7
    campaign = create(
        client, key, holdout_percent=30, offer_id=offer_id, state="scheduled"
    )
    with app.app_context():
        for _ in range(5):
            scheduler.run_due(NOW)
        assert db.session.get(Campaign, campaign["id"]).state == DONE
        rows = db.session.execute(
            select(Assignment.member_id, Assignment.grp, Assignment.reached).where(
                Assignment.campaign_id == campaign["id"]
            )
        ).all()
        members = set(db.session.scalars(select(Member.id)))
        registered = set(
            db.session.scalars(
                select(Pass.member_id)
                .join(Registration, Registration.pass_id == Pass.id)
                .where(Pass.voided.is_(False))
            )
        )
        messaged = set(
            db.session.scalars(
                select(MemberMessage.member_id).where(
                    MemberMessage.campaign_id == campaign["id"]
                )
            )
        )
        offered = list(
            db.session.scalars(
                select(MemberOffer.member_id).where(MemberOffer.offer_id == offer_id)
            )
        )
    assert len(rows) == len(members)
    source = f"campaign:{campaign['id']}"
    control = {m for m, grp, _ in rows if grp == "control"}
    treated = {m for m, grp, _ in rows if grp == "treatment"}
    assert control == {m for m in members if results.is_held_out(source, m, 30)}
    assert control
    assert treated
    assert not control & treated
    assert messaged == treated
    assert sorted(offered) == sorted(treated)
    assert {m for m, _, reached in rows if reached} == treated & registered
    assert voided_id not in registered


def test_variants_are_validated_recorded_and_say_their_own_texts(
    app: Flask, client: FlaskClient, demo: Demo, key: str
) -> None:
    bad = [
        {"variants": [{"share": 100, "texts": {"ru": "Один"}}]},
        {
            "variants": [
                {"share": 50, "texts": {"ru": "А"}},
                {"share": 40, "texts": {"ru": "Б"}},
            ]
        },
        {"variants": [{"share": 20, "texts": {"ru": "А"}}] * 5},
        {"variants": [{"share": 50}, {"share": 50, "texts": {"ru": "Б"}}]},
        {
            "variants": [
                {"name": "control", "share": 50, "texts": {"ru": "А"}},
                {"share": 50, "offer_id": 3},
            ]
        },
        {
            "variants": [
                {"name": "X", "share": 50, "offer_id": 3},
                {"name": "X", "share": 50, "offer_id": 4},
            ]
        },
        {"variants": "A/B"},
        {"holdout_percent": 51},
        {"holdout_percent": -1},
        {"holdout_percent": True},
        {"attribution_days": 0},
        {"attribution_days": 91},
    ]
    for body in bad:
        response = client.post(
            "/api/v1/campaigns",
            json={"texts": TEXTS, "segment": {"all": {}}, **body},
            headers=auth(key),
        )
        assert response.status_code == 422, body
        assert response.json["error"] in {
            "invalid_variants",
            "invalid_holdout",
            "invalid_attribution_days",
            "invalid_campaign",
        }
    with app.app_context():
        assert count(Campaign) == 0
        program = db.session.get(Program, demo.program_id)
        for _ in range(60):
            add_member(program)
        db.session.commit()
    offer = client.post(
        "/api/v1/offers",
        json={
            "kind": "percent_off",
            "value": 10,
            "title": {"ru": "−10 %", "en": "10 % off"},
            "valid_days": 7,
        },
        headers=auth(key),
    )
    assert offer.status_code == 201, offer.json
    offer_id = offer.json["id"]
    variants = [
        {"name": "short", "share": 50, "texts": {"ru": "Коротко"}},
        {
            "name": "long",
            "share": 50,
            "texts": {"ru": "Очень длинно", "en": "Long"},
            "offer_id": offer_id,
        },
    ]
    campaign = create(
        client, key, holdout_percent=10, variants=variants, attribution_days=7
    )
    assert campaign["variants"] == variants
    assert campaign["attribution_days"] == 7
    client.post(f"/api/v1/campaigns/{campaign['id']}/schedule", headers=auth(key))
    with app.app_context():
        scheduler.run_due(NOW)
        rows = db.session.execute(
            select(Assignment.grp, Assignment.variant, MemberMessage.body)
            .outerjoin(
                MemberMessage,
                (MemberMessage.member_id == Assignment.member_id)
                & (MemberMessage.source_key == Assignment.source_key),
            )
            .where(Assignment.campaign_id == campaign["id"])
        ).all()
    said = {variant: set() for variant in ("short", "long", None)}
    for grp, variant, body in rows:
        said[variant].add(body.split(" · ")[0] if body else None)
        assert (grp == "control") == (variant is None)
    # (An English-speaking demo member reads the variant's English text.)
    assert said["short"] == {"Коротко"}
    assert said[None] == {None}
    assert "Очень длинно" in said["long"]
    # Only the "long" variant's members got its offer, each one instance.
    with app.app_context():
        holders = set(
            db.session.scalars(
                select(MemberOffer.member_id).where(MemberOffer.offer_id == offer_id)
            )
        )
        long_members = set(
            db.session.scalars(
                select(Assignment.member_id).where(
                    Assignment.campaign_id == campaign["id"],
                    Assignment.variant == "long",
                )
            )
        )
    assert holders
    assert holders == long_members
    assert said["long"] <= {"Очень длинно", "Long"}
    # Not editable once sent.
    response = client.patch(
        f"/api/v1/campaigns/{campaign['id']}",
        json={"holdout_percent": 0},
        headers=auth(key),
    )
    assert response.status_code == 409


def test_automation_holds_out_members_who_get_no_message_and_no_bonus(
    app: Flask, demo: Demo
) -> None:
    never_quiet(app, demo.program_id)
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        row = automations.automation(program, "welcome")
        automations.configure(row, {"settings": {"holdout_percent": 50}})
        now = datetime.now(UTC)
        ids = [
            add_member(program, created_at=now - timedelta(hours=1)).id
            for _ in range(40)
        ]
        db.session.commit()
        first = automations.run(program, "welcome", now, force=True)
        db.session.commit()
        control = set(
            db.session.scalars(
                select(Assignment.member_id).where(
                    Assignment.automation == "welcome", Assignment.grp == "control"
                )
            )
        )
        # The new members and the (new) demo members.
        assigned = set(
            db.session.scalars(
                select(Assignment.member_id).where(Assignment.automation == "welcome")
            )
        )
        assert set(ids) <= assigned
        assert control == {m for m in assigned if results.is_held_out("welcome", m, 50)}
        assert 8 < len(control) < 35
        assert first["sent"] == len(assigned) - len(control)
        welcomed = set(
            db.session.scalars(
                select(MemberMessage.member_id).where(
                    MemberMessage.source_key == "welcome"
                )
            )
        )
        assert welcomed == assigned - control
        # The next tick leaves the held-out members alone.
        assert automations.run(program, "welcome", now, force=True)["sent"] == 0
        db.session.commit()
        assert count(Assignment, Assignment.automation == "welcome") == len(assigned)

        # The birthday's control group gets neither the greeting nor the bonus.
        row = automations.automation(program, "birthday")
        automations.configure(row, {"settings": {"holdout_percent": 50}})
        born = [
            add_member(program, birthday=datetime(1990, 3, 14).date()).id
            for _ in range(30)
        ]
        db.session.commit()
        automations.run(
            program, "birthday", datetime(2026, 3, 14, 12, tzinfo=UTC), force=True
        )
        db.session.commit()
        held = {m for m in born if results.is_held_out("birthday:2026", m, 50)}
        assert held
        assert held != set(born)
        bonus = set(
            db.session.scalars(
                select(LedgerEntry.member_id).where(LedgerEntry.note == "birthday")
            )
        )
        assert bonus & set(born) == set(born) - held


# -- results -----------------------------------------------------------------------
def _populate(
    program: Program,
    campaign: Campaign,
    rates: dict[str, float],
    size: int,
    seed: int,
    start: datetime,
) -> dict[str, dict[str, float]]:
    """`size` members per group, each buying (once, 500-1500 roubles, in the
    window) with the group's probability; purchases outside the window and
    refunded ones, which must not count. Set-based inserts. The expected
    figures per group."""
    rng = random.Random(seed)
    key = pos_key(program)
    tag = secrets.token_hex(3)
    members = [
        {
            "program_id": program.id,
            "card_number": f"{tag}{i:06d}"[:12],
            "card_token": f"{tag}-{i}-{secrets.token_hex(4)}",
            "name": "Generated",
            "phone": f"+7{tag}{i:06d}"[:20],
            "consent_version": "2026-11",
            "consent_at": start,
            "tier": "silver",
            "language": "ru",
            "points": 0,
            "offer": "",
            "created_at": start - timedelta(days=100),
        }
        for i in range(size * len(rates))
    ]
    db.session.execute(insert(Member), members)
    ids = list(
        db.session.scalars(
            select(Member.id).where(Member.name == "Generated").order_by(Member.id)
        )
    )[-size * len(rates) :]
    expected: dict[str, dict[str, float]] = {}
    assignments, sales = [], []
    for index, (grp, rate) in enumerate(rates.items()):
        group_ids = ids[index * size : (index + 1) * size]
        buyers, revenue = 0, 0
        for member_id in group_ids:
            assignments.append(
                {
                    "program_id": program.id,
                    "member_id": member_id,
                    "source_key": f"campaign:{campaign.id}",
                    "campaign_id": campaign.id,
                    "grp": grp,
                    "variant": None,
                    "reached": grp == "treatment",
                    "created_at": start,
                }
            )
            if rng.random() < rate:
                amount = rng.randint(500, 1500) * 100
                buyers += 1
                revenue += amount
                sales.append(
                    (
                        member_id,
                        amount,
                        start + timedelta(days=rng.uniform(0.1, 13.9)),
                        None,
                    )
                )
            if rng.random() < 0.1:  # after the window: does not count
                sales.append((member_id, 99_900, start + timedelta(days=15), None))
            if rng.random() < 0.05:  # refunded: does not count
                sales.append(
                    (
                        member_id,
                        77_700,
                        start + timedelta(days=2),
                        start + timedelta(days=3),
                    )
                )
        expected[grp] = {
            "members": size,
            "purchasers": buyers,
            "revenue": revenue / 100,
        }
    db.session.execute(insert(Assignment), assignments)
    db.session.execute(
        insert(PosTransaction),
        [
            {
                "program_id": program.id,
                "member_id": member_id,
                "store_id": key.store_id,
                "api_key_id": key.id,
                "idempotency_key": secrets.token_hex(8),
                "fingerprint": "x" * 64,
                "receipt_id": "r",
                "amount_kopecks": amount,
                "redeemed": 0,
                "earned": 0,
                "currency": "RUB",
                "response": {},
                "created_at": at,
                "refunded_at": refunded,
            }
            for member_id, amount, at, refunded in sales
        ],
    )
    return expected


def _campaign(program: Program) -> Campaign:
    campaign = Campaign(
        program_id=program.id,
        name="Generated",
        texts={"ru": "Тест"},
        segment={"all": {}},
        state=DONE,
        holdout_percent=50,
        variants=[],
        attribution_days=14,
    )
    db.session.add(campaign)
    db.session.flush()
    return campaign


def test_a_known_uplift_is_recovered_within_the_interval(
    app: Flask, client: FlaskClient, demo: Demo, key: str
) -> None:
    start = datetime(2026, 10, 1, 9, tzinfo=UTC)
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        program.rules = {**(program.rules or {}), "gross_margin_percent": 40}
        campaign = _campaign(program)
        expected = _populate(
            program, campaign, {"treatment": 0.30, "control": 0.20}, 3000, 16, start
        )
        # The treatment cost 50 bonus points (1 rouble each) per treated member.
        treated_ids = db.session.scalars(
            select(Assignment.member_id).where(
                Assignment.campaign_id == campaign.id, Assignment.grp == "treatment"
            )
        ).all()
        db.session.execute(
            insert(LedgerEntry),
            [
                {
                    "program_id": program.id,
                    "member_id": m,
                    "kind": "bonus",
                    "points": 50,
                    "note": "campaign",
                    "created_at": start + timedelta(minutes=1),
                }
                for m in treated_ids
            ],
        )
        # Two uninstalls within 72 h, one later (not counted).
        passes = [add_pass(db.session.get(Member, m)) for m in treated_ids[:3]]
        for pass_, hours in zip(passes, (1, 70, 80), strict=True):
            db.session.add(
                WalletEvent(
                    program_id=program.id,
                    pass_id=pass_.id,
                    platform="apple",
                    kind="uninstall",
                    created_at=start + timedelta(hours=hours),
                )
            )
        db.session.commit()
        campaign_id = campaign.id
    body = client.get(
        f"/api/v1/campaigns/{campaign_id}/results", headers=auth(key)
    ).json
    treatment, control = body["groups"]["treatment"], body["groups"]["control"]
    for name, group in (("treatment", treatment), ("control", control)):
        assert group["members"] == 3000
        assert group["purchasers"] == expected[name]["purchasers"]
        assert group["revenue"] == pytest.approx(expected[name]["revenue"])
        assert group["purchases"] == group["purchasers"]  # one each in the window
        assert group["average_check"] == pytest.approx(
            expected[name]["revenue"] / group["purchasers"], abs=0.01
        )
    assert treatment["reached"] == 3000
    assert control["reached"] == 0
    assert treatment["bonus_points"] == 150_000
    assert control["bonus_points"] == 0
    assert treatment["uninstalls_72h"] == 2
    assert control["uninstalls_72h"] == 0
    assert treatment["opt_outs"] == 0
    assert treatment["offers_redeemed"] == 0
    # The true uplift: +10 points of conversion, +100 roubles per member.
    conversion = body["conversion_difference"]
    assert conversion["low"] < 0.10 < conversion["high"]
    assert conversion["low"] > 0
    assert conversion["significant"]
    assert conversion["verdict"] == "significant"
    revenue = body["revenue_per_member_difference"]
    assert revenue["low"] < 100 < revenue["high"]
    assert revenue["significant"]
    # Incremental revenue and ROMI by their definitions.
    per_member = (
        expected["treatment"]["revenue"] - expected["control"]["revenue"]
    ) / 3000
    assert body["incremental_revenue"] == pytest.approx(per_member * 3000, abs=0.02)
    assert body["cost"] == 150_000
    romi = (body["incremental_revenue"] * 0.40 - 150_000) / 150_000
    assert body["romi"] == pytest.approx(romi, abs=1e-3)
    # The same as CSV, by ?format=csv and by .csv.
    for url in (
        f"/api/v1/campaigns/{campaign_id}/results?format=csv",
        f"/api/v1/campaigns/{campaign_id}/results.csv",
    ):
        response = client.get(url, headers=auth(key))
        assert response.status_code == 200
        assert response.mimetype == "text/csv"
        lines = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
        assert lines[0][:3] == ["group", "members", "reached"]
        assert lines[1][:2] == ["treatment", "3000"]
        assert lines[2][:2] == ["control", "3000"]
        assert ["romi", str(body["romi"])] in lines


def test_an_a_a_split_shows_nothing_significant(
    app: Flask, client: FlaskClient, demo: Demo, key: str
) -> None:
    start = datetime(2026, 10, 1, 9, tzinfo=UTC)
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        campaign = _campaign(program)
        _populate(
            program, campaign, {"treatment": 0.25, "control": 0.25}, 2000, 7, start
        )
        db.session.commit()
        campaign_id = campaign.id
    body = client.get(
        f"/api/v1/campaigns/{campaign_id}/results", headers=auth(key)
    ).json
    for figure in ("conversion_difference", "revenue_per_member_difference"):
        assert body[figure]["low"] < 0 < body[figure]["high"]
        assert body[figure]["verdict"] == "not significant yet"
    # No cost: no ROMI (nothing to divide by), but an incremental revenue.
    assert body["romi"] is None
    assert body["incremental_revenue"] is not None


def test_results_without_a_control_group_say_so(
    app: Flask, client: FlaskClient, demo: Demo, key: str
) -> None:
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        for _ in range(5):
            add_member(program)
        db.session.commit()
    # Sent before control groups existed: messages, no assignments.
    campaign = create(client, key, holdout_percent=0, state="scheduled")
    with app.app_context():
        scheduler.run_due(NOW)
        db.session.execute(
            Assignment.__table__.delete().where(
                Assignment.campaign_id == campaign["id"]
            )
        )
        db.session.commit()
    body = client.get(
        f"/api/v1/campaigns/{campaign['id']}/results", headers=auth(key)
    ).json
    assert body["control_group"] is False
    assert body["note"].startswith("no control group")
    assert "control" not in body["groups"]
    assert body["groups"]["treatment"]["members"] == 8
    assert body["incremental_revenue"] is None
    assert body["romi"] is None
    assert body["conversion_difference"] is None
    csv_text = client.get(
        f"/api/v1/campaigns/{campaign['id']}/results.csv", headers=auth(key)
    ).get_data(as_text=True)
    assert "no control group" in csv_text
    # Another program's key, an unknown campaign: 404.
    assert (
        client.get("/api/v1/campaigns/999999/results", headers=auth(key)).status_code
        == 404
    )


def test_automation_results_over_a_period(
    app: Flask, client: FlaskClient, demo: Demo, key: str
) -> None:
    never_quiet(app, demo.program_id)
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        row = automations.automation(program, "welcome")
        automations.configure(row, {"settings": {"holdout_percent": 50}})
        now = datetime.now(UTC)
        for _ in range(30):
            add_member(program, created_at=now - timedelta(hours=1))
        db.session.commit()
        automations.run(program, "welcome", now, force=True)
        db.session.commit()
        control = count(Assignment, Assignment.grp == "control")
        assigned = count(Assignment)
    body = client.get("/api/v1/automations/welcome/results", headers=auth(key)).json
    assert body["automation"] == "welcome"
    assert body["holdout_percent"] == 50
    assert body["groups"]["control"]["members"] == control
    assert body["groups"]["treatment"]["members"] == assigned - control
    assert body["control_group"] is True
    # A period before it ran: nothing.
    empty = client.get(
        "/api/v1/automations/welcome/results?from=2020-01-01&to=2020-01-31",
        headers=auth(key),
    ).json
    assert empty["groups"]["treatment"]["members"] == 0
    assert empty["control_group"] is False
    response = client.get("/api/v1/automations/welcome/results.csv", headers=auth(key))
    assert response.mimetype == "text/csv"
    for url, status in (
        ("/api/v1/automations/nope/results", 404),
        ("/api/v1/automations/welcome/results?from=yesterday", 422),
        ("/api/v1/automations/welcome/results?from=2026-02-01&to=2026-01-01", 422),
        ("/api/v1/automations/welcome/results?from=2020-01-01&to=2026-01-01", 422),
    ):
        response = client.get(url, headers=auth(key))
        assert response.status_code == status, url
        assert response.json["error"]


def test_gross_margin_is_a_program_rule(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        assert program.rule("gross_margin_percent") == 50
        admin = create_key("admin", program=program).key
        db.session.commit()
    for bad in (101, -1, "50", True):
        response = client.patch(
            "/api/v1/program",
            json={"rules": {"gross_margin_percent": bad}},
            headers=auth(admin),
        )
        assert response.status_code == 422, bad
    response = client.patch(
        "/api/v1/program",
        json={"rules": {"gross_margin_percent": 35}},
        headers=auth(admin),
    )
    assert response.status_code == 200, response.json
    assert response.json["rules"]["gross_margin_percent"] == 35


def test_admin_results_panels_in_russian_and_english(
    app: Flask, client: FlaskClient, demo: Demo, key: str
) -> None:
    from tests.app.test_admin import sign_in

    start = datetime(2026, 10, 1, 9, tzinfo=UTC)
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        campaign = _campaign(program)
        _populate(program, campaign, {"treatment": 0.3, "control": 0.2}, 400, 3, start)
        db.session.commit()
        campaign_id = campaign.id
    sign_in(client, key)
    page = client.get(f"/admin/campaigns/{campaign_id}/results?lang=ru")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Результаты рассылки" in html
    assert "Контрольная группа" in html
    assert "95-процентный интервал" in html
    assert "<svg" in html
    assert "<polyline" in html
    assert "\u00a0₽" in html  # money as «2 499,90 ₽»
    for english in ("Revenue", "Control group", "not significant", "Messaged group"):
        assert english not in html
    assert f"/api/v1/campaigns/{campaign_id}/results.csv" in html
    english = client.get(f"/admin/campaigns/{campaign_id}/results?lang=en")
    assert "Conversion uplift" in english.get_data(as_text=True)
    # The campaigns list links to it; an automation's panel with its period.
    assert f"/admin/campaigns/{campaign_id}/results" in client.get(
        "/admin/campaigns"
    ).get_data(as_text=True)
    panel = client.get(
        "/admin/automations/win_back/results?from=2026-10-01&to=2026-10-31&lang=ru"
    )
    assert panel.status_code == 200
    text = panel.get_data(as_text=True)
    assert "Контрольной группы нет" in text
    assert 'value="2026-10-01"' in text
    # A bad period shows the default one; an unknown automation or campaign: 404.
    assert client.get("/admin/automations/win_back/results?from=x").status_code == 200
    assert client.get("/admin/automations/nope/results").status_code == 404
    assert client.get("/admin/campaigns/999999/results").status_code == 404


def test_opt_outs_in_the_window_are_counted_per_group(
    app: Flask, client: FlaskClient, demo: Demo, key: str
) -> None:
    """Known data: members who switched marketing off within the 14-day window
    after the send count (3 treated, 1 control); before the send or after the
    window they do not. JSON, CSV and the /admin panel agree."""
    import csv
    import io

    from tests.app.test_admin import sign_in

    start = datetime(2026, 10, 1, 9, tzinfo=UTC)
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        campaign = _campaign(program)
        _populate(program, campaign, {"treatment": 0.0, "control": 0.0}, 10, 5, start)
        rows = db.session.execute(
            select(Assignment.member_id, Assignment.grp)
            .where(Assignment.campaign_id == campaign.id)
            .order_by(Assignment.member_id)
        ).all()
        treated = [m for m, g in rows if g == "treatment"]
        control = [m for m, g in rows if g == "control"]
        switched = {
            treated[0]: start + timedelta(hours=5),
            treated[1]: start + timedelta(days=1),
            treated[2]: start + timedelta(days=13, hours=23),
            treated[3]: start - timedelta(days=1),  # before the send
            treated[4]: start + timedelta(days=15),  # after the window
            control[0]: start + timedelta(days=2),
        }
        for member_id, at in switched.items():
            db.session.get(Member, member_id).marketing_off_at = at
        db.session.commit()
        campaign_id = campaign.id
    body = client.get(
        f"/api/v1/campaigns/{campaign_id}/results", headers=auth(key)
    ).get_json()
    assert body["groups"]["treatment"]["opt_outs"] == 3
    assert body["groups"]["control"]["opt_outs"] == 1
    exported = client.get(
        f"/api/v1/campaigns/{campaign_id}/results.csv", headers=auth(key)
    ).get_data(as_text=True)
    lines = list(csv.reader(io.StringIO(exported)))
    column = lines[0].index("opt_outs")
    assert {line[0]: line[column] for line in lines[1:3]} == {
        "treatment": "3",
        "control": "1",
    }
    sign_in(client, key)
    html = client.get(f"/admin/campaigns/{campaign_id}/results?lang=ru").get_data(
        as_text=True
    )
    assert "Отписались" in html
    for group, count in (("treatment", 3), ("control", 1)):
        row = html.split(f'<tr data-group="{group}">')[1].split("</tr>")[0]
        assert f'<td class="opt-outs">{count}</td>' in row
