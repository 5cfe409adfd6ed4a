"""Each member's purchases and spend over the last 365 days, for large programs.

The windowed segment rules (spend and avg_check over 365 days, the RFM
champions and loyal presets) need, per member, the year's purchase count and
spend. Grouping the year's purchases is ~10M rows at 1M members: 2-3 s of
database CPU, more than a live segment count may take (docs/performance.md).
So the scheduler keeps a snapshot per large program (`member_year_total`, one
row per member who bought in the year before `as_of`), and a rule reads it and
corrects it, exactly, by the few purchases that moved since:

    the year now = snapshot
                   - the snapshot's purchases that fell out of the year since
                   - the snapshot's purchases refunded since
                   + purchases the snapshot does not hold (newer than `as_of`,
                     or written after it with an older time: an id above
                     `max_transaction_id`)

Each correction is a range of an index (the sales by time, the refunds by
time, the primary key), so a day-old snapshot costs a day of purchases.

A snapshot holds the purchases with id <= max_transaction_id made in the year
before `as_of`, counted as unrefunded unless refunded before `as_of`. `as_of`
is MARGIN before the moment it was taken: purchases and refunds are stamped
with the time they are written, and a transaction lasts far less than MARGIN,
so anything stamped before `as_of` was committed when the snapshot was read,
and anything stamped later is a correction.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Subquery,
    cast,
    delete,
    func,
    insert,
    literal,
    select,
    text,
    union_all,
)

from app import database
from app.extensions import db
from app.models import (
    Member,
    MemberYearTotal,
    PosTransaction,
    Program,
    YearTotalSnapshot,
)
from app.services import kpi_snapshots
from app.services.scheduler import scheduled

YEAR = timedelta(days=365)
MARGIN = timedelta(minutes=5)


def _refresh_every() -> timedelta:
    return timedelta(
        seconds=int(current_app.config.get("YEAR_TOTALS_REFRESH_SECONDS", 86400))
    )


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def refresh(program: Program, now: datetime) -> None:
    """Take the program's snapshot as of `now` - MARGIN (in the session's
    transaction; the caller commits)."""
    p = PosTransaction
    as_of = _utc(now) - MARGIN
    top = db.session.scalar(select(func.max(p.id)).where(p.program_id == program.id))
    top = int(top or 0)
    held = (p.program_id == program.id, p.id <= top)
    in_year = (p.created_at >= as_of - YEAR, p.created_at < as_of)
    rows = union_all(
        select(p.member_id, p.amount_kopecks).where(
            *held, *in_year, p.refunded_at.is_(None)
        ),
        select(p.member_id, p.amount_kopecks).where(
            *held, *in_year, p.refunded_at >= as_of
        ),
    ).subquery("held")
    db.session.execute(
        delete(MemberYearTotal).where(MemberYearTotal.program_id == program.id)
    )
    db.session.execute(
        insert(MemberYearTotal).from_select(
            ["member_id", "program_id", "purchases", "spend_kopecks"],
            select(
                rows.c.member_id,
                literal(program.id),
                func.count(),
                func.sum(rows.c.amount_kopecks),
            ).group_by(rows.c.member_id),
        )
    )
    if db.session.get_bind().dialect.name == "postgresql":
        # Fresh statistics for the rules' plans (1M rows just replaced).
        db.session.execute(text("ANALYZE member_year_total"))
    values = {"as_of": as_of, "max_transaction_id": top, "computed_at": _utc(now)}
    db.session.execute(
        database.insert(YearTotalSnapshot.__table__)
        .values(program_id=program.id, **values)
        .on_conflict_do_update(index_elements=["program_id"], set_=values)
    )


def window(program: Program, now: datetime) -> Subquery | None:
    """(member_id, purchases, spend) of every member with a purchase in the 365
    days before `now`, from the snapshot and its corrections; None without a
    snapshot taken before `now`."""
    snapshot = db.session.get(YearTotalSnapshot, program.id)
    now = _utc(now)
    if snapshot is None or _utc(snapshot.as_of) > now:
        return None
    p = PosTransaction
    as_of, top, start = _utc(snapshot.as_of), snapshot.max_transaction_id, now - YEAR
    held = (p.program_id == program.id, p.id <= top, p.created_at >= as_of - YEAR)

    def rows(sign: int, *where: ColumnElement[bool]) -> Any:
        return select(
            p.member_id.label("member_id"),
            literal(sign).label("purchases"),
            (p.amount_kopecks * sign).label("spend"),
        ).where(*where)

    dropped = p.created_at < min(start, as_of)
    delta = union_all(
        # The snapshot's purchases that fell out of the year since.
        rows(-1, *held, dropped, p.refunded_at.is_(None)),
        rows(-1, *held, dropped, p.refunded_at >= as_of),
        # The snapshot's purchases still in the year and refunded since.
        rows(
            -1,
            *held,
            p.created_at >= start,
            p.created_at < as_of,
            p.refunded_at >= as_of,
        ),
        # Purchases the snapshot does not hold.
        rows(
            1,
            p.program_id == program.id,
            p.created_at >= max(start, as_of),
            p.refunded_at.is_(None),
        ),
        rows(
            1,
            p.program_id == program.id,
            p.id > top,
            p.created_at >= start,
            p.created_at < as_of,
            p.refunded_at.is_(None),
        ),
    ).subquery("delta")
    moved = (
        select(
            delta.c.member_id,
            cast(func.sum(delta.c.purchases), Integer).label("purchases"),
            cast(func.sum(delta.c.spend), BigInteger).label("spend"),
        )
        .group_by(delta.c.member_id)
        .subquery("moved")
    )
    # Driven by the program's members (one row each, known to the planner) and
    # not a UNION of snapshot rows and new purchasers: a UNION's row count is a
    # guess, and PostgreSQL then probed the member index once per row (1M).
    y = MemberYearTotal
    purchases = func.coalesce(y.purchases, 0) + func.coalesce(moved.c.purchases, 0)
    spend = func.coalesce(y.spend_kopecks, 0) + func.coalesce(moved.c.spend, 0)
    return (
        select(
            Member.id.label("member_id"),
            purchases.label("purchases"),
            spend.label("spend"),
        )
        .outerjoin(y, y.member_id == Member.id)
        .outerjoin(moved, moved.c.member_id == Member.id)
        .where(Member.program_id == program.id, purchases > 0)
        .subquery("window")
    )


@scheduled("year_totals")
def refresh_job(now: datetime) -> None:
    """Retake the snapshot of every large program (kpi_snapshots.large) whose
    snapshot is YEAR_TOTALS_REFRESH_SECONDS old (default a day): the
    corrections a rule adds grow with its age."""
    due = _utc(now) - _refresh_every()
    taken = {
        program_id: _utc(computed_at)
        for program_id, computed_at in db.session.execute(
            select(YearTotalSnapshot.program_id, YearTotalSnapshot.computed_at)
        )
    }
    programs = list(db.session.scalars(select(Program).order_by(Program.id)))
    db.session.commit()
    for program in programs:
        last = taken.get(program.id)
        if (last is not None and last > due) or not kpi_snapshots.large(program.id):
            db.session.commit()
            continue
        # One transaction: readers see the old snapshot until it commits. On
        # SQLite it holds the write lock while the year is grouped
        # (docs/operations.md).
        database.begin_write()
        refresh(program, now)
        db.session.commit()
