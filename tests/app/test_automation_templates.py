"""Automation texts are checked when saved (only the placeholders the automation
fills), and one program's failing automation cannot stop another's: each program
runs on its own, and a failure is logged and kept in that program's run history."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.extensions import db
from app.models import Automation, AutomationRun, MemberMessage, Program
from app.services import automations
from tests.app.marketing_support import auth, marketer_key, never_quiet, new_member
from tests.app.test_admin_catalog import _second_program, csrf_app, post, signed, text
from tests.conftest import Demo

__all__ = ["csrf_app", "signed"]  # fixtures used here


@pytest.fixture(autouse=True)
def no_control_group(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests count who is messaged: no control group is held out."""
    for defaults in automations.DEFAULTS.values():
        monkeypatch.setitem(defaults, "holdout_percent", 0)


@pytest.mark.parametrize(
    ("name", "texts", "placeholder"),
    [
        ("birthday", {"ru": "Привет {oops}"}, "{oops}"),
        ("birthday", {"ru": "С днём рождения", "en": "Hi {name}"}, "{name}"),
        ("birthday", {"ru": "+{points!r} баллов"}, "{points!r}"),
        ("birthday", {"ru": "+{points:>5} баллов"}, "{points:>5}"),
        ("birthday", {"ru": "Скидка {0}"}, "{0}"),
        ("birthday", {"ru": "Скидка {}"}, "{}"),
        ("birthday", {"ru": "Скидка {"}, "{"),
        ("win_back", {"ru": "У вас {points} баллов"}, "{points}"),
        ("welcome", {"ru": "Добро пожаловать, {name}"}, "{name}"),
        ("points_reminder", {"ru": "До {until}"}, "{until}"),
    ],
)
def test_api_refuses_unknown_placeholders(
    app: Flask,
    client: FlaskClient,
    demo: Demo,
    name: str,
    texts: dict[str, str],
    placeholder: str,
) -> None:
    key = marketer_key(app, demo.program_id)
    answer = client.patch(
        "/api/v1/automations",
        json={name: {"enabled": True, "settings": {"texts": texts}}},
        headers=auth(key),
    )
    assert answer.status_code == 422, answer.get_json()
    body = answer.get_json()
    assert body["error"] == "invalid_placeholder"
    assert body["placeholder"] == placeholder
    assert body["field"].startswith("texts.")
    assert body["allowed"] == ", ".join(
        f"{{{p}}}" for p in automations.PLACEHOLDERS[name]
    )
    assert placeholder in body["message"]
    with app.app_context():  # nothing saved, not even "enabled"
        row = db.session.scalar(select(Automation).where(Automation.name == name))
        assert row is None or (row.settings == {} and not row.enabled)


def test_offered_placeholders_and_escaped_braces_are_accepted(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    key = marketer_key(app, demo.program_id)
    answer = client.patch(
        "/api/v1/automations",
        json={
            "birthday": {"settings": {"texts": {"ru": "+{points} до {until} {{x}}"}}},
            "points_reminder": {"settings": {"texts": {"ru": "{points} баллов"}}},
            "welcome": {"settings": {"texts": {"ru": "Привет {{друг}}"}}},
        },
        headers=auth(key),
    )
    assert answer.status_code == 200, answer.get_json()
    # "{{" is a brace in every automation's text, the ones without placeholders too.
    never_quiet(app, demo.program_id)
    member = new_member(app, demo.program_id, "+79990001001")
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        automations.run(program, "welcome", datetime.now(UTC), force=True)
        db.session.commit()
        body = db.session.scalar(
            select(MemberMessage.body).where(MemberMessage.member_id == member)
        )
        assert body is not None
        assert body.startswith("Привет {друг}")


def test_admin_form_refuses_an_unknown_placeholder_in_russian(
    csrf_app: Flask, signed: FlaskClient, demo: Demo
) -> None:
    defaults = automations.DEFAULTS["birthday"]
    form = {k: str(v) for k, v in defaults.items() if k != "texts"}
    form |= {"texts_ru": "Привет {oops}", "texts_en": defaults["texts"]["en"]}
    answer = post(signed, "/admin/automations/birthday", form)
    assert answer.status_code == 422  # type: ignore[attr-defined]
    page = text(answer)
    assert "неизвестная подстановка «{oops}»" in page
    assert "{points}, {points_text}, {until}" in page
    with csrf_app.app_context():
        row = db.session.scalar(select(Automation).where(Automation.name == "birthday"))
        assert row is None or row.settings == {}


def _bad_birthday_saved_long_ago(app: Flask, program_id: int) -> None:
    """A template saved before they were checked: straight into the row."""
    with app.app_context():
        program = db.session.get(Program, program_id)
        row = automations.automation(program, "birthday")
        row.enabled = True
        row.settings = {"texts": {"ru": "Привет {oops}"}}
        db.session.commit()


def test_a_failing_program_does_not_stop_the_others(
    app: Flask, demo: Demo, caplog: pytest.LogCaptureFixture
) -> None:
    # The demo program (created first, so the job reaches it first) has a
    # broken template; the second program has a member whose birthday it is.
    working = _second_program(app)
    failing = demo.program_id
    assert failing < working
    with app.app_context():  # a design, so that its members get passes
        db.session.get(Program, working).design = dict(
            db.session.get(Program, failing).design
        )
        db.session.commit()
    for program_id in (failing, working):
        never_quiet(app, program_id)
    _bad_birthday_saved_long_ago(app, failing)
    member_of_failing = new_member(
        app, failing, "+79990002002", birthday=date(1990, 6, 1)
    )
    celebrated = new_member(
        app, working, "+79990003003", birthday=date(1990, 6, 1), store_code="kzn-1"
    )
    with app.app_context():
        program = db.session.get(Program, working)
        row = automations.automation(program, "birthday")
        row.enabled = True
        db.session.commit()
    with app.app_context():
        now = datetime(2026, 6, 1, 12, tzinfo=UTC)
        automations.birthday_job(now)
        db.session.commit()
        reached = db.session.scalars(
            select(MemberMessage.member_id).where(MemberMessage.kind == "birthday")
        ).all()
        assert reached == [celebrated]
        assert member_of_failing not in reached
        failing_row = db.session.scalar(
            select(Automation).where(
                Automation.program_id == failing, Automation.name == "birthday"
            )
        )
        runs = db.session.scalars(
            select(AutomationRun).where(AutomationRun.automation_id == failing_row.id)
        ).all()
        assert [(r.trigger, r.error, r.sent) for r in runs] == [
            ("scheduler", "invalid_template", 0)
        ]
        assert failing_row.last_result["error"] == "invalid_template"
        # The next tick tries again (no date recorded) and folds into that row.
        automations.birthday_job(now)
        db.session.commit()
        runs = db.session.scalars(
            select(AutomationRun).where(AutomationRun.automation_id == failing_row.id)
        ).all()
        assert [(r.error, r.runs) for r in runs] == [("invalid_template", 2)]
    assert "automation birthday failed for program" in caplog.text


def test_a_run_by_hand_of_a_bad_saved_template_is_a_clear_409(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    _bad_birthday_saved_long_ago(app, demo.program_id)
    key = marketer_key(app, demo.program_id)
    answer = client.post(
        "/api/v1/automations/birthday/run",
        json={"date": "2026-03-14"},  # Anna's birthday: a text is filled
        headers=auth(key),
    )
    assert answer.status_code == 409, answer.get_json()
    assert answer.get_json()["error"] == "invalid_template"
    assert "{points}, {points_text}, {until}" in answer.get_json()["message"]
    # Saving the texts again (checked now) mends it.
    fixed = client.patch(
        "/api/v1/automations",
        json={"birthday": {"settings": {"texts": {"ru": "С ДР! +{points}"}}}},
        headers=auth(key),
    )
    assert fixed.status_code == 200
    again = client.post(
        "/api/v1/automations/birthday/run",
        json={"date": "2026-03-14"},
        headers=auth(key),
    )
    assert again.status_code == 200
    assert again.get_json()["sent"] == 1


def test_the_admin_page_shows_a_failed_run(
    csrf_app: Flask, signed: FlaskClient, demo: Demo
) -> None:
    never_quiet(csrf_app, demo.program_id)
    _bad_birthday_saved_long_ago(csrf_app, demo.program_id)
    with csrf_app.app_context():
        automations.birthday_job(datetime(2026, 3, 14, 12, tzinfo=UTC))  # Anna's
        db.session.commit()
    page = text(signed.get("/admin/automations"))
    assert "ошибка: invalid_template" in page


def test_the_default_texts_pass_their_own_check(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    """The defaults use {points_text}: saving them back must be accepted."""
    key = marketer_key(app, demo.program_id)
    body = {
        name: {"settings": {"texts": dict(automations.DEFAULTS[name]["texts"])}}
        for name in automations.NAMES
    }
    answer = client.patch("/api/v1/automations", json=body, headers=auth(key))
    assert answer.status_code == 200, answer.get_json()
