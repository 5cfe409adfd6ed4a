"""Pass refreshes: re-checking every pass of a program in batches after what passes
show changed (a store moved or closed, program settings, tier thresholds)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow


class PassRefresh(Base):
    """After a store or settings change: refresh the program's passes in batches
    by member id (each pass is recomputed; unchanged passes are skipped), after
    re-tiering the batch's members when `retier` is set."""

    __tablename__ = "store_refresh"

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("program.id"), index=True)
    status: Mapped[str] = mapped_column(String(10), default="queued")  # or done
    # Members with id <= cursor are done.
    cursor: Mapped[int] = mapped_column(default=0)
    total: Mapped[int] = mapped_column(default=0)
    processed: Mapped[int] = mapped_column(default=0)
    refreshed: Mapped[int] = mapped_column(default=0)
    # The program's active stores before the change (pass inputs as dicts): a
    # pass whose nearest ten are the same before and after is not re-hashed.
    # None: re-hash every pass.
    stores_before: Mapped[list[Any] | None] = mapped_column(JSON)
    # After a tiers change: each batch first re-tiers the program's members of its
    # member-id range from their rolling 12-month spend (app.services.loyalty.retier).
    retier: Mapped[bool] = mapped_column(default=False)
    # Members whose tier that moved (up or down).
    retiered: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
