"""Offers: a program's templates and the personal single-use instances members hold."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, utcnow

KINDS = ("percent_off", "amount_off", "points_multiplier", "bonus_points", "gift")
# Instance states: issued -> redeemed (-> issued again on a refund while valid),
# issued -> expired, issued -> cancelled.
ISSUED, REDEEMED, EXPIRED, CANCELLED = "issued", "redeemed", "expired", "cancelled"
STATUSES = (ISSUED, REDEEMED, EXPIRED, CANCELLED)
# Where an instance came from.
SOURCE_KINDS = ("campaign", "automation", "manual")


class Offer(Base):
    """A template marketers define once and issue many times."""

    __tablename__ = "offer"
    __table_args__ = (Index("ix_offer_program_id_id", "program_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("program.id"))
    kind: Mapped[str] = mapped_column(String(20))
    # By kind: percent_off whole percent (1-100), amount_off kopecks,
    # points_multiplier the factor (2-10), bonus_points points, gift 0.
    value: Mapped[int] = mapped_column(BigInteger, default=0)
    # percent_off only: the most it takes off, in kopecks.
    cap_kopecks: Mapped[int | None] = mapped_column(BigInteger)
    min_kopecks: Mapped[int] = mapped_column(BigInteger, default=0)
    combinable: Mapped[bool] = mapped_column(default=False)
    # Validity: N days after issue, and/or fixed dates (aware UTC).
    valid_days: Mapped[int | None]
    valid_from: Mapped[datetime | None]
    valid_until: Mapped[datetime | None]
    # {"ru": ..., "en": ...}; ru required.
    title: Mapped[dict[str, Any]]
    terms: Mapped[dict[str, Any]] = mapped_column(default=dict)
    archived_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"<Offer {self.id} {self.kind}>"


class MemberOffer(Base):
    """One member's single-use instance of an offer."""

    __tablename__ = "member_offer"
    __table_args__ = (
        # Never two instances from the same source to one member.
        UniqueConstraint("member_id", "source"),
        # The till's and the pass's active offers.
        Index("ix_member_offer_member_status", "member_id", "status"),
        # Counting per offer; the expiry job.
        Index("ix_member_offer_offer_status", "offer_id", "status"),
        Index("ix_member_offer_status_expires", "status", "expires_at"),
        # A refund finds its purchase's instances; only redeemed ones have one,
        # so an issue (a million at a time) writes no entry.
        Index(
            "ix_member_offer_transaction_id",
            "transaction_id",
            postgresql_where=text("transaction_id IS NOT NULL"),
            sqlite_where=text("transaction_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # No foreign keys to program, offer and member (migration 0034_enqueue): a
    # campaign issues a million rows in one go and PostgreSQL checked each per
    # row; none is ever deleted (offers are archived, erased members keep their
    # row), and `offers.issue_many` writes them from the offer row it holds and
    # the member rows it selects.
    program_id: Mapped[int]
    offer_id: Mapped[int]
    member_id: Mapped[int]
    # e.g. "campaign:12", "birthday:2026", "manual:<offer id>".
    source: Mapped[str] = mapped_column(String(120))
    source_kind: Mapped[str] = mapped_column(String(12))
    # The campaign id or the automation name ("" for manual).
    source_ref: Mapped[str] = mapped_column(String(40), default="")
    status: Mapped[str] = mapped_column(String(10), default=ISSUED)
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    redeemed_at: Mapped[datetime | None]
    transaction_id: Mapped[int | None] = mapped_column(ForeignKey("pos_transaction.id"))
    discount_kopecks: Mapped[int] = mapped_column(BigInteger, default=0)

    offer: Mapped[Offer] = relationship(
        primaryjoin="MemberOffer.offer_id == Offer.id",
        foreign_keys="MemberOffer.offer_id",
    )

    def __repr__(self) -> str:
        return f"<MemberOffer {self.id} {self.status}>"
