"""Automations: birthday (once a year, 29 Feb, its hour, quiet hours), win-back
once per lapse, welcome once, points reminder once a month; the API to list,
configure and run them; the scheduled jobs."""

from __future__ import annotations

import io
import json
import threading
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.extensions import db
from app.i18n import points_text
from app.models import (
    LedgerEntry,
    Member,
    MemberMessage,
    Pass,
    Program,
    PushDelivery,
)
from app.services import automations, ledger, messaging, scheduler
from app.services.errors import Conflict
from tests.app.marketing_support import (
    auth,
    marketer_key,
    never_quiet,
    new_member,
    purchase_at,
)
from tests.app.test_messaging import register
from tests.conftest import Demo


def messages(app: Flask, member_id: int, prefix: str = "") -> list[str]:
    with app.app_context():
        return list(
            db.session.scalars(
                select(MemberMessage.source_key)
                .where(
                    MemberMessage.member_id == member_id,
                    MemberMessage.source_key.startswith(prefix),
                )
                .order_by(MemberMessage.id)
            )
        )


def bonus_entries(app: Flask, member_id: int) -> list[int]:
    with app.app_context():
        return list(
            db.session.scalars(
                select(LedgerEntry.points).where(
                    LedgerEntry.member_id == member_id, LedgerEntry.note == "birthday"
                )
            )
        )


@pytest.fixture(autouse=True)
def no_control_group(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests count who is messaged: no control group is held out
    (tests/app/test_results.py tests the control groups)."""
    for defaults in automations.DEFAULTS.values():
        monkeypatch.setitem(defaults, "holdout_percent", 0)


def run(app: Flask, program_id: int, name: str, now: datetime) -> dict:
    with app.app_context():
        program = db.session.get(Program, program_id)
        result = automations.run(program, name, now, force=True)
        db.session.commit()
        return result


def test_birthday_once_a_year_with_bonus_offer_and_push(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    register(client, demo)  # the first demo member: Anna, born 14 March
    anna = demo.passes[0].member_id
    key = marketer_key(app, demo.program_id)
    with app.app_context():
        before = db.session.get(Member, anna).points
    answer = client.post(
        "/api/v1/automations/birthday/run",
        json={"date": "2026-03-14"},
        headers=auth(key),
    )
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["sent"] == 1
    # Again by API, and the scheduled job at its hour on the same day: nothing new.
    again = client.post(
        "/api/v1/automations/birthday/run",
        json={"date": "2026-03-14"},
        headers=auth(key),
    )
    assert again.get_json()["sent"] == 0
    assert (
        run(app, demo.program_id, "birthday", datetime(2026, 3, 14, 15, tzinfo=UTC))[
            "sent"
        ]
        == 0
    )
    assert bonus_entries(app, anna) == [200]
    assert messages(app, anna) == ["birthday:2026"]
    with app.app_context():
        member = db.session.get(Member, anna)
        assert member.points == before + 200 == ledger.balance_from_ledger(anna)
        # The offer (valid 7 days) with the date, so that the iPhone notifies.
        assert member.offer == "С днём рождения! +200 баллов и −15% до 21.03 · 14.03"
        queued = db.session.scalars(
            select(PushDelivery.status).where(PushDelivery.channel == "apns")
        ).all()
        assert queued == ["queued"]
    # Next year: again.
    assert (
        run(app, demo.program_id, "birthday", datetime(2027, 3, 14, 8, tzinfo=UTC))[
            "sent"
        ]
        == 1
    )
    assert bonus_entries(app, anna) == [200, 200]


def test_birthday_29_february(app: Flask, demo: Demo) -> None:
    leap = new_member(app, demo.program_id, "+79990000229", birthday=date(2000, 2, 29))
    noon = timedelta(hours=9)  # 12:00 in Moscow
    at = lambda d: datetime.combine(d, datetime.min.time(), UTC) + noon  # noqa: E731
    assert run(app, demo.program_id, "birthday", at(date(2027, 2, 27)))["sent"] == 0
    assert run(app, demo.program_id, "birthday", at(date(2027, 2, 28)))["sent"] == 1
    assert messages(app, leap) == ["birthday:2027"]
    # A leap year: the 28th is not the day; the 29th is.
    assert run(app, demo.program_id, "birthday", at(date(2028, 2, 28)))["sent"] == 0
    assert run(app, demo.program_id, "birthday", at(date(2028, 2, 29)))["sent"] == 1
    assert messages(app, leap) == ["birthday:2027", "birthday:2028"]


def test_birthday_waits_for_its_hour_and_the_quiet_hours(
    app: Flask, demo: Demo
) -> None:
    anna = demo.passes[0].member_id
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        automations.configure(
            automations.automation(program, "birthday"),
            {"enabled": True, "settings": {"hour": 7}},
        )
        db.session.commit()
    # 07:30 in Moscow: the birthday hour has come, but it is quiet until 09:00.
    early = run(
        app, demo.program_id, "birthday", datetime(2026, 3, 14, 4, 30, tzinfo=UTC)
    )
    assert early["sent"] == 0
    assert early["waiting_until"] == "2026-03-14T06:00:00+00:00"
    assert messages(app, anna) == []
    # The worker's job at 09:00 sends it.
    with app.app_context():
        scheduler.run_due(datetime(2026, 3, 14, 6, 0, tzinfo=UTC))
    assert messages(app, anna) == ["birthday:2026"]
    # An hour set later than 09:00 waits for that hour.
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        automations.configure(
            automations.automation(program, "birthday"), {"settings": {"hour": 12}}
        )
        db.session.commit()
    waiting = run(
        app, demo.program_id, "birthday", datetime(2027, 3, 14, 7, tzinfo=UTC)
    )
    assert waiting["sent"] == 0
    assert waiting["waiting_until"].startswith("2027-03-14T09:00")


def test_win_back_once_per_lapse(app: Flask, demo: Demo) -> None:
    start = datetime(2026, 1, 1, 12, tzinfo=UTC)
    regular = new_member(app, demo.program_id, "+79990000301", joined=start)
    for n in range(3):  # every 10 days: lapsed 20 days after the last purchase
        purchase_at(app, regular, start + timedelta(days=10 * n), n)
    last = start + timedelta(days=20)
    rare = new_member(app, demo.program_id, "+79990000302", joined=start)
    purchase_at(app, rare, start, 10)  # one purchase: lapsed after 60 days

    def win_back(day: datetime) -> list[str]:
        run(app, demo.program_id, "win_back", day)
        return messages(app, regular, "winback") + messages(app, rare, "winback")

    assert win_back(last + timedelta(days=19)) == []
    assert win_back(last + timedelta(days=21)) == ["winback:2026-02-10"]
    assert win_back(last + timedelta(days=30)) == ["winback:2026-02-10"]  # once
    assert win_back(start + timedelta(days=61)) == [
        "winback:2026-02-10",
        "winback:2026-03-02",
    ]
    # The regular comes back, then lapses again: a new lapse, a new message.
    purchase_at(app, regular, last + timedelta(days=40), 3)
    assert len(win_back(last + timedelta(days=45))) == 2
    # Gaps 10, 10, 40: the usual interval is the median, 10 days (the mean, 20,
    # would wait 40 days): lapsed 20 days after the purchase.
    assert len(win_back(last + timedelta(days=59))) == 2
    win_back(last + timedelta(days=61))
    assert messages(app, regular, "winback") == [
        "winback:2026-02-10",
        "winback:2026-03-22",
    ]


def test_welcome_once(app: Flask, demo: Demo) -> None:
    never_quiet(app, demo.program_id)
    now = datetime.now(UTC) + timedelta(minutes=1)
    assert run(app, demo.program_id, "welcome", now)["sent"] == len(demo.passes)
    later = now + timedelta(hours=1)
    assert run(app, demo.program_id, "welcome", later)["sent"] == 0
    assert messages(app, demo.passes[0].member_id) == ["welcome"]


def test_points_reminder_at_most_once_a_month(app: Flask, demo: Demo) -> None:
    joined = datetime(2026, 1, 1, 12, tzinfo=UTC)
    rich = new_member(app, demo.program_id, "+79990000401", joined=joined)
    poor = new_member(app, demo.program_id, "+79990000402", joined=joined)
    with app.app_context():
        ledger.post(db.session.get(Member, rich), "adjustment", 900)
        db.session.commit()
    purchase_at(app, rich, datetime(2026, 3, 1, 12, tzinfo=UTC), 1)
    day = lambda m, d: datetime(2026, m, d, 9, tzinfo=UTC)  # noqa: E731
    assert run(app, demo.program_id, "points_reminder", day(3, 20))["sent"] == 0
    assert run(app, demo.program_id, "points_reminder", day(4, 5))["sent"] == 1
    assert run(app, demo.program_id, "points_reminder", day(4, 25))["sent"] == 0
    assert run(app, demo.program_id, "points_reminder", day(5, 2))["sent"] == 1
    assert messages(app, rich) == ["reminder:2026-04", "reminder:2026-05"]
    assert messages(app, poor) == []
    with app.app_context():
        assert db.session.get(Member, rich).offer.startswith("У вас 1\u00a0000 баллов")


def test_runs_go_set_based_in_batches_and_a_crash_keeps_what_was_sent(
    app: Flask, demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Win-back and the points reminder send a batch at a time through
    `deliver_each` (each member keyed by their own lapse, with their own
    balance in the text), committing after each batch: a run that dies half-way
    keeps what it sent, and the re-run reaches exactly the others, once."""
    monkeypatch.setattr(automations, "BATCH", 3)
    joined = datetime(2026, 1, 1, 12, tzinfo=UTC)
    members = [
        new_member(
            app, demo.program_id, f"+7999000050{i}", joined=joined + timedelta(days=i)
        )
        for i in range(7)
    ]
    with app.app_context():
        for i, member_id in enumerate(members):
            ledger.post(db.session.get(Member, member_id), "adjustment", 600 + i)
        db.session.commit()
    for i, member_id in enumerate(members):
        # One purchase on joining: lapsed `days` (60) after it (never-buyers
        # are not lapsed: the `lapsed` segment's definition).
        purchase_at(app, member_id, joined + timedelta(days=i), 900 + i)
    now = datetime(2026, 6, 1, 9, tzinfo=UTC)
    real = messaging.deliver_each
    calls: list[int] = []

    def dies_on_the_second_batch(*args: object, **kwargs: object) -> dict:
        calls.append(len(args[1]))  # type: ignore[arg-type]
        if len(calls) == 2:
            raise RuntimeError("worker killed")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(messaging, "deliver_each", dies_on_the_second_batch)
    with pytest.raises(RuntimeError, match="worker killed"):
        run(app, demo.program_id, "points_reminder", now)
    reached = [m for m in members if messages(app, m, "reminder")]
    assert reached == members[:3]

    assert run(app, demo.program_id, "points_reminder", now)["sent"] == 4
    with app.app_context():
        for member_id in members:
            assert messages(app, member_id, "reminder") == ["reminder:2026-06"]
            member = db.session.get(Member, member_id)
            assert member.points >= 600 + i
            assert member.offer.startswith(f"У вас {points_text(member.points, 'ru')} ")

    calls.clear()
    monkeypatch.setattr(
        messaging,
        "deliver_each",
        lambda *a, **k: calls.append(len(a[1])) or real(*a, **k),
    )
    # Demo members joined now: not lapsed, but walked through as well.
    assert run(app, demo.program_id, "win_back", now)["sent"] == 7
    assert sum(1 for n in calls if n) == 3  # a call per batch, not per member
    for i, member_id in enumerate(members):
        lapse = (joined + timedelta(days=i + 60)).date().isoformat()
        assert messages(app, member_id, "winback") == [f"winback:{lapse}"]


def test_api_lists_configures_and_refuses_bad_input(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    key = marketer_key(app, demo.program_id)
    listed = client.get("/api/v1/automations", headers=auth(key)).get_json()
    assert [a["name"] for a in listed["automations"]] == list(automations.NAMES)
    assert not any(a["enabled"] for a in listed["automations"])
    changed = client.patch(
        "/api/v1/automations",
        json={
            "birthday": {
                "enabled": True,
                "settings": {
                    "bonus_points": 300,
                    "texts": {"ru": "С ДР!", "en": "HB!"},
                },
            }
        },
        headers=auth(key),
    )
    assert changed.status_code == 200
    (birthday,) = changed.get_json()["automations"]
    assert birthday["enabled"]
    assert birthday["settings"]["bonus_points"] == 300
    for bad in (
        {"nope": {"enabled": True}},
        {"birthday": {"settings": {"hour": 24}}},
        {"birthday": {"settings": {"colour": "red"}}},
        {"birthday": {"enabled": "yes"}},
        {"win_back": {"settings": {"factor": 0.5}}},
        {"welcome": {"settings": {"texts": {"ru": ""}}}},
        {"welcome": {"settings": {"texts": {"ru": "x" * 151}}}},
    ):
        answer = client.patch("/api/v1/automations", json=bad, headers=auth(key))
        assert answer.status_code == 422, bad
        assert set(answer.get_json()) == {"error", "message"}
    for path, body in (
        ("/api/v1/automations/nope/run", {}),
        ("/api/v1/automations/birthday/run", {"date": "14.03.2026"}),
        ("/api/v1/automations/birthday/run", {"when": "now"}),
    ):
        assert client.post(path, json=body, headers=auth(key)).status_code == 422
    after = client.get("/api/v1/automations", headers=auth(key)).get_json()
    assert after["automations"][0]["settings"]["bonus_points"] == 300
    ran = client.post(
        "/api/v1/automations/birthday/run",
        json={"date": "2026-03-14"},
        headers=auth(key),
    ).get_json()
    assert ran["sent"] == 1
    listed = client.get("/api/v1/automations", headers=auth(key)).get_json()
    assert listed["automations"][0]["last_result"]["sent"] == 1
    assert listed["automations"][0]["last_run_at"]
    # A POS key may not.
    from tests.app.pos_support import make_key

    assert (
        client.get("/api/v1/automations", headers=auth(make_key(app))).status_code
        == 403
    )


@pytest.mark.parametrize("name", ["birthday", "welcome"])
def test_scheduled_jobs_are_registered_and_idempotent(
    app: Flask, demo: Demo, name: str
) -> None:
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        automations.configure(automations.automation(program, name), {"enabled": True})
        db.session.commit()
        moment = datetime(2026, 3, 14, 8, tzinfo=UTC)
        if name == "welcome":
            program.rules = {"quiet_hours": [0, 0]}
            moment = datetime.now(UTC) + timedelta(minutes=1)
        assert scheduler.run_due(moment)[name] == "ok"
        assert scheduler.run_due(moment)[name] == "ok"
        count = db.session.scalar(
            select(func.count())
            .select_from(MemberMessage)
            .where(MemberMessage.kind == name)
        )
        assert count == (1 if name == "birthday" else len(demo.passes))


def test_two_workers_at_once_send_one_birthday(
    make_app: Callable[[dict], Flask], app: Flask, demo: Demo
) -> None:
    """Two schedulers (own apps, own connections) run the birthday job at the
    same moment: one bonus, one message."""
    anna = demo.passes[0].member_id
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        automations.configure(
            automations.automation(program, "birthday"), {"enabled": True}
        )
        db.session.commit()
    workers = [make_app({}) for _ in range(2)]
    start = threading.Barrier(2)
    moment = datetime(2026, 3, 14, 8, tzinfo=UTC)

    def job(worker: Flask) -> None:
        with worker.app_context():
            start.wait()
            automations.birthday_job(moment)

    with ThreadPoolExecutor(2) as pool:
        for future in [pool.submit(job, w) for w in workers]:
            future.result()
    assert bonus_entries(app, anna) == [200]
    assert messages(app, anna) == ["birthday:2026"]


def test_birthday_offer_ends_silently_after_its_days(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    """After offer_days the offer field returns to its placeholder (no change
    message: a silent update), the pass moves and its device is pushed; a later
    message in the offer field is left alone; a second run changes nothing."""
    register(client, demo)  # Anna (born 14 March), with a device
    anna, other = demo.passes[0].member_id, demo.passes[1].member_id
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        db.session.get(Member, other).birthday = date(1990, 3, 14)
        db.session.commit()
        assert (
            automations.run_for_date(program, "birthday", date(2026, 3, 14))["sent"]
            == 2
        )
        db.session.commit()
        # The other member's offer is replaced by a later message.
        messaging.deliver(
            db.session.get(Member, other),
            kind="campaign",
            source_key="campaign:99",
            texts={"ru": "Новая коллекция", "en": "New collection"},
        )
        db.session.commit()
        sent_at = db.session.scalar(
            select(MemberMessage.created_at).where(
                MemberMessage.member_id == anna, MemberMessage.kind == "birthday"
            )
        )
        sent_at = sent_at.replace(tzinfo=UTC) if sent_at.tzinfo is None else sent_at
        offer = db.session.get(Member, anna).offer
        assert offer.startswith("С днём рождения")
        tag = demo_tag(anna)
        # Anna's device's queued push (the birthday's): a change pushes it again.
        pushes = select(PushDelivery.generation).where(
            PushDelivery.pass_id
            == (select(Pass.id).where(Pass.member_id == anna).scalar_subquery())
        )
        generation = db.session.scalar(pushes)
        other_offer = db.session.get(Member, other).offer

        # Valid through the 7th day after it was sent (offer_days = 7).
        scheduler.run_due(sent_at + timedelta(days=7))
        assert db.session.get(Member, anna).offer == offer
        scheduler.run_due(sent_at + timedelta(days=8, hours=1))
        assert db.session.get(Member, anna).offer == ""
        assert db.session.get(Member, other).offer == other_offer
        assert demo_tag(anna) > tag
        assert db.session.scalar(pushes) == generation + 1
        moved = demo_tag(anna)
        scheduler.run_due(sent_at + timedelta(days=9))
        assert demo_tag(anna) == moved
    p = demo.passes[0]
    latest = client.get(
        f"/wallet/v1/passes/{demo.pass_type}/{p.serial}",
        headers={"Authorization": f"ApplePass {p.token}"},
    )
    pass_json = json.loads(zipfile.ZipFile(io.BytesIO(latest.data)).read("pass.json"))
    (field,) = pass_json["storeCard"]["auxiliaryFields"]
    assert field["value"] == "Здесь появятся ваши предложения"
    assert "changeMessage" not in field


def demo_tag(member_id: int) -> int:
    return db.session.scalar(select(Pass.update_tag).where(Pass.member_id == member_id))


PLURALS = {
    1: "1 балл",
    2: "2 балла",
    5: "5 баллов",
    11: "11 баллов",
    21: "21 балл",
    22: "22 балла",
    25: "25 баллов",
    101: "101 балл",
}


@pytest.mark.parametrize(("points", "word"), PLURALS.items())
def test_default_texts_use_russian_plurals(points: int, word: str) -> None:
    birthday = automations.fill(
        automations.DEFAULTS["birthday"]["texts"],
        points=points,
        until=date(2026, 3, 21),
    )
    assert birthday["ru"] == f"С днём рождения! +{word} и −15% до 21.03"
    reminder = automations.fill(
        automations.DEFAULTS["points_reminder"]["texts"], points=points
    )
    assert reminder["ru"] == f"У вас {word} — потратьте их в магазине"
    english = "1 point" if points == 1 else f"{points} points"
    assert reminder["en"] == f"You have {english} to spend in store"


def test_saved_templates_keep_working_and_get_the_right_plural() -> None:
    """Templates saved before {points_text}: the count and its word are mended,
    a bare {points} stays a number, an unknown placeholder is a clear 409."""
    saved = {"ru": "+{points} баллов, всего {points}!", "en": "+{points} points"}
    assert automations.fill(saved, points=21) == {
        "ru": "+21 балл, всего 21!",
        "en": "+21 points",
    }
    assert automations.fill(saved, points=1)["en"] == "+1 point"
    assert automations.fill({"ru": "{points} балла"}, points=1250) == {
        "ru": "1\u00a0250 баллов"
    }
    with pytest.raises(Conflict) as refused:
        automations.fill({"ru": "+{points} {name}"}, points=1)
    assert refused.value.code == "invalid_template"


def test_birthday_bonus_of_21_points_reads_21_ball(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    register(client, demo)  # Anna, born 14 March
    anna = demo.passes[0].member_id
    key = marketer_key(app, demo.program_id)
    never_quiet(app, demo.program_id)
    answer = client.patch(
        "/api/v1/automations",
        json={"birthday": {"enabled": True, "settings": {"bonus_points": 21}}},
        headers=auth(key),
    )
    assert answer.status_code == 200
    assert run(app, demo.program_id, "birthday", datetime(2026, 3, 14, 10, tzinfo=UTC))[
        "sent"
    ]
    with app.app_context():
        offer = db.session.get(Member, anna).offer
        assert offer.startswith("С днём рождения! +21 балл и −15% до 21.03")
        # The same words go out as the push (pass field) and the Google message.
        body = db.session.scalar(
            select(MemberMessage.body).where(MemberMessage.member_id == anna)
        )
        assert body == offer
