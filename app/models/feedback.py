"""Feedback: a rating request (after a purchase, or in a win-back message), the
member's answer (0-10 and a comment) and its service recovery."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow

# Why the member was asked: after a purchase, or «почему вы перестали заходить?».
PURCHASE, WINBACK = "purchase", "winback"


class Feedback(Base):
    """One rating request; answered when `score` is set, resolved (a low score
    that got its apology) when `resolved_at` is set."""

    __tablename__ = "feedback"
    __table_args__ = (
        # One request per source (a purchase, a win-back lapse) and member.
        UniqueConstraint("member_id", "source"),
        # The N-days limit: the member's latest request.
        Index("ix_feedback_member_created", "member_id", "created_at"),
        # The admin queue and the stats read a program's answers.
        Index("ix_feedback_program_answered", "program_id", "answered_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("program.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"))
    store_id: Mapped[int | None] = mapped_column(ForeignKey("store.id"))
    transaction_id: Mapped[int | None] = mapped_column(ForeignKey("pos_transaction.id"))
    kind: Mapped[str] = mapped_column(String(10), default=PURCHASE)
    source: Mapped[str] = mapped_column(String(60))
    # The page's address: random, unguessable (secrets.token_urlsafe).
    token: Mapped[str] = mapped_column(String(43), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    score: Mapped[int | None]
    comment: Mapped[str] = mapped_column(String(1000), default="")
    answered_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    # What the recovery gave: {"points": N} or {"offer_id", "member_offer_id"},
    # and "message" (the text sent).
    resolution: Mapped[dict[str, Any] | None]
