"""The audit log: who did what (marketer actions, sign-ins, till purchases)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow


class AuditEntry(Base):
    """Who did what: marketer actions and till purchases/refunds."""

    __tablename__ = "audit_entry"
    __table_args__ = (Index("ix_audit_entry_program_id_id", "program_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int | None] = mapped_column(ForeignKey("program.id"))
    # The API key's public prefix and role ("" and "system" for jobs).
    actor: Mapped[str] = mapped_column(String(40), default="")
    role: Mapped[str] = mapped_column(String(10), default="")
    action: Mapped[str] = mapped_column(String(40))
    # e.g. "campaign:12", "pos_transaction:345".
    target: Mapped[str] = mapped_column(String(80), default="")
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"<AuditEntry {self.id} {self.action}>"
