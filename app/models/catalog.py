"""The product catalog and back-in-stock subscriptions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, utcnow
from app.models.member import Member
from app.models.program import Store

# Subscription states: waiting -> restocked (a restock matched; the message waits
# for the quiet hours to end) -> fulfilled (the message went out), or cancelled.
WAITING, RESTOCKED, FULFILLED, CANCELLED = (
    "waiting",
    "restocked",
    "fulfilled",
    "cancelled",
)


class Product(Base):
    __tablename__ = "product"
    __table_args__ = (UniqueConstraint("program_id", "sku"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("program.id"))
    sku: Mapped[str] = mapped_column(String(64))
    # {"ru": ..., "en": ...}
    name: Mapped[dict[str, Any]]
    # Sizes or variants offered, e.g. ["S", "M", "L"]; empty: one size.
    sizes: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # Stores that carry it (ids); empty: every store.
    store_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProductSubscription(Base):
    """A member waiting for a product (optionally a size, optionally a store)."""

    __tablename__ = "product_subscription"
    __table_args__ = (
        Index("ix_product_subscription_product_status", "product_id", "status"),
        Index("ix_product_subscription_member", "member_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("program.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"))
    size: Mapped[str | None] = mapped_column(String(20))
    store_id: Mapped[int | None] = mapped_column(ForeignKey("store.id"))
    source: Mapped[str] = mapped_column(String(10))  # card, api, pos
    status: Mapped[str] = mapped_column(String(10), default=WAITING)
    # What the restock said (its size and store, when it named them).
    restock_size: Mapped[str | None] = mapped_column(String(20))
    restock_store_id: Mapped[int | None] = mapped_column(ForeignKey("store.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    restocked_at: Mapped[datetime | None]
    fulfilled_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]

    product: Mapped[Product] = relationship()
    member: Mapped[Member] = relationship()
    store: Mapped[Store | None] = relationship(foreign_keys=[store_id])
    restock_store: Mapped[Store | None] = relationship(foreign_keys=[restock_store_id])
