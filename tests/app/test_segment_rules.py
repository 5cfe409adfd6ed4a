"""Behaviour segment rules (issue 16): spend, purchases, avg_check, last_store,
points, holdout_of and the RFM presets (both databases)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text

from app.extensions import db
from app.models import Assignment, Campaign, Member, PosTransaction, Program, Store
from app.models.campaign import DONE
from app.services import segments
from app.services.auth import create_key
from app.services.errors import Invalid
from tests.app.campaign_support import (
    NOW,
    add_member,
    buy,
    matching,
    pos_key,
    register_device,
)
from tests.conftest import Demo


def _setup(program: Program) -> dict[str, Member]:
    key = pos_key(program)
    m = {
        name: add_member(program)
        for name in ("none", "one", "champ", "loyal", "risk", "lost")
    }
    buy(m["one"], key, 10)
    for days in (1, 20, 50, 100, 200):
        buy(m["champ"], key, days)
    for days in (5, 60, 300):
        buy(m["loyal"], key, days)
    for days in (120, 400):
        buy(m["risk"], key, days)
    buy(m["lost"], key, 500)
    m["none"].points = 800
    m["one"].points = 100
    db.session.flush()
    return m


def test_behaviour_rules(app: Flask, demo: Demo) -> None:
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        m = _setup(program)
        ids = {name: member.id for name, member in m.items()}
        demo_ids = {p.member_id for p in demo.passes}

        def match(definition: Any) -> set[str]:
            found = matching(program, definition, NOW) - demo_ids
            return {name for name, i in ids.items() if i in found}

        # Each purchase is 100 roubles.
        assert match({"spend": {"min": 300}}) == {"champ", "loyal"}
        assert match({"spend": {"days": 30, "min": 100, "max": 100}}) == {
            "one",
            "loyal",
        }
        # max only: members who spent nothing match too.
        assert match({"spend": {"days": 30, "max": 0}}) == {"none", "risk", "lost"}
        assert match({"purchases": {"days": 365, "min": 3}}) == {"champ", "loyal"}
        assert match({"purchases": {"days": 90, "max": 0}}) == {"none", "risk", "lost"}
        assert match({"avg_check": {"days": 3650, "min": 100}}) == {
            "one",
            "champ",
            "loyal",
            "risk",
            "lost",
        }
        assert match({"avg_check": {"min": 101}}) == set()
        assert match({"points": {"min": 500}}) & {"none", "one"} == {"none"}
        assert match({"points": {"max": 100}}) >= {"one"}
        assert match({"rfm": "champions"}) == {"champ"}
        assert match({"rfm": "loyal"}) == {"loyal"}
        assert match({"rfm": "at_risk"}) == {"risk"}
        assert match({"rfm": "lost"}) == {"lost"}
        # The last purchase's store.
        other = Store(
            program_id=program.id,
            code="other",
            name="Other",
            city="X",
            address="Y",
            latitude=0,
            longitude=0,
            relevant_text="",
        )
        db.session.add(other)
        db.session.flush()
        latest = db.session.scalar(
            select(PosTransaction)
            .where(PosTransaction.member_id == ids["loyal"])
            .order_by(PosTransaction.id.desc())
            .limit(1)
        )
        assert latest is not None
        late = PosTransaction(
            program_id=program.id,
            member_id=ids["loyal"],
            store_id=other.id,
            api_key_id=latest.api_key_id,
            idempotency_key="late",
            fingerprint="x" * 64,
            receipt_id="r",
            amount_kopecks=100_00,
            response={},
            created_at=NOW - timedelta(days=1),
        )
        db.session.add(late)
        db.session.flush()
        assert match({"last_store": {"stores": [other.id]}}) == {"loyal"}
        # Combined with the existing rules.
        assert match(
            {"and": [{"rfm": "champions"}, {"not": {"points": {"min": 1}}}]}
        ) == {"champ"}
        # holdout_of a campaign: its control group.
        campaign = Campaign(
            program_id=program.id,
            name="c",
            texts={"ru": "т"},
            segment={"all": {}},
            state=DONE,
            holdout_percent=10,
            variants=[],
            attribution_days=14,
        )
        db.session.add(campaign)
        db.session.flush()
        for name, grp in (("one", "control"), ("champ", "treatment")):
            db.session.add(
                Assignment(
                    program_id=program.id,
                    member_id=ids[name],
                    source_key=f"campaign:{campaign.id}",
                    campaign_id=campaign.id,
                    grp=grp,
                    created_at=NOW,
                )
            )
        db.session.flush()
        assert match({"holdout_of": {"campaign": campaign.id}}) == {"one"}
        assert match({"holdout_of": {"automation": "win_back"}}) == set()
        counted = segments.counts(program, {"rfm": "champions"}, NOW)
        assert counted["members"] == 1
        db.session.rollback()


def test_counts_of_grouping_rules_agree_with_the_general_plan(
    app: Flask, demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Segments that group purchases are counted with their members found once
    (segments._counts_once); members and reachable by channel are the same as
    the general plan gives (forced here by an always-true channel rule)."""
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        m = _setup(program)
        register_device(m["champ"], "apple")
        register_device(m["loyal"], "android")
        register_device(m["risk"], "apple")
        db.session.flush()
        either = {"or": [{"reachable": {}}, {"not": {"reachable": {}}}]}
        real, used = segments._counts_once, []

        def spy(*args: Any) -> dict[str, int]:
            used.append(args[1])
            return real(*args)

        monkeypatch.setattr(segments, "_counts_once", spy)
        for definition in (
            {"spend": {"min": 100}},
            {"purchases": {"days": 90, "max": 1}},
            {"avg_check": {"min": 50}},
            {"rfm": "loyal"},
            {"and": [{"rfm": "at_risk"}, {"tier": [program.base_tier]}]},
            {"or": [{"rfm": "champions"}, {"points": {"min": 500}}]},
            {"not": {"spend": {"min": 300}}},
        ):
            once = segments.counts(program, definition, NOW)
            general = segments.counts(program, {"and": [definition, either]}, NOW)
            assert once == general, definition
        assert len(used) == 7  # the general plan for the channel rule's
        counted = segments.counts(program, {"spend": {"min": 300}}, NOW)
        assert counted["members"] == 2
        assert counted["reachable"] == 2
        assert counted["reachable_apple"] == counted["reachable_android"] == 1
        db.session.rollback()


@pytest.mark.parametrize(
    "definition",
    [
        {"spend": {}},
        {"spend": {"min": -1}},
        {"spend": {"min": 10, "max": 5}},
        {"spend": {"min": "10"}},
        {"spend": {"days": 0, "min": 1}},
        {"purchases": {"min": 1, "weeks": 2}},
        {"avg_check": []},
        {"last_store": {"stores": []}},
        {"last_store": {"stores": [999999]}},
        {"points": {"min": True}},
        {"holdout_of": {}},
        {"holdout_of": {"campaign": 999999}},
        {"holdout_of": {"automation": "nope"}},
        {"holdout_of": {"campaign": 1, "automation": "welcome"}},
        {"rfm": "vip"},
        {"offer_redeemed": {"offer": 999999}},
        {"offer_redeemed": {"days": 0}},
    ],
)
def test_bad_behaviour_rules_are_refused(
    app: Flask, demo: Demo, definition: Any
) -> None:
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        with pytest.raises(Invalid) as refused:
            segments.validate(program, definition)
        assert refused.value.code == "invalid_segment"


def test_saved_segments_are_named_reused_by_campaigns_and_guarded(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        key = create_key("marketer", program=program).key
        _setup(program)
        db.session.commit()
    headers = {"Authorization": f"Bearer {key}"}
    created = client.post(
        "/api/v1/segments/saved",
        json={"name": "Champions", "segment": {"rfm": "champions"}},
        headers=headers,
    )
    assert created.status_code == 201, created.json
    saved_id = created.json["id"]
    # Names are unique per program; bad definitions are refused.
    for body, status in (
        ({"name": "Champions", "segment": {"all": {}}}, 409),
        ({"name": "", "segment": {"all": {}}}, 422),
        ({"name": "X", "segment": {"rfm": "vip"}}, 422),
        ({"name": "X"}, 422),
        ({"name": "X", "segment": {"all": {}}, "extra": 1}, 422),
    ):
        response = client.post("/api/v1/segments/saved", json=body, headers=headers)
        assert response.status_code == status, body
    listed = client.get("/api/v1/segments/saved", headers=headers).json["segments"]
    assert [s["name"] for s in listed] == ["Champions"]
    # Reused: a preview and a campaign name it.
    preview = client.post(
        "/api/v1/segments/preview",
        json={"segment": {"and": [{"saved": saved_id}, {"all": {}}]}},
        headers=headers,
    )
    assert preview.json["members"] == 1
    campaign = client.post(
        "/api/v1/campaigns",
        json={"texts": {"ru": "Привет"}, "segment": {"saved": saved_id}},
        headers=headers,
    )
    assert campaign.status_code == 201
    # In use by an unfinished campaign: not deleted.
    response = client.delete(f"/api/v1/segments/saved/{saved_id}", headers=headers)
    assert response.status_code == 409
    assert response.json["error"] == "saved_segment_in_use"
    # Editing it changes what the campaign targets.
    edited = client.patch(
        f"/api/v1/segments/saved/{saved_id}",
        json={"segment": {"rfm": "lost"}},
        headers=headers,
    )
    assert edited.status_code == 200
    assert edited.json["segment"] == {"rfm": "lost"}
    # A saved segment naming itself is refused (too deep), not a crash.
    looped = client.patch(
        f"/api/v1/segments/saved/{saved_id}",
        json={"segment": {"saved": saved_id}},
        headers=headers,
    )
    assert looped.status_code == 422
    client.delete(f"/api/v1/campaigns/{campaign.json['id']}", headers=headers)
    assert (
        client.delete(f"/api/v1/segments/saved/{saved_id}", headers=headers).status_code
        == 200
    )
    assert (
        client.get(f"/api/v1/segments/saved/{saved_id}", headers=headers).status_code
        == 404
    )
    assert (
        client.post(
            "/api/v1/segments/preview",
            json={"segment": {"saved": saved_id}},
            headers=headers,
        ).status_code
        == 422
    )


@pytest.mark.parametrize(
    "definition",
    [
        {"purchases": {"days": 90, "max": 1}},
        {"spend": {"max": 500}},
        {"purchases": {"days": 30, "max": 0}},
    ],
)
def test_a_max_only_rule_is_one_anti_join_on_postgresql(
    app: Flask, demo: Demo, definition: Any
) -> None:
    """Members over the max are excluded with NOT EXISTS: PostgreSQL plans NOT IN
    over a subquery larger than work_mem as a re-scan per member (over three
    minutes at 1M members); NOT EXISTS is one hash anti-join at any size."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("the plan in question is PostgreSQL's")
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        statement = select(Member.id).where(segments.where(program, definition, NOW))
        compiled = statement.compile(
            dialect=db.engine.dialect, compile_kwargs={"literal_binds": True}
        )
        # A tiny work_mem: NOT IN would become a per-row SubPlan here.
        db.session.execute(text("SET LOCAL work_mem = '64kB'"))
        plan = "\n".join(
            row[0] for row in db.session.execute(text(f"EXPLAIN {compiled}"))
        )
        db.session.rollback()
    assert "Anti Join" in plan, plan
    assert "SubPlan" not in plan, plan


WINDOWED = [
    {"spend": {"min": 300}},
    {"spend": {"days": 30, "min": 100, "max": 100}},
    {"spend": {"days": 30, "max": 0}},
    {"spend": {"days": 400, "max": 250}},
    {"purchases": {"days": 365, "min": 3}},
    {"purchases": {"days": 90, "max": 0}},
    {"purchases": {"days": 150, "min": 1, "max": 2}},
    {"avg_check": {"days": 3650, "min": 100}},
    {"avg_check": {"min": 120}},
    {"avg_check": {"days": 250, "min": 50, "max": 150}},
    {"rfm": "champions"},
    {"rfm": "loyal"},
]


def test_windowed_rules_agree_both_ways(
    app: Flask, demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A window's totals grouped from its purchases and the lifetime totals
    minus the purchases before it give the same members for every windowed
    rule, with refunded and re-priced purchases among them."""
    from app.services import segment_rules

    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        m = _setup(program)
        key = pos_key(program)
        for days in (2, 40, 130, 370):
            buy(m["one"], key, days)
        db.session.flush()
        rows = db.session.scalars(
            select(PosTransaction)
            .where(PosTransaction.member_id.in_([x.id for x in m.values()]))
            .order_by(PosTransaction.id)
        ).all()
        # Re-priced and refunded purchases (the totals' triggers follow both).
        for i, tx in enumerate(rows):
            tx.amount_kopecks = 50_00 + 37_00 * (i % 5)
        rows[1].refunded_at = NOW - timedelta(days=1)
        rows[6].refunded_at = NOW - timedelta(days=1)
        db.session.flush()
        found = {}
        for older in (False, True):
            monkeypatch.setattr(
                segment_rules, "_history_mostly_in", lambda *a, o=older: o
            )
            found[older] = [matching(program, rule, NOW) for rule in WINDOWED]
        assert found[False] == found[True]
        # Not vacuous: most rules match someone, and not everyone.
        assert sum(bool(f) for f in found[True]) >= 9


def test_a_long_window_subtracts_the_older_purchases(app: Flask, demo: Demo) -> None:
    """A window covering most of the history reads the per-member totals minus
    the purchases before it; a short one groups its own purchases."""
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        _setup(program)  # purchases from 1 to 500 days ago
        year = str(segments.where(program, {"spend": {"min": 300}}, NOW))
        month = str(segments.where(program, {"spend": {"days": 30, "min": 1}}, NOW))
        champions = str(segments.where(program, {"rfm": "champions"}, NOW))
        assert "member_purchase_total" in year
        assert "member_purchase_total" in champions
        assert "member_purchase_total" not in month
