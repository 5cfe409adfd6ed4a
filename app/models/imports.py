"""Member import jobs (CSV from a CRM) and old plastic card numbers (aliases)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow

# Import statuses.
QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"


class MemberImport(Base):
    """One CSV import (or dry run), processed batch by batch.

    `offset` (bytes into the file) and `line` are the cursor: each batch commits
    its members together with the cursor, so a crashed import resumes after the
    last committed batch and never applies one twice. `errors` keeps the first
    bad rows (line and reason); `failed` counts them all.
    """

    __tablename__ = "member_import"
    __table_args__ = (Index("ix_member_import_status", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("program.id"), index=True)
    api_key_id: Mapped[int | None]
    status: Mapped[str] = mapped_column(String(10), default=QUEUED)
    dry_run: Mapped[bool] = mapped_column(default=False)
    filename: Mapped[str] = mapped_column(String(200), default="")
    # The file on disk; `owned`: an upload of ours, deleted once done.
    path: Mapped[str] = mapped_column(String(500))
    owned: Mapped[bool] = mapped_column(default=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    offset: Mapped[int] = mapped_column(BigInteger, default=0)
    line: Mapped[int] = mapped_column(default=0)
    delimiter: Mapped[str] = mapped_column(String(1), default="")
    # Column index -> field ("phone", "name", ...), read from the header.
    columns: Mapped[dict[str, Any]] = mapped_column(default=dict)
    rows_ok: Mapped[int] = mapped_column(default=0)
    created: Mapped[int] = mapped_column(default=0)
    updated: Mapped[int] = mapped_column(default=0)
    unchanged: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
    errors: Mapped[list[dict[str, Any]]] = mapped_column(default=list)
    message: Mapped[str] = mapped_column(String(200), default="")
    # Invitations: each member this import created gets their card link by SMS
    # (and e-mail) once it is done, outside quiet hours; a member-id cursor.
    invite: Mapped[bool] = mapped_column(default=False)
    invite_cursor: Mapped[int] = mapped_column(default=0)
    invited: Mapped[int] = mapped_column(default=0)
    invite_done: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"<MemberImport {self.id} {self.status}>"


class CardAlias(Base):
    """A member's old (plastic) card number: it still scans at the till and earns."""

    __tablename__ = "card_alias"
    __table_args__ = (UniqueConstraint("program_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("program.id"))
    number: Mapped[str] = mapped_column(String(40))
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"<CardAlias {self.id}>"
