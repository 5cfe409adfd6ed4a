"""API keys for the JSON APIs: hashed at rest, scoped by role, program and store."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, utcnow
from app.models.program import Program, Store

# "shop": a web shop (no store): the POS API, purchases recorded as `online`.
ROLES = ("pos", "marketer", "admin", "shop")


class ApiKey(Base):
    __tablename__ = "api_key"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The public part of the key ("wlk_<prefix>_<secret>"), for lookup.
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    # SHA-256 (hex) of the whole key; the key itself is shown once and never stored.
    key_hash: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(String(80), default="")
    # None: every program (admin keys only).
    program_id: Mapped[int | None] = mapped_column(ForeignKey("program.id"))
    # POS keys are bound to one store.
    store_id: Mapped[int | None] = mapped_column(ForeignKey("store.id"))
    revoked: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]

    program: Mapped[Program | None] = relationship()
    store: Mapped[Store | None] = relationship()

    def __repr__(self) -> str:
        return f"<ApiKey {self.prefix} {self.role}>"


class AdminSession(Base):
    """A browser signed in to /admin with an API key.

    The cookie holds only a random session id; this row holds its SHA-256, so a
    database reader cannot replay a session. Signing out deletes the row (a copied
    cookie stops working too); idle and absolute timeouts end it otherwise
    (app.admin.session), and revoking the key ends every session it opened.
    """

    __tablename__ = "admin_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    api_key_id: Mapped[int] = mapped_column(
        ForeignKey("api_key.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)

    api_key: Mapped[ApiKey] = relationship()

    def __repr__(self) -> str:
        return f"<AdminSession {self.id} key={self.api_key_id}>"
