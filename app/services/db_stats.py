"""Planner statistics for SQLite: ANALYZE once a day, from the worker's scheduler.

PostgreSQL's autovacuum keeps its own statistics. SQLite has none until ANALYZE
runs, and without them its planner assumes the member table's program index is
selective: segment counts then walk every member once per reachability branch
(the "reachable" preview took 2.7 s at 1M members, 1.9 s with statistics;
docs/performance.md, "Campaigns"). ANALYZE over 1M members takes about 0.3 s.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import text

from app.extensions import db
from app.services.scheduler import scheduled

INTERVAL = timedelta(days=1)
# When this process last analysed each database (the job runs every 30 s).
_analysed: dict[str, datetime] = {}


@scheduled("sqlite_statistics")
def sqlite_statistics_job(now: datetime) -> None:
    """ANALYZE an SQLite database if this process has not done so for a day."""
    if db.engine.dialect.name != "sqlite":
        return
    database = str(db.engine.url)
    last = _analysed.get(database)
    if last is not None and abs(now - last) < INTERVAL:
        return
    db.session.execute(text("ANALYZE"))
    _analysed[database] = now
