"""The KPI overview of a large program as last computed (services.kpi_snapshots)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class KpiSnapshot(Base):
    """One row per program: `services.kpi.overview`'s answer and when."""

    __tablename__ = "kpi_snapshot"

    program_id: Mapped[int] = mapped_column(ForeignKey("program.id"), primary_key=True)
    computed_at: Mapped[datetime]
    body: Mapped[dict[str, Any]]


class YearTotalSnapshot(Base):
    """One row per large program: when its `member_year_total` rows were taken
    (services.year_totals). They hold the purchases with an id up to
    `max_transaction_id`, made in the year before `as_of`, not refunded
    before `as_of`."""

    __tablename__ = "year_total_snapshot"

    program_id: Mapped[int] = mapped_column(ForeignKey("program.id"), primary_key=True)
    as_of: Mapped[datetime]
    max_transaction_id: Mapped[int]
    computed_at: Mapped[datetime]


class MemberYearTotal(Base):
    """A member's purchases and spend in the year of their program's
    `year_total_snapshot` (no row: none). Derived from pos_transaction and
    rebuilt whole by the scheduler, so no foreign keys (like member_offer)."""

    __tablename__ = "member_year_total"

    member_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    program_id: Mapped[int] = mapped_column(index=True)
    purchases: Mapped[int]
    spend_kopecks: Mapped[int] = mapped_column(BigInteger)
