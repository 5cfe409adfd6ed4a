"""Segments compiled to SQL: each rule, combinations, validation, preview API."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.errors import ApiError
from app.extensions import db
from app.models import Member, Program, Store
from app.services import segments
from app.services.auth import create_key
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


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        ({"colour": "red"}, "unknown rule 'colour'"),
        ({"tier": ["diamond"]}, "unknown tier(s) ['diamond']"),
        ({"new": {"days": "7"}}, "new.days must be a whole number"),
        ({"new": {"days": 7, "weeks": 1}}, "unknown field(s) for new: weeks"),
        ({"birthday": {"from": "02-30", "to": "03-01"}}, "not a date"),
        ({"near": {"stores": [999999], "km": 5}}, "unknown or closed store"),
        ({"lapsed": {"factor": 0}}, "between 1 and 20"),
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
        with pytest.raises(ApiError) as raised:
            segments.where(program_of(demo), definition)
        assert raised.value.status == 422
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
