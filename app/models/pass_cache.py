"""Signed .pkpass bytes kept for the web service (see services.pass_cache)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DDL, ForeignKey, LargeBinary, String, event
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow


class SignedPass(Base):
    """The signed archive of one pass at one update tag: one row per pass (a
    newer tag replaces the row), so stale versions never pile up."""

    __tablename__ = "signed_pass"

    pass_id: Mapped[int] = mapped_column(
        ForeignKey("pass.id", ondelete="CASCADE"), primary_key=True
    )
    update_tag: Mapped[int]
    # The pass's Last-Modified when signed: served with the bytes.
    modified_at: Mapped[datetime]
    data: Mapped[bytes] = mapped_column(LargeBinary)
    # SHA-256 of the pass certificate that signed it: a row signed with a
    # replaced certificate is never served (it counts as a miss and is re-signed).
    certificate: Mapped[str] = mapped_column(String(64), default="", server_default="")
    # SHA-256 of the archive's shared leading part (the design's images, in
    # SignedPassPart): the archive is that part followed by `data`. '' when
    # `data` is the whole archive (a miss signed by the web service).
    shared: Mapped[str] = mapped_column(String(64), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SignedPassPart(Base):
    """The leading part of signed archives that every pass of a design shares
    (its image entries, 25 KB for the demo design), stored once by its SHA-256:
    each signed_pass row then holds only the pass's own part (13 KB of the
    demo's 38 KB, bench/passgen.py; writing and reading the whole archive per
    pass was 42 % of PostgreSQL's statement time in a herd, docs/performance.md). Rows
    are never changed: a new design has a new digest."""

    __tablename__ = "signed_pass_part"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# PostgreSQL: the bytes are kept uncompressed (a zip of PNGs and a signature:
# pglz cost ~0.4 ms of server CPU per stored pass for ~30 %; migration 0028_herd2).
event.listen(
    SignedPass.__table__,
    "after_create",
    DDL("ALTER TABLE signed_pass ALTER COLUMN data SET STORAGE EXTERNAL").execute_if(
        dialect="postgresql"
    ),
)
