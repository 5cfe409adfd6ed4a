"""The KPI overview of a large program as last computed (services.kpi_snapshots)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class KpiSnapshot(Base):
    """One row per program: `services.kpi.overview`'s answer and when."""

    __tablename__ = "kpi_snapshot"

    program_id: Mapped[int] = mapped_column(ForeignKey("program.id"), primary_key=True)
    computed_at: Mapped[datetime]
    body: Mapped[dict[str, Any]]
