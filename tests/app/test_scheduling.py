"""Quiet hours and the scheduled-jobs runner."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from flask import Flask

from app.extensions import db
from app.models import Program
from app.services import scheduler
from app.services.messaging import is_quiet, next_send_time
from tests.conftest import Demo


@pytest.mark.parametrize(
    ("utc", "quiet", "next_utc"),
    [
        # Moscow is UTC+3: 09:00-21:00 local is 06:00-18:00 UTC.
        (datetime(2026, 11, 25, 7, 0, tzinfo=UTC), False, None),
        (datetime(2026, 11, 25, 18, 30, tzinfo=UTC), True, (2026, 11, 26, 6)),
        (datetime(2026, 11, 25, 2, 0, tzinfo=UTC), True, (2026, 11, 25, 6)),
        (datetime(2026, 11, 25, 5, 59, tzinfo=UTC), True, (2026, 11, 25, 6)),
        (datetime(2026, 11, 25, 17, 59, tzinfo=UTC), False, None),
    ],
)
def test_quiet_hours_in_the_program_time_zone(
    app: Flask, demo: Demo, utc: datetime, quiet: bool, next_utc: tuple | None
) -> None:
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        assert is_quiet(program, utc) is quiet
        expected = utc if next_utc is None else datetime(*next_utc, tzinfo=UTC)
        assert next_send_time(program, utc) == expected


def test_custom_daytime_quiet_hours(app: Flask, demo: Demo) -> None:
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        program.rules = {**(program.rules or {}), "quiet_hours": [13, 14]}
        lunch = datetime(2026, 11, 25, 10, 30, tzinfo=UTC)  # 13:30 in Moscow
        assert is_quiet(program, lunch)
        assert next_send_time(program, lunch) == datetime(2026, 11, 25, 11, tzinfo=UTC)


def test_run_due_runs_every_job_and_isolates_failures(app: Flask) -> None:
    seen: list[datetime] = []

    def good(now: datetime) -> None:
        seen.append(now)

    def bad(now: datetime) -> None:
        raise RuntimeError("boom")

    # Import every job module first: run_due's load_jobs() would otherwise
    # register the ones not yet imported in this process next to bad and good.
    scheduler.load_jobs()
    saved = dict(scheduler.JOBS)
    scheduler.JOBS.clear()
    scheduler.scheduled("bad")(bad)
    scheduler.scheduled("good")(good)
    try:
        with app.app_context():
            now = datetime(2026, 11, 25, 12, tzinfo=UTC)
            assert scheduler.run_due(now) == {
                "bad": "error: RuntimeError",
                "good": "ok",
            }
        assert seen == [now]
        result = app.test_cli_runner().invoke(args=["run-jobs"])
        assert result.exit_code == 0
        assert "good: ok" in result.output
    finally:
        scheduler.JOBS.clear()
        scheduler.JOBS.update(saved)
