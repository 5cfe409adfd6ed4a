"""Messages sent to members (campaigns, birthdays, back in stock, ...).

One row per member and source (`source_key`, unique per member): the same campaign,
the same year's birthday or the same restock never reaches a member twice, however
often a job runs. The row is also the audit trail of what was said to whom.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, utcnow
from app.models.member import Member


class MemberMessage(Base):
    __tablename__ = "member_message"
    __table_args__ = (
        UniqueConstraint("member_id", "source_key"),
        Index("ix_member_message_campaign", "campaign_id"),
        # The birthday offer expiry job reads recent messages of one kind.
        Index("ix_member_message_kind_created", "kind", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"))
    # campaign, birthday, back_in_stock, win_back, welcome, points_reminder, manual
    kind: Mapped[str] = mapped_column(String(30))
    # e.g. "campaign:12", "birthday:2026", "restock:345": at most once per member.
    source_key: Mapped[str] = mapped_column(String(80))
    campaign_id: Mapped[int | None]
    header: Mapped[str] = mapped_column(String(80))
    # The text in the member's language, as the pass's offer field shows it.
    body: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    member: Mapped[Member] = relationship()

    def __repr__(self) -> str:
        return f"<MemberMessage {self.id} {self.source_key}>"
