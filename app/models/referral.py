"""Referrals: who invited whom (once per friend) and how often invites open."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow

# pending (signed up, no qualifying purchase yet) -> rewarded | refused.
PENDING, REWARDED, REFUSED = "pending", "rewarded", "refused"


class Referral(Base):
    """A friend's sign-up through a member's share link."""

    __tablename__ = "referral"
    __table_args__ = (
        # The monthly limit counts a referrer's rewarded referrals.
        Index("ix_referral_referrer_status", "referrer_id", "status"),
        Index("ix_referral_program_id", "program_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("program.id"))
    referrer_id: Mapped[int] = mapped_column(ForeignKey("member.id"))
    # A friend is referred once, whatever links they opened.
    friend_id: Mapped[int] = mapped_column(ForeignKey("member.id"), unique=True)
    status: Mapped[str] = mapped_column(String(10), default=PENDING)
    # Why a reward was refused (quietly): "limit", "closed".
    reason: Mapped[str] = mapped_column(String(20), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]
    transaction_id: Mapped[int | None] = mapped_column(ForeignKey("pos_transaction.id"))


class ReferralOpen(Base):
    """How many times a member's share link was opened on a day (UTC)."""

    __tablename__ = "referral_open"
    __table_args__ = (UniqueConstraint("referrer_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("program.id"), index=True)
    referrer_id: Mapped[int] = mapped_column(ForeignKey("member.id"))
    day: Mapped[date]
    count: Mapped[int] = mapped_column(default=0)
