"""The SQLite statistics job: ANALYZE once a day per process; nothing on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Flask
from sqlalchemy import text

from app.extensions import db
from app.services import db_stats, scheduler
from tests.conftest import Demo


def _stat_rows() -> int:
    exists = db.session.scalar(
        text("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'")
    )
    if not exists:
        return 0
    return int(db.session.scalar(text("SELECT count(*) FROM sqlite_stat1")) or 0)


def test_sqlite_gets_statistics_once_a_day(app: Flask, demo: Demo) -> None:
    now = datetime(2026, 11, 25, 12, tzinfo=UTC)
    with app.app_context():
        db_stats._analysed.pop(str(db.engine.url), None)
        if db.engine.dialect.name != "sqlite":
            assert scheduler.run_due(now)["sqlite_statistics"] == "ok"
            return  # PostgreSQL: autovacuum keeps statistics; the job does nothing
        db.session.execute(text("DROP TABLE IF EXISTS sqlite_stat1"))
        db.session.commit()
        assert scheduler.run_due(now)["sqlite_statistics"] == "ok"
        assert _stat_rows() > 0  # the member indexes are described
        db.session.execute(text("DELETE FROM sqlite_stat1"))
        db.session.commit()
        scheduler.run_due(now + timedelta(hours=23))
        assert _stat_rows() == 0  # not again within the day
        scheduler.run_due(now + timedelta(days=1))
        assert _stat_rows() > 0
