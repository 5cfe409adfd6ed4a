"""The audit log: who (key prefix and role) did what to which target, when."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select

from app.extensions import db
from app.models import ApiKey, AuditEntry


def record(
    action: str,
    *,
    target: str = "",
    program_id: int | None = None,
    key: ApiKey | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add an entry (the caller commits with the change it describes). Details
    must hold no personal data (ids and amounts, not names or phones)."""
    entry = AuditEntry(
        program_id=program_id
        if program_id is not None
        else getattr(key, "program_id", None),
        actor=key.prefix if key is not None else "",
        role=key.role if key is not None else "system",
        action=action,
        target=target,
        details=details or {},
    )
    db.session.add(entry)
    return entry


def recent(
    program_id: int | None, limit: int = 100, *, with_global: bool = False
) -> list[AuditEntry]:
    """Newest first; program_id None = every program. `with_global` adds the
    entries of no program (an admin key's sign-ins)."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if program_id is not None:
        match = AuditEntry.program_id == program_id
        if with_global:
            match = or_(match, AuditEntry.program_id.is_(None))
        query = query.where(match)
    return list(db.session.scalars(query))
