"""The push outbox: one row per delivery a device (or API) must receive."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow

# Delivery statuses.
QUEUED, SENT, FAILED, DROPPED = "queued", "sent", "failed", "dropped"
STATUSES = (QUEUED, SENT, FAILED, DROPPED)


class PushDelivery(Base):
    """A transactional-outbox row, written in the same transaction as the change.

    `channel` picks the sender ("apns", "android" for the WalletPasses relay;
    "google" later). While a row is queued, `pending_key` holds
    "channel:topic:token" under a unique index: a second change for the same token
    updates the queued row instead of adding one (coalescing), and bumps
    `generation`, so a worker that is sending the older generation knows to send
    again. Finished rows have `pending_key` NULL and stay as the delivery record.
    """

    __tablename__ = "push_delivery"
    __table_args__ = (
        # Only queued rows, in claim order: a claim reads its batch off the
        # index (no scan and sort of the whole outbox), and a row recorded as
        # sent leaves it (docs/performance.md "Pushes near the limit"). On
        # PostgreSQL the table has fillfactor 50 (migration 0033_pushes): a claim
        # changes no indexed column, so with room on the page it is a HOT
        # update and writes no index entry.
        Index(
            "ix_push_delivery_due",
            "next_attempt_at",
            "id",
            postgresql_where=text("status = 'queued'"),
            sqlite_where=text("status = 'queued'"),
        ),
        Index("ix_push_delivery_pass", "pass_id"),
        Index("ix_push_delivery_campaign", "campaign_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(10), default=QUEUED)
    # Device and pass are plain columns, not foreign keys: the record outlives them
    # (a dropped token deletes its device; the delivery row says why).
    device_id: Mapped[int | None]
    pass_id: Mapped[int | None]
    campaign_id: Mapped[int | None]
    # APNs topic (the pass type identifier) and device push token at enqueue time.
    topic: Mapped[str] = mapped_column(String(120))
    push_token: Mapped[str] = mapped_column(String(256))
    pending_key: Mapped[str | None] = mapped_column(String(400), unique=True)
    generation: Mapped[int] = mapped_column(default=0)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None]
    # The last non-success answer ("429 TooManyRequests", "connection lost", ...).
    last_reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"<PushDelivery {self.id} {self.channel} {self.status}>"
