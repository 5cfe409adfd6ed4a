"""Marketer API: stores (a change refreshes exactly the passes whose nearest set
changed, in batches), members (search, profile, points, erase; scoped to the key's
program), stats per day."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.extensions import db
from app.models import GoogleCallback, GoogleObject, Member, Pass, PassRefresh
from app.services import ledger, messaging, scheduler, stores
from app.services.passes import nearest_stores
from tests.app.marketing_support import auth, marketer_key, new_member
from tests.app.pos_support import card, make_key, other_program
from tests.conftest import Demo
from tests.support.apns_server import ApnsStandIn
from tests.support.push import drain

NEW_STORE = {
    "code": "msk-kitay-gorod",
    "name": "Китай-город",
    "city": "Москва",
    "address": "ул. Маросейка, 2",
    "latitude": 55.7570,
    "longitude": 37.6330,
    "relevant_text": "«Северная Мода» на Маросейке",
}


def snapshot(app: Flask, program_id: int) -> dict[int, tuple[list[int], int]]:
    """pass id -> (its nearest store ids, its update tag)."""
    with app.app_context():
        return {
            p.id: ([s.id for s in nearest_stores(p.member)], p.update_tag)
            for p in db.session.scalars(
                select(Pass).where(Pass.program_id == program_id)
            )
        }


def moved(before: dict, after: dict) -> tuple[set[int], set[int]]:
    """(passes whose nearest list changed, passes whose tag moved)."""
    changed = {p for p in before if before[p][0] != after[p][0]}
    tagged = {p for p in before if before[p][1] != after[p][1]}
    return changed, tagged


@pytest.fixture
def members(app: Flask, demo: Demo) -> list[int]:
    """Members spread over the demo's cities and stores."""
    with app.app_context():
        from app.models import Store

        codes = list(
            db.session.scalars(
                select(Store.code)
                .where(Store.program_id == demo.program_id)
                .order_by(Store.id)
            )
        )
    return [
        new_member(app, demo.program_id, f"+7999000{n:04d}", store_code=code)
        for n, code in enumerate(codes)
    ]


def test_store_changes_refresh_exactly_the_affected_passes(
    app: Flask, client: FlaskClient, demo: Demo, members: list[int]
) -> None:
    key = marketer_key(app, demo.program_id)
    before = snapshot(app, demo.program_id)
    added = client.post("/api/v1/stores", json=NEW_STORE, headers=auth(key))
    assert added.status_code == 201, added.get_json()
    after = snapshot(app, demo.program_id)
    changed, tagged = moved(before, after)
    assert changed  # the new store is among some members' nearest ten...
    assert changed != set(before)  # ...not everyone's (other cities)
    assert tagged == changed
    refresh = added.get_json()["refresh"]
    assert refresh["status"] == "done"
    assert refresh["refreshed"] == len(changed)
    assert refresh["processed"] == refresh["total"] == len(before)

    # Move it far away (Vladivostok): it leaves those sets again.
    store_id = added.get_json()["id"]
    moved_answer = client.patch(
        f"/api/v1/stores/{store_id}",
        json={"latitude": 43.1155, "longitude": 131.8855, "city": "Владивосток"},
        headers=auth(key),
    )
    assert moved_answer.status_code == 200
    again = snapshot(app, demo.program_id)
    changed, tagged = moved(after, again)
    assert changed
    assert tagged == changed

    # Closing a store that is in everyone's list refreshes everyone who listed it.
    listed = {s for ids, _ in again.values() for s in ids}
    victim = sorted(listed)[0]
    closed = client.delete(f"/api/v1/stores/{victim}", headers=auth(key))
    assert closed.get_json()["active"] is False
    final = snapshot(app, demo.program_id)
    changed, tagged = moved(again, final)
    assert changed == {p for p, (ids, _) in again.items() if victim in ids}
    assert tagged == changed
    # A text nobody's pass shows changes nothing; one that passes show moves them.
    unchanged = client.patch(
        f"/api/v1/stores/{victim}", json={"relevant_text": "Закрыто"}, headers=auth(key)
    )
    assert unchanged.get_json()["refresh"]["refreshed"] == 0
    shown = sorted({s for ids, _ in final.values() for s in ids})[0]
    text = client.patch(
        f"/api/v1/stores/{shown}",
        json={"relevant_text": "Скидки тут"},
        headers=auth(key),
    )
    with app.app_context():  # English passes say "<store> is nearby" instead
        russian = set(
            db.session.scalars(
                select(Pass.id).join(Pass.member).where(Member.language == "ru")
            )
        )
    assert text.get_json()["refresh"]["refreshed"] == sum(
        1 for p, (ids, _) in final.items() if shown in ids and p in russian
    )


def test_big_programs_refresh_in_batches_in_the_worker(
    app: Flask,
    client: FlaskClient,
    demo: Demo,
    members: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(stores, "BATCH", 2)
    key = marketer_key(app, demo.program_id)
    before = snapshot(app, demo.program_id)
    added = client.post("/api/v1/stores", json=NEW_STORE, headers=auth(key)).get_json()
    assert added["refresh"]["status"] == "queued"
    assert added["refresh"]["processed"] == 2
    progress = client.get(
        f"/api/v1/stores/refreshes/{added['refresh']['id']}", headers=auth(key)
    ).get_json()
    assert progress == added["refresh"]
    with app.app_context():
        assert scheduler.run_due()["store_refresh"] == "ok"
        refresh = db.session.get(PassRefresh, added["refresh"]["id"])
        assert (refresh.status, refresh.processed) == ("done", len(before))
    changed, tagged = moved(before, snapshot(app, demo.program_id))
    assert tagged == changed
    assert refresh.refreshed == len(changed)


def test_store_input_is_checked(app: Flask, client: FlaskClient, demo: Demo) -> None:
    key = marketer_key(app, demo.program_id)
    count = len(client.get("/api/v1/stores", headers=auth(key)).get_json()["stores"])
    for change in (
        {"latitude": 91},
        {"longitude": -180.5},
        {"latitude": "55.7"},
        {"relevant_text": "x" * 121},
        {"name": ""},
        {"code": "Bad Code"},
        {"colour": "red"},
    ):
        answer = client.post(
            "/api/v1/stores", json={**NEW_STORE, **change}, headers=auth(key)
        )
        assert answer.status_code == 422, change
        assert set(answer.get_json()) == {"error", "message"}
    missing = {k: v for k, v in NEW_STORE.items() if k != "latitude"}
    assert (
        client.post("/api/v1/stores", json=missing, headers=auth(key)).status_code
        == 422
    )
    assert (
        client.post(
            "/api/v1/stores",
            json={**NEW_STORE, "code": "msk-atrium"},
            headers=auth(key),
        ).status_code
        == 409
    )
    assert (
        len(client.get("/api/v1/stores", headers=auth(key)).get_json()["stores"])
        == count
    )
    # Another program's store is not found.
    other_key, _ = other_program(app)
    with app.app_context():
        from app.models import Store

        theirs = db.session.scalar(select(Store.id).where(Store.code == "other-1"))
    assert (
        client.patch(
            f"/api/v1/stores/{theirs}", json={"name": "x"}, headers=auth(key)
        ).status_code
        == 404
    )


def test_members_search_profile_points_erase_and_scoping(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    key = marketer_key(app, demo.program_id)
    _, stranger = other_program(app)
    anna = demo.passes[0].member_id
    listed = client.get("/api/v1/members", headers=auth(key)).get_json()
    assert listed["total"] == len(demo.passes)
    assert stranger.member_id not in [m["id"] for m in listed["members"]]
    assert listed["members"][-1]["phone"] == "+7 *** ***-45-67"  # masked
    by_name = client.get("/api/v1/members?q=смирнова", headers=auth(key)).get_json()
    assert [m["id"] for m in by_name["members"]] == [anna]
    number = card(app, anna).number
    by_card = client.get(f"/api/v1/members?q={number}", headers=auth(key)).get_json()
    assert [m["id"] for m in by_card["members"]] == [anna]
    by_phone = client.get("/api/v1/members?q=9161234567", headers=auth(key)).get_json()
    assert [m["id"] for m in by_phone["members"]] == [anna]
    page = client.get("/api/v1/members?per_page=2&page=2", headers=auth(key)).get_json()
    assert (len(page["members"]), page["total"]) == (1, 3)
    assert (
        client.get("/api/v1/members?per_page=1000", headers=auth(key)).status_code
        == 422
    )
    # Another program's member: not found, not changed, not erased.
    for method, path, body in (
        ("get", f"/api/v1/members/{stranger.member_id}", None),
        (
            "post",
            f"/api/v1/members/{stranger.member_id}/points",
            {"points": 5, "reason": "x"},
        ),
        ("delete", f"/api/v1/members/{stranger.member_id}", None),
    ):
        answer = getattr(client, method)(path, json=body, headers=auth(key))
        assert answer.status_code == 404, path

    profile = client.get(f"/api/v1/members/{anna}", headers=auth(key)).get_json()
    assert profile["name"] == "Анна Смирнова"
    assert profile["tier"]["code"]
    assert [e["kind"] for e in profile["ledger"]] == ["bonus"]
    assert profile["pass"]["devices"] == []
    assert profile["google"] is None
    start = profile["balance"]
    added = client.post(
        f"/api/v1/members/{anna}/points",
        json={"points": 50, "reason": "Извинение за задержку"},
        headers=auth(key),
    )
    assert added.status_code == 201
    assert added.get_json()["balance"] == start + 50
    for body in (
        {"points": -(start + 51), "reason": "too much"},
        {"points": 10},
        {"points": 0, "reason": "x"},
        {"points": "10", "reason": "x"},
    ):
        answer = client.post(
            f"/api/v1/members/{anna}/points", json=body, headers=auth(key)
        )
        assert answer.status_code == 422, body
    with app.app_context():
        assert (
            db.session.get(Member, anna).points
            == start + 50
            == ledger.balance_from_ledger(anna)
        )
        tag = db.session.scalar(select(Pass.update_tag).where(Pass.member_id == anna))
    assert tag > 0

    # Admin keys see phones; with two programs they name one.
    admin = marketer_key(app, demo.program_id, role="admin")
    assert client.get("/api/v1/members", headers=auth(admin)).status_code == 422
    theirs = client.get("/api/v1/members?program=other", headers=auth(admin)).get_json()
    assert [(m["id"], m["phone"]) for m in theirs["members"]] == [
        (stranger.member_id, "+79035550101")
    ]
    assert client.get("/api/v1/members", headers=auth(make_key(app))).status_code == 403
    assert client.get("/api/v1/members").status_code == 401

    erased = client.delete(f"/api/v1/members/{anna}", headers=auth(key))
    assert erased.get_json() == {"id": anna, "erased": True}
    after = client.get(f"/api/v1/members/{anna}", headers=auth(key)).get_json()
    assert (after["erased"], after["name"], after["pass"]["voided"]) == (True, "", True)


def test_stats_per_day(
    app: Flask,
    client: FlaskClient,
    demo: Demo,
    push_app: Flask,
    apns: ApnsStandIn,
) -> None:
    key = marketer_key(app, demo.program_id)
    p0, p1 = demo.passes[0], demo.passes[1]

    def device(p: object, name: str, scheme: str, token: str) -> str:
        url = f"/wallet/v1/devices/{name}/registrations/{demo.pass_type}/{p.serial}"
        headers = {"Authorization": f"{scheme} {p.token}"}
        assert (
            client.post(url, json={"pushToken": token}, headers=headers).status_code
            == 201
        )
        return url

    device(p0, "iphone-1", "ApplePass", "aa" * 32)
    gone = device(p0, "iphone-2", "ApplePass", "bb" * 32)
    device(p1, "android-1", "AndroidPass", "cc" * 32)
    headers = {"Authorization": f"ApplePass {p0.token}"}
    assert client.delete(gone, headers=headers).status_code == 200
    # Two phones for a message; one of them is dead (410).
    device(p0, "iphone-3", "ApplePass", "dd" * 32)
    apns.answer("dd" * 32, 410)
    with app.app_context():
        messaging.deliver(
            db.session.get(Member, p0.member_id),
            kind="campaign",
            source_key="campaign:1",
            texts={"ru": "Скидки"},
        )
        db.session.commit()
    drain(push_app)
    # A redemption at the till.
    pos_key = make_key(app)
    paid = client.post(
        "/api/v1/pos/transactions",
        json={
            "code": card(app, p0.member_id).barcode,
            "amount": "1000.00",
            "receipt_id": "R-1",
            "redeem_points": 50,
        },
        headers={"Authorization": f"Bearer {pos_key}", "Idempotency-Key": "stats-0001"},
    )
    assert paid.status_code == 201, paid.get_json()
    # A Google save and delete (as the callbacks record them).
    with app.app_context():
        db.session.add(
            GoogleObject(
                member_id=p1.member_id, object_id="o.1", class_id="c.1", body={}
            )
        )
        for n, event in enumerate(("save", "del", "save")):
            db.session.add(
                GoogleCallback(
                    nonce=f"n{n}",
                    object_id="o.1",
                    class_id="c.1",
                    event_type=event,
                    exp_time_ms=0,
                )
            )
        db.session.commit()
    answer = client.get("/api/v1/stats?days=7", headers=auth(key))
    assert answer.status_code == 200
    body = answer.get_json()
    assert len(body["series"]) == 7
    today = body["series"][-1]
    assert today["date"] == datetime.now(UTC).date().isoformat()
    assert body["totals"] == {
        "signups": 3,
        "apple_installs": 3,
        "apple_uninstalls": 1,
        "android_installs": 1,
        "android_uninstalls": 0,
        "google_saves": 2,
        "google_deletes": 1,
        "pushes_sent": 1,
        "pushes_failed": 1,
        "redemptions": 1,
        "purchases_store": 1,
        "purchases_online": 0,
    }
    # The message reached iphone-1; iphone-3's token was dead (410: dropped).
    assert apns.delivered() == {"aa" * 32: 1}
    assert today["signups"] == 3
    assert sum(day["signups"] for day in body["series"][:-1]) == 0
    for days in ("0", "400", "x"):
        assert (
            client.get(f"/api/v1/stats?days={days}", headers=auth(key)).status_code
            == 422
        )


def test_a_refresh_not_started_is_replaced_and_keeps_the_oldest_before(
    app: Flask, demo: Demo, members: list[int]
) -> None:
    before = snapshot(app, demo.program_id)
    with app.app_context():
        from app.models import Program

        program = db.session.get(Program, demo.program_id)
        first_before = stores.snapshot(program)
        stores.apply(program, None, NEW_STORE)
        first = stores.queue_refresh(program, first_before)  # not processed
        second_before = stores.snapshot(program)
        store = db.session.scalar(
            select(stores.Store).where(stores.Store.code == NEW_STORE["code"])
        )
        stores.apply(program, store, {"latitude": 55.80, "longitude": 37.50})
        second = stores.queue_refresh(program, second_before)
        assert first.status == "superseded"
        assert second.stores_before == first_before
        while second.status == "queued":
            stores.process(second)
        db.session.commit()
        refreshed = second.refreshed
    changed, tagged = moved(before, snapshot(app, demo.program_id))
    assert changed
    assert tagged == changed
    assert refreshed == len(changed)
