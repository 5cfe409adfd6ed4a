"""The points ledger (append-only) and the POS purchases that post to it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, utcnow
from app.models.member import Member

# "forfeit": the balance a closed card (erased member) gave up, bringing it to 0.
# "import": an opening balance brought from the old system (member import).
KINDS = (
    "earn",
    "redeem",
    "refund",
    "bonus",
    "adjustment",
    "expiry",
    "forfeit",
    "import",
)


class PosTransaction(Base):
    """A purchase recorded at a till, with the answer given for its Idempotency-Key."""

    __tablename__ = "pos_transaction"
    __table_args__ = (
        # One purchase per key per store: a retried request replays `response`.
        UniqueConstraint("store_id", "idempotency_key"),
        # The member's rolling 12-month spend (tiers).
        Index("ix_pos_transaction_member_created", "member_id", "created_at"),
        Index("ix_pos_transaction_store_created", "store_id", "created_at"),
        # The program's sales grouped by member (KPI overview, behaviour
        # segments, RFM): covering, so at 10M purchases the grouping walks this
        # index in member order and never visits the table (0029_scale).
        Index(
            "ix_pos_transaction_sales",
            "program_id",
            "member_id",
            "created_at",
            "amount_kopecks",
            "store_id",
            postgresql_where=text("refunded_at IS NULL"),
            sqlite_where=text("refunded_at IS NULL"),
        ),
        # The same sales in time order: the short ranges of purchases the year
        # totals' corrections read, and the snapshot's year
        # (services.year_totals). Covering: those ranges never visit the table.
        Index(
            "ix_pos_transaction_sales_time",
            "program_id",
            "created_at",
            "member_id",
            "amount_kopecks",
            postgresql_where=text("refunded_at IS NULL"),
            sqlite_where=text("refunded_at IS NULL"),
        ),
        # Refunds in time order (few): what was refunded since a year-totals
        # snapshot (services.year_totals).
        Index(
            "ix_pos_transaction_refunded",
            "program_id",
            "refunded_at",
            postgresql_where=text("refunded_at IS NOT NULL"),
            sqlite_where=text("refunded_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("program.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"))
    store_id: Mapped[int] = mapped_column(ForeignKey("store.id"))
    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_key.id"))
    idempotency_key: Mapped[str] = mapped_column(String(100))
    # SHA-256 of the normalised request: the same key with another body is refused.
    fingerprint: Mapped[str] = mapped_column(String(64))
    receipt_id: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3), default="RUB")
    amount_kopecks: Mapped[int] = mapped_column(BigInteger)
    # "store" (a till) or "online" (a web shop's `shop` key).
    channel: Mapped[str] = mapped_column(
        String(10), default="store", server_default="store"
    )
    redeemed: Mapped[int] = mapped_column(default=0)
    earned: Mapped[int] = mapped_column(default=0)
    # Stamps this purchase added (0 or 1; services.stamps), taken back on refund.
    stamps: Mapped[int] = mapped_column(default=0, server_default="0")
    # The 201 body, replayed verbatim for a retried request.
    response: Mapped[dict[str, Any]]
    refunded_at: Mapped[datetime | None]
    refund_response: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    member: Mapped[Member] = relationship()

    def __repr__(self) -> str:
        return f"<PosTransaction {self.id}>"


class MemberPurchaseTotal(Base):
    """A member's purchases summed up (refunded ones left out), kept by database
    triggers on pos_transaction (migration 0030_results): a purchase UPSERTs its
    member's row; a refund (or a deleted purchase) recomputes that member from
    the purchases. No row: no purchase. The KPI overview and the RFM and
    last-store rules read these ~1 row per member instead of every purchase
    (app/services/purchase_totals.py; docs/performance.md)."""

    __tablename__ = "member_purchase_total"

    member_id: Mapped[int] = mapped_column(
        ForeignKey("member.id"), primary_key=True, autoincrement=False
    )
    program_id: Mapped[int] = mapped_column(ForeignKey("program.id"), index=True)
    purchases: Mapped[int]
    spend_kopecks: Mapped[int] = mapped_column(BigInteger)
    first_at: Mapped[datetime]
    last_at: Mapped[datetime]
    # The second latest purchase's time (None with one purchase): "two
    # purchases since T" is prev_at >= T.
    prev_at: Mapped[datetime | None]
    # The store of the member's latest purchase (highest id). No foreign key:
    # it is copied from the purchase, whose own key already holds it.
    last_store_id: Mapped[int]


class LedgerEntry(Base):
    """One movement of points; a member's balance is the sum of their entries."""

    __tablename__ = "ledger_entry"
    __table_args__ = (Index("ix_ledger_entry_member_id_id", "member_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("program.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"))
    kind: Mapped[str] = mapped_column(String(12))
    points: Mapped[int]  # signed: + credits, - debits
    amount_kopecks: Mapped[int | None] = mapped_column(BigInteger)
    store_id: Mapped[int | None] = mapped_column(ForeignKey("store.id"))
    receipt_id: Mapped[str | None] = mapped_column(String(64))
    # Unique: a second attempt to post the same movement fails in the database.
    idempotency_key: Mapped[str | None] = mapped_column(String(160), unique=True)
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_key.id"))
    transaction_id: Mapped[int | None] = mapped_column(
        ForeignKey("pos_transaction.id"), index=True
    )
    note: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"<LedgerEntry {self.id} {self.kind} {self.points:+d}>"
