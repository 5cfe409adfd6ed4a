"""Paid premium membership: a program's plans and the fees members paid for them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow

# A sale starts a membership ("new"), extends an active one from its end
# ("renewal"), or moves an active one to another plan ("change": the unused
# part of the current period is credited against the new plan's price).
NEW, RENEWAL, CHANGE = "new", "renewal", "change"


class MembershipPlan(Base):
    """A plan a program sells: price, period and perks."""

    __tablename__ = "membership_plan"
    __table_args__ = (UniqueConstraint("program_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("program.id"))
    code: Mapped[str] = mapped_column(String(40))
    # {"ru": ..., "en": ...}
    name: Mapped[dict[str, Any]]
    price_kopecks: Mapped[int] = mapped_column(BigInteger)
    period_days: Mapped[int]
    # Extra points on purchases while active, in percent of what they earn.
    earn_bonus_percent: Mapped[int] = mapped_column(default=0)
    # [{"ru": ..., "en": ...}, ...] shown on the back of the pass.
    perks: Mapped[list[dict[str, Any]]] = mapped_column(default=list)
    # Issued once, on the member's first activation of any plan.
    welcome_offer_id: Mapped[int | None] = mapped_column(ForeignKey("offer.id"))
    archived_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MembershipSale(Base):
    """One paid period: the fee (revenue from fees, not loyalty spend: it earns
    no points and counts toward no tier) with its Idempotency-Key answer."""

    __tablename__ = "membership_sale"
    __table_args__ = (
        # One sale per key per API key: a retried request replays `response`.
        UniqueConstraint("api_key_id", "idempotency_key"),
        Index("ix_membership_sale_member_id", "member_id", "id"),
        Index("ix_membership_sale_program_created", "program_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("program.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"))
    plan_id: Mapped[int] = mapped_column(ForeignKey("membership_plan.id"))
    store_id: Mapped[int | None] = mapped_column(ForeignKey("store.id"))
    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_key.id"))
    # "store" (a till), "online" (a web shop) or "api" (a marketer key).
    channel: Mapped[str] = mapped_column(String(10))
    idempotency_key: Mapped[str] = mapped_column(String(100))
    fingerprint: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(10))
    amount_kopecks: Mapped[int] = mapped_column(BigInteger)
    # The period this fee paid for: a renewal starts at the previous end.
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    response: Mapped[dict[str, Any]]
    # A change only: the unused value of the period it replaced (taken off the
    # price), and the membership it replaced (a refund restores it).
    credit_kopecks: Mapped[int | None] = mapped_column(BigInteger)
    previous_plan_id: Mapped[int | None] = mapped_column(
        ForeignKey("membership_plan.id")
    )
    previous_ends_at: Mapped[datetime | None]
    refunded_at: Mapped[datetime | None]
    refund_response: Mapped[dict[str, Any] | None]
    # What the refund paid back (the unused part of the fee); NULL on a sale
    # refunded before pro-rata refunds: the whole fee.
    refund_kopecks: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
