"""Marketer tools: automations' settings, products and back-in-stock
subscriptions, queued store-change refreshes and wallet install events."""

from __future__ import annotations

from datetime import date, datetime
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


class Automation(Base):
    """One automation of one program: on/off, its settings and its last run."""

    __tablename__ = "automation"
    __table_args__ = (UniqueConstraint("program_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("program.id"))
    name: Mapped[str] = mapped_column(String(30))
    enabled: Mapped[bool] = mapped_column(default=False)
    # Texts {"ru", "en"} and parameters; missing keys fall back to the defaults.
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    last_run_at: Mapped[datetime | None]
    # {"date": "2026-11-25", "sent": 3, "waiting": false} of the last run.
    last_result: Mapped[dict[str, Any]] = mapped_column(default=dict)


class AutomationRun(Base):
    """A completed run of an automation (history for the dashboard). Scheduled
    runs of one local date are folded into one row (`runs` counts them: welcome
    runs every scheduler tick); each manual run gets its own row."""

    __tablename__ = "automation_run"
    __table_args__ = (Index("ix_automation_run_automation_id", "automation_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    automation_id: Mapped[int] = mapped_column(ForeignKey("automation.id"))
    program_id: Mapped[int] = mapped_column(ForeignKey("program.id"))
    trigger: Mapped[str] = mapped_column(String(10))  # scheduler, manual
    # The program-local date the run was for.
    for_date: Mapped[date]
    # Members messaged.
    sent: Mapped[int] = mapped_column(default=0)
    runs: Mapped[int] = mapped_column(default=1)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Why the run failed (the exception's type: no personal data); None when it
    # completed. Failed scheduled runs of one date and error fold into one row.
    error: Mapped[str | None] = mapped_column(String(200))


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


class StoreRefresh(Base):
    """After a store or settings change: refresh the program's passes in batches
    by member id (each pass is recomputed; unchanged passes are skipped), after
    re-tiering the batch's members when `retier` is set."""

    __tablename__ = "store_refresh"

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("program.id"), index=True)
    status: Mapped[str] = mapped_column(String(10), default="queued")  # or done
    # Members with id <= cursor are done.
    cursor: Mapped[int] = mapped_column(default=0)
    total: Mapped[int] = mapped_column(default=0)
    processed: Mapped[int] = mapped_column(default=0)
    refreshed: Mapped[int] = mapped_column(default=0)
    # The program's active stores before the change (pass inputs as dicts): a
    # pass whose nearest ten are the same before and after is not re-hashed.
    # None: re-hash every pass.
    stores_before: Mapped[list[Any] | None] = mapped_column(JSON)
    # After a tiers change: each batch first re-tiers the program's members of its
    # member-id range from their rolling 12-month spend (app.services.loyalty.retier).
    retier: Mapped[bool] = mapped_column(default=False)
    # Members whose tier that moved (up or down).
    retiered: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class WalletEvent(Base):
    """A device registered or unregistered a pass (installs/uninstalls stats):
    registrations are deleted on uninstall, so they cannot be counted later."""

    __tablename__ = "wallet_event"
    __table_args__ = (
        Index("ix_wallet_event_program_created", "program_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("program.id"))
    pass_id: Mapped[int] = mapped_column()
    platform: Mapped[str] = mapped_column(String(10))  # apple, android
    kind: Mapped[str] = mapped_column(String(10))  # install, uninstall
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
