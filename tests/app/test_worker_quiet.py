"""The push worker does not log an idle line every 30 s: only when something
moved since its last line, and once when it stops."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import create_engine

from app.push.worker import Worker


def test_idle_worker_logs_nothing_busy_worker_reports(
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = create_engine("sqlite://")
    worker = Worker(engine, {})
    caplog.set_level(logging.INFO, logger="app.push.worker")

    def lines() -> list[str]:
        return [
            r.getMessage() for r in caplog.records if "push worker" in r.getMessage()
        ]

    for _ in range(3):
        worker._last_report -= 31  # 31 s later, nothing sent
        worker._report()
    assert lines() == []
    worker.stats.counters["sent"] += 2
    worker._last_report -= 31
    worker._report()
    assert len(lines()) == 1
    assert "sent=2" in lines()[0]
    worker._last_report -= 31
    worker._report()  # idle again
    assert len(lines()) == 1
    worker._report(force=True)  # the closing line
    assert len(lines()) == 2
    engine.dispose()
