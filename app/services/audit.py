"""The audit log: who (key prefix and role) did what to which target, when."""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import insert, or_, select

from app.extensions import db
from app.models import AuditEntry


class Actor(Protocol):
    """An API key (ORM row or `services.auth.Principal`)."""

    @property
    def prefix(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def program_id(self) -> int | None: ...


def _values(
    action: str,
    target: str,
    program_id: int | None,
    key: Actor | None,
    details: dict[str, Any] | None,
) -> dict[str, Any]:
    return {
        "program_id": program_id
        if program_id is not None
        else getattr(key, "program_id", None),
        "actor": key.prefix if key is not None else "",
        "role": key.role if key is not None else "system",
        "action": action,
        "target": target,
        "details": details or {},
    }


def record(
    action: str,
    *,
    target: str = "",
    program_id: int | None = None,
    key: Actor | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add an entry (the caller commits with the change it describes). Details
    must hold no personal data (ids and amounts, not names or phones)."""
    entry = AuditEntry(**_values(action, target, program_id, key, details))
    db.session.add(entry)
    return entry


_INSERT = insert(AuditEntry)


def record_now(
    action: str,
    *,
    target: str = "",
    program_id: int | None = None,
    key: Actor | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """`record` as one INSERT right away, without an ORM object (busy paths)."""
    db.session.connection().execute(
        _INSERT, _values(action, target, program_id, key, details)
    )


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
