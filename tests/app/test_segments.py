"""Segments compiled to SQL: each rule, combinations, validation, preview API."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select

from app.extensions import db
from app.models import Device, GoogleObject, Member, Pass, Program, Registration, Store
from app.services import segments
from app.services.auth import create_key
from app.services.errors import Invalid
from tests.app.campaign_support import (
    NOW,
    add_member,
    add_pass,
    buy,
    matching,
    pos_key,
    register_device,
    save_google,
)
from tests.conftest import Demo


def program_of(demo: Demo) -> Program:
    program = db.session.get(Program, demo.program_id)
    assert program is not None
    return program


def demo_ids(demo: Demo) -> set[int]:
    return {p.member_id for p in demo.passes}


def test_all_tier_new_and_erased(app: Flask, demo: Demo) -> None:
    with app.app_context():
        program = program_of(demo)
        gold = add_member(program, tier="gold")
        fresh = add_member(program, created_at=NOW - timedelta(days=3))
        erased = add_member(program, erased_at=NOW)
        everyone = matching(program, {"all": {}})
        assert {gold.id, fresh.id} <= everyone
        assert erased.id not in everyone
        assert matching(program, {"tier": ["gold"]}) == {gold.id}
        assert matching(program, {"new": {"days": 7}}) - demo_ids(demo) == {fresh.id}
        assert matching(program, {"not": {"tier": ["gold"]}}) == everyone - {gold.id}


def test_active_and_lapsed_by_own_rhythm(app: Flask, demo: Demo) -> None:
    with app.app_context():
        program = program_of(demo)
        key = pos_key(program)
        # Weekly buyer, last seen 20 days ago: 20 > 2 x 7 -> lapsed.
        weekly = add_member(program)
        for days in (41, 34, 27, 20):
            buy(weekly, key, days)
        # Monthly buyer, last seen 40 days ago: 40 < 2 x 30 -> not lapsed.
        monthly = add_member(program)
        for days in (130, 100, 70, 40):
            buy(monthly, key, days)
        # Irregular: gaps 1, 1, 60 -> median 1 (lapsed after 2 days), mean 20.7.
        irregular = add_member(program)
        for days in (72, 71, 70, 10):
            buy(irregular, key, days)
        # Two purchases only: the N-day rule.
        few_old = add_member(program)
        for days in (200, 100):
            buy(few_old, key, days)
        few_recent = add_member(program)
        buy(few_recent, key, 5)
        never = add_member(program)

        lapsed = matching(program, {"lapsed": {"factor": 2, "days": 90}})
        assert lapsed == {weekly.id, irregular.id, few_old.id}
        by_mean = matching(
            program, {"lapsed": {"factor": 2, "days": 90, "stat": "mean"}}
        )
        assert by_mean == {weekly.id, few_old.id}
        assert never.id not in lapsed
        active = matching(program, {"active": {"days": 30}})
        assert active == {weekly.id, irregular.id, few_recent.id}


def test_birthday_ranges_and_29_february(app: Flask, demo: Demo) -> None:
    with app.app_context():
        program = program_of(demo)
        leapling = add_member(program, birthday=date(2000, 2, 29))
        feb28 = add_member(program, birthday=date(1991, 2, 28))
        march1 = add_member(program, birthday=date(1991, 3, 1))
        new_year = add_member(program, birthday=date(1980, 1, 2))
        dec = add_member(program, birthday=date(1980, 12, 30))
        mine = {leapling.id, feb28.id, march1.id, new_year.id, dec.id}

        def bday(start: str, end: str) -> set[int]:
            return matching(program, {"birthday": {"from": start, "to": end}}) & mine

        # 28 Feb in a common year: the 29 Feb birthday is celebrated then.
        assert bday("2027-02-28", "2027-02-28") == {feb28.id, leapling.id}
        # In a leap year it waits for its own day.
        assert bday("2028-02-28", "2028-02-28") == {feb28.id}
        assert bday("2028-02-29", "2028-02-29") == {leapling.id}
        assert bday("03-01", "03-01") == {march1.id}
        # Year-agnostic 28 Feb includes 29 Feb birthdays: never missed.
        assert bday("02-28", "02-28") == {feb28.id, leapling.id}
        # Over New Year.
        assert bday("12-25", "01-05") == {new_year.id, dec.id}


def test_near_stores_by_preferred_store_or_city(app: Flask, demo: Demo) -> None:
    with app.app_context():
        program = program_of(demo)
        stores = {s.code: s for s in db.session.scalars(select(Store))}
        atrium, aviapark = stores["msk-atrium"], stores["msk-aviapark"]
        spb = next(s for s in stores.values() if s.city != "Москва")
        at_atrium = add_member(program, preferred_store_id=atrium.id)
        at_spb = add_member(program, preferred_store_id=spb.id)
        moscow_city = add_member(program, city="Москва")
        spb_city = add_member(program, city=spb.city)
        mine = {at_atrium.id, at_spb.id, moscow_city.id, spb_city.id}

        near = matching(program, {"near": {"stores": [aviapark.id], "km": 30}}) & mine
        assert near == {at_atrium.id, moscow_city.id}
        tight = matching(program, {"near": {"stores": [atrium.id], "km": 0.5}}) & mine
        assert tight == {at_atrium.id}
        st = matching(program, {"near": {"stores": [spb.id], "km": 50}}) & mine
        assert st == {at_spb.id, spb_city.id}


def test_reachable_and_installed_never_scanned(app: Flask, demo: Demo) -> None:
    with app.app_context():
        program = program_of(demo)
        key = pos_key(program)
        apple = add_member(program)
        register_device(apple, "apple")
        android = add_member(program)
        register_device(android, "android")
        google = add_member(program)
        save_google(google)
        unsaved = add_member(program)
        save_google(unsaved, saved=False)
        no_device = add_member(program)
        add_pass(no_device)
        buy(apple, key, 3)

        assert matching(program, {"reachable": {}}) == {apple.id, android.id, google.id}
        assert matching(program, {"reachable": {"platform": "android"}}) == {android.id}
        assert matching(program, {"installed_never_scanned": {}}) == {
            android.id,
            google.id,
        }
        combined = {
            "or": [
                {"and": [{"reachable": {}}, {"not": {"active": {"days": 30}}}]},
                {"tier": ["gold"]},
            ]
        }
        assert matching(program, combined) == {android.id, google.id}
        counts = segments.counts(program, {"reachable": {}}, NOW)
        assert counts == {
            "members": 3,
            "reachable": 3,
            "reachable_apple": 1,
            "reachable_android": 1,
            "reachable_google": 1,
        }


def channels_in_db(program: Program) -> dict[int, set[str]]:
    """Each member's reachable channels, worked out in Python from the tables."""
    facts: dict[int, set[str]] = {
        m: set()
        for m in db.session.scalars(
            select(Member.id).where(Member.program_id == program.id)
        )
    }
    for member_id, platform in db.session.execute(
        select(Pass.member_id, Device.platform)
        .join(Registration, Registration.pass_id == Pass.id)
        .join(Device, Device.id == Registration.device_id)
        .where(Pass.program_id == program.id, Pass.voided.is_(False))
    ):
        facts[member_id].add(platform)
    for member_id in db.session.scalars(
        select(GoogleObject.member_id).where(
            GoogleObject.saved.is_(True), GoogleObject.state == "ACTIVE"
        )
    ):
        if member_id in facts:
            facts[member_id].add("google")
    return facts


CHANNEL_MIXES: list[Any] = [
    {"all": {}},
    {"reachable": {}},
    {"reachable": {"platform": "apple"}},
    {"reachable": {"platform": "android"}},
    {"reachable": {"platform": "google"}},
    {"not": {"reachable": {}}},
    {"not": {"reachable": {"platform": "google"}}},
    {"installed_never_scanned": {}},
    {"and": [{"reachable": {}}, {"tier": ["gold"]}]},
    {"and": [{"not": {"reachable": {}}}, {"tier": ["gold"]}]},
    {"or": [{"reachable": {"platform": "google"}}, {"tier": ["gold"]}]},
    {"and": [{"reachable": {}}, {"not": {"reachable": {"platform": "apple"}}}]},
    {
        "not": {
            "and": [{"reachable": {}}, {"not": {"reachable": {"platform": "apple"}}}]
        }
    },
    {"or": [{"reachable": {}}, {"all": {}}]},
    {"or": [{"installed_never_scanned": {}}, {"reachable": {"platform": "apple"}}]},
]


def test_counts_agree_with_membership_for_every_channel_mix(
    app: Flask, demo: Demo
) -> None:
    """counts() compiles the reachable rules to constants on rows whose channels
    it knows, and skips the walk over all members when only reachable members
    can match: every count must still equal the plain WHERE's membership."""
    with app.app_context():
        program = program_of(demo)
        key = pos_key(program)

        def member(*platforms: str, google: bool = False, **fields: Any) -> Member:
            m = add_member(program, **fields)
            for platform in platforms:
                register_device(m, platform)
            if google:
                save_google(m)
            return m

        member("apple")
        member("android", tier="gold")
        member(google=True)
        member("apple", google=True, tier="gold")
        buy(member("apple", "android"), key, 2)
        buy(member("android", google=True, tier="gold"), key, 2)
        voided = member("apple", google=True)
        db.session.scalar(select(Pass).where(Pass.member_id == voided.id)).voided = True
        save_google(member(), saved=False)
        member(tier="gold")
        member("apple", erased_at=NOW)
        db.session.flush()
        facts = channels_in_db(program)

        for definition in CHANNEL_MIXES:
            ids = matching(program, definition)
            expected = {
                "members": len(ids),
                "reachable": sum(1 for i in ids if facts[i]),
                "reachable_apple": sum(1 for i in ids if "apple" in facts[i]),
                "reachable_android": sum(1 for i in ids if "android" in facts[i]),
                "reachable_google": sum(1 for i in ids if "google" in facts[i]),
            }
            assert segments.counts(program, definition, NOW) == expected, definition


def test_counts_skip_the_member_walk_when_only_reachable_can_match(
    app: Flask, demo: Demo
) -> None:
    with app.app_context():
        program = program_of(demo)
        statements: list[str] = []

        def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if statement.lstrip().upper().startswith("SELECT"):
                statements.append(statement)

        event.listen(db.engine, "before_cursor_execute", count)
        try:
            for definition, selects in (
                ({"reachable": {}}, 1),
                ({"installed_never_scanned": {}}, 1),
                ({"and": [{"tier": ["gold"]}, {"reachable": {}}]}, 1),
                ({"all": {}}, 2),
                ({"or": [{"tier": ["gold"]}, {"reachable": {}}]}, 2),
            ):
                statements.clear()
                segments.counts(program, definition, NOW)
                assert len(statements) == selects, definition
        finally:
            event.remove(db.engine, "before_cursor_execute", count)


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        ({"colour": "red"}, "unknown rule 'colour'"),
        ({"tier": ["diamond"]}, "unknown tier(s) ['diamond']"),
        ({"new": {"days": "7"}}, "new.days must be a whole number"),
        ({"new": {"days": 7, "weeks": 1}}, "unknown field(s) for new: weeks"),
        ({"birthday": {"from": "02-30", "to": "03-01"}}, "not a date"),
        ({"near": {"stores": [999999], "km": 5}}, "unknown or closed store"),
        ({"lapsed": {"factor": 0}}, "lapsed.factor must be a number from 1 to 20"),
        ({"and": []}, "non-empty list"),
        ({"all": {}, "tier": ["gold"]}, "exactly one key"),
        ([], "exactly one key"),
        ({"reachable": {"platform": "sms"}}, "reachable.platform"),
    ],
)
def test_bad_definitions_are_422(
    app: Flask, demo: Demo, definition: Any, message: str
) -> None:
    with app.app_context():
        with pytest.raises(Invalid) as raised:  # 422 at the edge
            segments.where(program_of(demo), definition)
        assert raised.value.code == "invalid_segment"
        assert message in raised.value.message


def marketer_key(app: Flask, demo: Demo) -> str:
    with app.app_context():
        issued = create_key(
            "marketer", program=db.session.get(Program, demo.program_id)
        )
        db.session.commit()
        return issued.key


def test_preview_api(app: Flask, client: FlaskClient, demo: Demo) -> None:
    key = marketer_key(app, demo)
    with app.app_context():
        program = program_of(demo)
        member = add_member(program, name="Иван Петров", phone="+79991234567")
        register_device(member)
        db.session.commit()
        member_id = member.id
    headers = {"Authorization": f"Bearer {key}"}
    response = client.post(
        "/api/v1/segments/preview", json={"segment": {"reachable": {}}}, headers=headers
    )
    assert response.status_code == 200, response.json
    body = response.json
    assert body["members"] == 1
    assert body["reachable_apple"] == 1
    assert body["sample"] == [
        {"id": member_id, "name": "И*** П*****", "phone": "+7 *** ***-45-67"}
    ]
    bad = client.post(
        "/api/v1/segments/preview", json={"segment": {"nope": 1}}, headers=headers
    )
    assert bad.status_code == 422
    assert bad.json["error"] == "invalid_segment"
    anonymous = client.post("/api/v1/segments/preview", json={"segment": {"all": {}}})
    assert anonymous.status_code == 401
    with app.app_context():
        store = db.session.scalar(select(Store))
        pos = create_key("pos", store=store).key
        db.session.commit()
    forbidden = client.post(
        "/api/v1/segments/preview",
        json={"segment": {"all": {}}},
        headers={"Authorization": f"Bearer {pos}"},
    )
    assert forbidden.status_code == 403


def test_erased_never_count_in_preview(app: Flask, demo: Demo) -> None:
    with app.app_context():
        program = program_of(demo)
        gone = add_member(program, erased_at=datetime.now(UTC))
        register_device(gone)
        assert gone.id not in matching(program, {"reachable": {}})
        assert Member  # the model is the subject of every query here
