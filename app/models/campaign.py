"""Marketing campaigns and the audit log of what marketers and tills did."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow

# Campaign states: draft -> scheduled -> sending -> done; draft/scheduled/sending
# -> cancelled.
DRAFT, SCHEDULED, SENDING, DONE, CANCELLED = (
    "draft",
    "scheduled",
    "sending",
    "done",
    "cancelled",
)
STATES = (DRAFT, SCHEDULED, SENDING, DONE, CANCELLED)


class Campaign(Base):
    """A message to a segment of a program's members, sent once per member."""

    __tablename__ = "campaign"
    __table_args__ = (Index("ix_campaign_due", "state", "start_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("program.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    # {"ru": ..., "en": ...}; ru required; each member gets their language.
    texts: Mapped[dict[str, Any]]
    # A segment definition (app.services.segments), checked when saved.
    segment: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(String(10), default=DRAFT)
    # When to start (aware UTC); None = as soon as scheduled (and not quiet hours).
    start_at: Mapped[datetime | None]
    # Sending progress: the highest member id handled; resumes after it.
    cursor: Mapped[int] = mapped_column(default=0)
    # Members matched when sending began (frozen then), and how many had a device.
    targeted: Mapped[int | None]
    reachable: Mapped[int | None]
    created_by: Mapped[str] = mapped_column(String(40), default="")
    # The offer each member reached gets (services.offers); checked when saved.
    # No foreign key: adding one to an existing SQLite table means a table copy.
    offer_id: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    scheduled_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    # Results (issue 16): the share of the segment held out as a control group
    # (0-50; 0 on campaigns sent before control groups existed), up to 4
    # variants [{"name", "share", "texts"?, "offer_id"?}] and the attribution
    # window in days from each member's send time.
    holdout_percent: Mapped[int] = mapped_column(default=10)
    variants: Mapped[list[dict[str, Any]]] = mapped_column(default=list)
    attribution_days: Mapped[int] = mapped_column(default=14)
    # Members the program's message_cap held back (messaged enough already).
    held_back: Mapped[int] = mapped_column(default=0, server_default="0")

    def __repr__(self) -> str:
        return f"<Campaign {self.id} {self.state}>"
