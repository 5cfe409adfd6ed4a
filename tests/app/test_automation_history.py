"""The automation run history is pruned as runs are recorded: each automation of
each program keeps its newest AUTOMATION_RUN_KEEP runs (never fewer than the 10
the dashboard and `last_runs` show)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.extensions import db
from app.models import AutomationRun, Program
from app.services import automations
from tests.app.marketing_support import auth, marketer_key, never_quiet
from tests.app.test_admin_catalog import _second_program
from tests.conftest import Demo

FIRST = date(2026, 1, 1)


def record_days(program_id: int, name: str, days: int, trigger: str) -> None:
    """`days` completed runs of `name`, one per local date from FIRST."""
    program = db.session.get(Program, program_id)
    row = automations.automation(program, name)
    started = datetime(2026, 1, 1, tzinfo=UTC)
    for n in range(days):
        automations.record_run(row, trigger, FIRST + timedelta(days=n), n, started)
        db.session.commit()


def dates(program_id: int, name: str) -> list[date]:
    program = db.session.get(Program, program_id)
    row = automations.automation(program, name)
    return list(
        db.session.scalars(
            select(AutomationRun.for_date)
            .where(AutomationRun.automation_id == row.id)
            .order_by(AutomationRun.id)
        )
    )


def test_each_automation_keeps_its_newest_runs(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    app.config["AUTOMATION_RUN_KEEP"] = 12
    other_program = _second_program(app)
    with app.app_context():
        record_days(demo.program_id, "welcome", 20, "scheduler")
        record_days(demo.program_id, "birthday", 3, "manual")
        record_days(other_program, "welcome", 15, "scheduler")
        # The newest twelve of each, in order; other automations and programs
        # keep their own.
        assert dates(demo.program_id, "welcome") == [
            FIRST + timedelta(days=n) for n in range(8, 20)
        ]
        assert len(dates(demo.program_id, "birthday")) == 3
        assert dates(other_program, "welcome") == [
            FIRST + timedelta(days=n) for n in range(3, 15)
        ]
        assert db.session.scalar(select(func.count()).select_from(AutomationRun)) == (
            12 + 3 + 12
        )

    # The API and the page still show the last ten, newest first.
    key = marketer_key(app, demo.program_id)
    listed = client.get("/api/v1/automations", headers=auth(key)).get_json()
    welcome = next(a for a in listed["automations"] if a["name"] == "welcome")
    assert [r["date"] for r in welcome["last_runs"]] == [
        (FIRST + timedelta(days=n)).isoformat() for n in range(19, 9, -1)
    ]


def test_folded_scheduled_runs_and_real_runs_are_pruned_too(
    app: Flask, demo: Demo
) -> None:
    app.config["AUTOMATION_RUN_KEEP"] = 10
    never_quiet(app, demo.program_id)
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        now = datetime.now(UTC)
        for _ in range(13):  # manual runs: a row each
            automations.run(program, "points_reminder", now, force=True)
            db.session.commit()
        assert len(dates(demo.program_id, "points_reminder")) == 10
        # Folding a scheduled run into the latest row adds no row.
        record_days(demo.program_id, "points_reminder", 1, "scheduler")
        record_days(demo.program_id, "points_reminder", 1, "scheduler")
        rows = db.session.scalars(
            select(AutomationRun)
            .where(AutomationRun.program_id == demo.program_id)
            .order_by(AutomationRun.id.desc())
        ).all()
        assert len(rows) == 10
        assert (rows[0].trigger, rows[0].runs) == ("scheduler", 2)


@pytest.mark.parametrize(("configured", "kept"), [(3, 10), (0, 100), (None, 100)])
def test_never_fewer_than_the_dashboard_shows(
    app: Flask, demo: Demo, configured: int | None, kept: int
) -> None:
    app.config["AUTOMATION_RUN_KEEP"] = configured
    with app.app_context():
        assert automations.runs_kept() == kept
