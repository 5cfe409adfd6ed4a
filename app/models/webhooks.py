"""Webhook endpoints (a shop's or CRM's URL and secret) and their deliveries."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow

# Delivery statuses (a failed one is given up; resend queues it again).
QUEUED, SENT, FAILED = "queued", "sent", "failed"


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoint"

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("program.id"), index=True)
    url: Mapped[str] = mapped_column(String(500))
    # Signs the deliveries (HMAC-SHA256); shown once, when the endpoint is made.
    secret: Mapped[str] = mapped_column(String(80))
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(default=True)
    # Set when deliveries kept failing for a day (the endpoint stopped).
    disabled_at: Mapped[datetime | None]
    disabled_reason: Mapped[str] = mapped_column(String(200), default="")
    api_key_id: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"<WebhookEndpoint {self.id}>"


class WebhookDelivery(Base):
    """One event for one endpoint: the outbox row the worker's `webhooks` job
    sends. Deliveries with the same `order_key` (the member) go out one at a
    time in id order: a later one waits while an earlier one is retried."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        Index("ix_webhook_delivery_queue", "endpoint_id", "order_key", "status", "id"),
        Index("ix_webhook_delivery_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoint.id"))
    event_id: Mapped[str] = mapped_column(String(40))
    event: Mapped[str] = mapped_column(String(40))
    member_id: Mapped[int | None]
    order_key: Mapped[str] = mapped_column(String(40), default="")
    # The exact JSON sent (the signature covers these bytes).
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default=QUEUED)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    leased_until: Mapped[datetime | None]
    last_status: Mapped[int | None]
    last_reason: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"<WebhookDelivery {self.id} {self.event} {self.status}>"
