"""Google Wallet state: what was sent to Google, messages, and save/delete callbacks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, utcnow
from app.models.member import Member
from app.models.program import Program


class GoogleClass(Base):
    """A program's loyalty class as last sent to Google."""

    __tablename__ = "google_class"

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("program.id"), unique=True)
    class_id: Mapped[str] = mapped_column(String(200), unique=True)
    # SHA-256 of the class JSON last inserted or patched: unchanged -> no call.
    content_hash: Mapped[str] = mapped_column(String(64))
    synced_at: Mapped[datetime] = mapped_column(default=utcnow)

    program: Mapped[Program] = relationship()

    def __repr__(self) -> str:
        return f"<GoogleClass {self.class_id}>"


class GoogleObject(Base):
    """A member's loyalty object: last body sent, notification budget, installs."""

    __tablename__ = "google_object"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"), unique=True)
    object_id: Mapped[str] = mapped_column(String(200), unique=True)
    class_id: Mapped[str] = mapped_column(String(200))
    # "ACTIVE" or "EXPIRED" (erasure); Google has no DELETE.
    state: Mapped[str] = mapped_column(String(20), default="ACTIVE")
    # The object JSON as Google has it (minus messages): PATCHes send only changes.
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    # When notifying calls were made (epoch seconds, last 24 h): Google allows 3.
    notified_at: Mapped[list[float]] = mapped_column(JSON, default=list)
    # From save/delete callbacks: whether it is in a Google Wallet now, and counts.
    saved: Mapped[bool] = mapped_column(default=False)
    save_count: Mapped[int] = mapped_column(default=0)
    delete_count: Mapped[int] = mapped_column(default=0)
    # expTimeMillis of the newest callback applied to `saved` (they can reorder).
    last_event_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    synced_at: Mapped[datetime] = mapped_column(default=utcnow)

    member: Mapped[Member] = relationship()
    messages: Mapped[list[GoogleMessage]] = relationship(
        back_populates="google_object",
        cascade="all, delete-orphan",
        order_by="GoogleMessage.id",
    )

    def __repr__(self) -> str:
        return f"<GoogleObject {self.object_id} {self.state}>"


class GoogleMessage(Base):
    """A message added to an object (history; Google keeps the newest 10)."""

    __tablename__ = "google_message"
    __table_args__ = (Index("ix_google_message_object", "google_object_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    google_object_id: Mapped[int] = mapped_column(ForeignKey("google_object.id"))
    message_id: Mapped[str] = mapped_column(String(80))
    header: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    # TEXT_AND_NOTIFY within the budget, else TEXT.
    message_type: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    google_object: Mapped[GoogleObject] = relationship(back_populates="messages")

    def __repr__(self) -> str:
        return f"<GoogleMessage {self.message_id} {self.message_type}>"


class GoogleCallback(Base):
    """A verified save/delete callback; the unique nonce drops Google's duplicates."""

    __tablename__ = "google_callback"

    id: Mapped[int] = mapped_column(primary_key=True)
    nonce: Mapped[str] = mapped_column(String(200), unique=True)
    object_id: Mapped[str] = mapped_column(String(200), index=True)
    class_id: Mapped[str] = mapped_column(String(200))
    event_type: Mapped[str] = mapped_column(String(10))  # "save" or "del"
    exp_time_ms: Mapped[int] = mapped_column(BigInteger)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"<GoogleCallback {self.event_type} {self.object_id}>"
