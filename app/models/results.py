"""Who was held out of a campaign or automation, and who got which variant.

One row per member and source (the same `source_key` as `MemberMessage`): the
treated members (messaged) and the control group (held out, not messaged), so
that results compare the two. Written set-based per sending batch.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow

TREATMENT, CONTROL = "treatment", "control"


class Assignment(Base):
    __tablename__ = "assignment"
    __table_args__ = (
        UniqueConstraint("member_id", "source_key"),
        # A campaign's results read its rows grouped by group and variant.
        Index("ix_assignment_campaign", "campaign_id", "grp"),
        # An automation's results read its rows of a period.
        # (Not campaign rows: the enqueue writes a million at a time.)
        Index(
            "ix_assignment_automation",
            "program_id",
            "automation",
            "created_at",
            postgresql_where=text("automation IS NOT NULL"),
            sqlite_where=text("automation IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # No foreign keys to program and member (migration 0034_enqueue): checked
    # per row of a campaign's million; neither is ever deleted (erased members
    # keep their row), and `record` writes the rows from the member rows it
    # selects.
    program_id: Mapped[int]
    member_id: Mapped[int]
    # "campaign:12", "winback:2026-11-20", ...: as the message's source key.
    source_key: Mapped[str] = mapped_column(String(80))
    campaign_id: Mapped[int | None]
    # The automation's name (birthday, win_back, ...), else None.
    automation: Mapped[str | None] = mapped_column(String(30))
    # treatment or control.
    grp: Mapped[str] = mapped_column(String(10))
    # The campaign variant's name (treated members of a campaign with variants).
    variant: Mapped[str | None] = mapped_column(String(20))
    # A treated member whose message went to a registered device or a saved
    # Google object when sent.
    reached: Mapped[bool] = mapped_column(default=False)
    # When the member was assigned: the send time (the attribution window starts).
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"<Assignment {self.source_key} {self.member_id} {self.grp}>"


class SavedSegment(Base):
    """A named segment definition of a program, reused by campaigns (the rule
    {"saved": id}) and by other segments."""

    __tablename__ = "saved_segment"
    __table_args__ = (UniqueConstraint("program_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("program.id"))
    name: Mapped[str] = mapped_column(String(120))
    # A segment definition (app.services.segments), checked when saved.
    definition: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"<SavedSegment {self.id} {self.name}>"
