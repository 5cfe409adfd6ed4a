"""A loyalty program member (the customer behind a card)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, utcnow
from app.models.program import Program, Store


class Member(Base):
    """On PostgreSQL the table has fillfactor 50 (migration 0013_pgenq; SQLAlchemy
    cannot declare it): offer and points updates then stay on their page (HOT)."""

    __tablename__ = "member"
    __table_args__ = (
        # One card per phone per program: signing up again returns the same card.
        UniqueConstraint("program_id", "phone"),
        # Campaign batches walk a program's members in id order (keyset).
        Index("ix_member_program_id_id", "program_id", "id"),
        # Members whose pass links to an open rating request (feedback): the
        # feedback_expiry job reads these only.
        Index(
            "ix_member_feedback_token",
            "feedback_token",
            postgresql_where=text("feedback_token IS NOT NULL"),
            sqlite_where=text("feedback_token IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("program.id"), index=True)
    card_number: Mapped[str] = mapped_column(String(12), unique=True)
    # Unguessable token in the card page URL (/c/<card_token>).
    card_token: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    phone: Mapped[str] = mapped_column(String(20))  # E.164
    email: Mapped[str | None] = mapped_column(String(254))
    birthday: Mapped[date | None]
    language: Mapped[str] = mapped_column(String(2), default="ru")
    preferred_store_id: Mapped[int | None] = mapped_column(ForeignKey("store.id"))
    city: Mapped[str | None] = mapped_column(String(80))
    consent_version: Mapped[str] = mapped_column(String(20))
    consent_at: Mapped[datetime]
    # Cached sum of the member's ledger; the ledger (POS issue) is the source of truth.
    points: Mapped[int] = mapped_column(default=0)
    tier: Mapped[str] = mapped_column(String(20))
    offer: Mapped[str] = mapped_column(String(200), default="")
    # Stamps on the current stamp card (services.stamps); restarts at the reward.
    stamps: Mapped[int] = mapped_column(default=0, server_default="0")
    # The paid membership held (services.memberships): its plan until its end;
    # the expiry job clears both once the end has passed. (No foreign key: an
    # ADD COLUMN with one would copy the member table on SQLite; plans are never
    # deleted, only archived.)
    membership_plan_id: Mapped[int | None]
    membership_ends_at: Mapped[datetime | None]
    # The open feedback request the pass links to (services.feedback), if any.
    feedback_token: Mapped[str | None] = mapped_column(String(43))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set when the member asked to be erased: personal fields are scrubbed, the
    # card page is gone and the pass is voided; the row stays for the ledger.
    erased_at: Mapped[datetime | None]
    # Set when the customer switched off «Получать предложения»: campaigns and the
    # marketing automations (birthday, win-back) skip them; balance, tier and
    # back-in-stock messages they asked for still go.
    marketing_off_at: Mapped[datetime | None]

    program: Mapped[Program] = relationship()
    preferred_store: Mapped[Store | None] = relationship()

    def __repr__(self) -> str:
        return f"<Member {self.id}>"
