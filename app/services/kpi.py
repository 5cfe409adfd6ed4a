"""The KPI overview: one definition per figure, used by `/api/v1/stats` (its
`kpi` object) and the /admin overview alike (a test checks they agree).

Every figure is one aggregate query over the program (set-based; no per-member
work in Python). Windows end now: "active" 30 and 90 days, the purchase figures
the last 365 days, revenue the last 30 days.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from markupsafe import Markup
from sqlalchemy import ColumnElement, and_, case, func, select

from app.extensions import db
from app.models import (
    LedgerEntry,
    Member,
    MemberPurchaseTotal,
    PosTransaction,
    Program,
)
from app.services.segments import reachable_expr

ACTIVE_DAYS = (30, 90)
YEAR_DAYS = 365
REVENUE_DAYS = 30
COHORT_MONTHS = 6


def _month(column: Any) -> ColumnElement[str]:
    """'YYYY-MM' of a timestamp, per dialect."""
    if db.session.get_bind().dialect.name == "postgresql":
        return func.to_char(column, "YYYY-MM")
    return func.strftime("%Y-%m", column)


def _months_back(today: date, count: int) -> list[str]:
    year, month = today.year, today.month
    months = []
    for _ in range(count):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return months[::-1]


def _offset(first: str, second: str) -> int:
    y1, m1 = map(int, first.split("-"))
    y2, m2 = map(int, second.split("-"))
    return (y2 - y1) * 12 + (m2 - m1)


def overview(program: Program, now: datetime | None = None) -> dict[str, Any]:
    """The program's KPIs (money in roubles, rates 0-1)."""
    now = now or datetime.now(UTC)
    members = int(
        db.session.scalar(
            select(func.count()).where(
                Member.program_id == program.id, Member.erased_at.is_(None)
            )
        )
        or 0
    )
    # Members' figures (purchasers, repeaters, active) from the per-member
    # totals, one row per member (services.purchase_totals): the year's
    # purchasers are those whose last purchase is in it, its repeaters those
    # whose second-last is; the sales' count and sums over the windows in one
    # ungrouped pass over the year's sales (docs/performance.md).
    year = now - timedelta(days=YEAR_DAYS)
    recent_since = now - timedelta(days=REVENUE_DAYS)
    totals = MemberPurchaseTotal

    def share(condition: ColumnElement[bool]) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    row = db.session.execute(
        select(
            share(totals.last_at >= year),
            share(totals.prev_at >= year),
            *(share(totals.last_at >= now - timedelta(days=d)) for d in ACTIVE_DAYS),
        ).where(totals.program_id == program.id)
    ).one()
    purchasers, repeaters = row[:2]
    active = {
        f"active_{days}d": int(count or 0)
        for days, count in zip(ACTIVE_DAYS, row[2:], strict=True)
    }
    amount = PosTransaction.amount_kopecks
    in_year = PosTransaction.created_at >= year
    # The windows as FILTERs, not in WHERE: with only the program in WHERE both
    # databases read the covering index of the sales (SQLite otherwise took the
    # (store, time) index and visited every row for its amount).
    purchases, revenue, revenue_recent = db.session.execute(
        select(
            func.count().filter(in_year),
            func.coalesce(func.sum(amount).filter(in_year), 0),
            func.coalesce(
                func.sum(amount).filter(PosTransaction.created_at >= recent_since), 0
            ),
        ).where(
            PosTransaction.program_id == program.id,
            PosTransaction.refunded_at.is_(None),
        )
    ).one()
    point_value = Decimal(str(program.rule("point_value")))
    outstanding = int(
        db.session.scalar(
            select(func.coalesce(func.sum(Member.points), 0)).where(
                Member.program_id == program.id, Member.erased_at.is_(None)
            )
        )
        or 0
    )
    issued, redeemed = db.session.execute(
        select(
            func.coalesce(
                func.sum(LedgerEntry.points).filter(
                    LedgerEntry.kind.in_(("earn", "bonus"))
                ),
                0,
            ),
            func.coalesce(
                func.sum(LedgerEntry.points).filter(LedgerEntry.kind == "redeem"), 0
            ),
        ).where(LedgerEntry.program_id == program.id, LedgerEntry.created_at >= year)
    ).one()
    tiers = dict(
        db.session.execute(
            select(Member.tier, func.count())
            .where(Member.program_id == program.id, Member.erased_at.is_(None))
            .group_by(Member.tier)
        )
        .tuples()
        .all()
    )
    live = and_(Member.program_id == program.id, Member.erased_at.is_(None))
    # One count per channel, not one pass with four FILTERs: in a FILTER (or an
    # OR) PostgreSQL runs each EXISTS as a subplan per member (8 s at 1M
    # members); alone in WHERE it becomes a semi-join.
    reach = {
        name: int(
            db.session.scalar(
                select(func.count()).select_from(Member).where(live, reachable_expr(p))
            )
            or 0
        )
        for name, p in (
            ("any", None),
            ("apple", "apple"),
            ("android", "android"),
            ("google", "google"),
        )
    }
    return {
        "members": members,
        **active,
        "purchasers_365d": int(purchasers),
        "repeat_purchase_rate": _ratio(int(repeaters), int(purchasers)),
        "purchase_frequency": (
            round(int(purchases) / int(purchasers), 2) if purchasers else 0.0
        ),
        "average_check": (
            round(int(revenue) / int(purchases) / 100, 2) if purchases else 0.0
        ),
        "revenue_30d": round(int(revenue_recent or 0) / 100, 2),
        "points_outstanding": outstanding,
        "points_liability": float(outstanding * point_value),
        "redemption_rate": _ratio(-int(redeemed), int(issued)),
        "members_by_tier": {
            tier["code"]: int(tiers.get(tier["code"], 0)) for tier in program.tiers
        }
        or {k: int(v) for k, v in tiers.items()},
        "wallet_reach": reach,
        "cohorts": cohorts(program, now),
    }


def _ratio(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def cohorts(program: Program, now: datetime) -> list[dict[str, Any]]:
    """Monthly sign-up cohorts of the last COHORT_MONTHS months: size and, per
    month since joining (0 = the month they joined), the share who bought."""
    months = _months_back(now.date(), COHORT_MONTHS)
    first = datetime.strptime(months[0] + "-01", "%Y-%m-%d").replace(tzinfo=UTC)
    joined = _month(Member.created_at)
    sizes = dict(
        db.session.execute(
            select(joined, func.count())
            .where(Member.program_id == program.id, Member.created_at >= first)
            .group_by(joined)
        )
        .tuples()
        .all()
    )
    bought = _month(PosTransaction.created_at)
    rows = db.session.execute(
        select(joined, bought, func.count(func.distinct(Member.id)))
        .join(PosTransaction, PosTransaction.member_id == Member.id)
        .where(
            Member.program_id == program.id,
            Member.created_at >= first,
            PosTransaction.refunded_at.is_(None),
            PosTransaction.created_at >= first,
        )
        .group_by(joined, bought)
    ).all()
    active = {(str(c), str(m)): int(n) for c, m, n in rows}
    result = []
    for cohort in months:
        size = int(sizes.get(cohort, 0))
        span = len(months) - months.index(cohort)
        retention = [
            _ratio(active.get((cohort, months[months.index(cohort) + k]), 0), size)
            for k in range(span)
        ]
        result.append({"month": cohort, "members": size, "retention": retention})
    return result


_CELL = Markup(
    '<rect x="{x}" y="{y}" width="{w}" height="{h}" fill="#3b6fd6" '
    'fill-opacity="{alpha:.2f}"><title>{cohort} +{k}: {value}</title></rect>'
    '<text x="{tx}" y="{ty}" font-size="11" text-anchor="middle">{value}</text>'
)


def heatmap(rows: list[dict[str, Any]], label: str) -> Markup:
    """Cohort retention as an SVG heatmap: a row per cohort, a column per month
    since joining; the share (percent) in each cell."""
    cell_w, cell_h, left, top = 56, 22, 70, 4
    width = left + cell_w * COHORT_MONTHS + 4
    height = top + cell_h * len(rows) + 4
    parts = []
    for i, row in enumerate(rows):
        y = top + i * cell_h
        parts.append(
            Markup('<text x="2" y="{y}" font-size="11">{month} ({n})</text>').format(
                y=y + 15, month=row["month"], n=row["members"]
            )
        )
        for k, share in enumerate(row["retention"]):
            x = left + k * cell_w
            parts.append(
                _CELL.format(
                    x=x,
                    y=y,
                    w=cell_w - 2,
                    h=cell_h - 2,
                    alpha=0.08 + 0.9 * share,
                    cohort=row["month"],
                    k=k,
                    value=f"{round(share * 100)}%",
                    tx=x + cell_w // 2,
                    ty=y + 15,
                )
            )
    return Markup(
        '<svg class="chart heatmap" viewBox="0 0 {w} {h}" role="img" '
        'aria-label="{label}" xmlns="http://www.w3.org/2000/svg">{cells}</svg>'
    ).format(w=width, h=height, label=label, cells=Markup("").join(parts))
