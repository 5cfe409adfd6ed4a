"""The KPI overview of a large program, served from a snapshot.

`kpi.overview` reads the year's purchases: at 1M members and 10M purchases that
is ~10 s of database CPU (docs/performance.md), more than a page may take. A
program with at least KPI_SNAPSHOT_MEMBERS members is therefore answered from
its stored overview (`kpi_snapshot`), which the scheduler recomputes when it is
KPI_REFRESH_SECONDS old; the page and the API read the same row, and say when
it was computed (`as_of`). Smaller programs are computed on every view, as
before. One definition either way: the snapshot is `kpi.overview`'s answer.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from app import database
from app.extensions import db
from app.models import KpiSnapshot, Member, Program
from app.services import kpi
from app.services.scheduler import scheduled


def _refresh_every() -> timedelta:
    return timedelta(seconds=int(current_app.config.get("KPI_REFRESH_SECONDS", 600)))


def large(program_id: int) -> bool:
    """Whether the program is read from its snapshot (by its member count)."""
    limit = int(current_app.config.get("KPI_SNAPSHOT_MEMBERS", 50000))
    members = db.session.scalar(
        select(func.count())
        .select_from(Member)
        .where(Member.program_id == program_id, Member.erased_at.is_(None))
    )
    return int(members or 0) >= limit


def current(program: Program, now: datetime | None = None) -> dict[str, Any]:
    """The overview with its `as_of`: a large program's stored one while it is
    younger than twice the refresh interval (the job was due and did not run:
    computed here, and stored), anyone else's computed now."""
    now = now or datetime.now(UTC)
    if not large(program.id):
        return {**kpi.overview(program, now), "as_of": now.isoformat()}
    row = db.session.get(KpiSnapshot, program.id)
    if row is not None and row.computed_at > now - 2 * _refresh_every():
        return {**row.body, "as_of": row.computed_at.isoformat()}
    body = kpi.overview(program, now)
    database.write_aside(_store(program.id, body, now), {})
    return {**body, "as_of": now.isoformat()}


def _store(program_id: int, body: dict[str, Any], now: datetime) -> Any:
    """The UPSERT of a program's snapshot."""
    return (
        database.insert(KpiSnapshot.__table__)
        .values(program_id=program_id, computed_at=now, body=body)
        .on_conflict_do_update(
            index_elements=["program_id"],
            set_={"computed_at": now, "body": body},
        )
    )


@scheduled("kpi_snapshots")
def refresh_job(now: datetime) -> None:
    """Recompute the snapshot of every large program whose snapshot is due: the
    figures are read in a transaction of their own, then written in a short
    one (on SQLite the write lock is not held while the year is read)."""
    due = now - _refresh_every()
    programs = list(db.session.scalars(select(Program).order_by(Program.id)))
    stored = {
        program_id: computed_at
        for program_id, computed_at in db.session.execute(
            select(KpiSnapshot.program_id, KpiSnapshot.computed_at)
        )
    }
    db.session.commit()
    for program in programs:
        last = stored.get(program.id)
        if (last is not None and last > due) or not large(program.id):
            db.session.commit()
            continue
        body = kpi.overview(program, now)
        db.session.commit()
        database.begin_write()
        db.session.execute(_store(program.id, body, now))
        db.session.commit()
