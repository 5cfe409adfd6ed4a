"""API keys: issue (shown once), store hashed, authenticate bearer requests.

A key reads `wlk_<prefix>_<secret>`: the prefix finds the row, the SHA-256 of the
whole key is compared in constant time. 32 random bytes of secret make a plain
SHA-256 enough (no password hashing needed: nothing to brute-force).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, exists, or_, select, update
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value

from app import database
from app.extensions import db
from app.models import ApiKey, Program, Store, WebhookEndpoint
from app.models.apikey import ROLES
from app.models.base import utcnow
from app.services.errors import Forbidden, Unauthorized

KEY_SCHEME = "wlk"
# last_used_at is written at most this often per key, so that busy tills do not
# queue on the key's row lock.
LAST_USED_RESOLUTION = timedelta(minutes=1)
# Costs the same as a real lookup when the prefix is unknown.
_DUMMY_HASH = hashlib.sha256(b"no such key").hexdigest()


@dataclass(frozen=True)
class IssuedKey:
    key: str  # the only time the secret exists outside the client
    api_key: ApiKey


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(
    role: str,
    program: Program | None = None,
    store: Store | None = None,
    name: str = "",
) -> IssuedKey:
    """A new key; `pos` keys need a store, every role but `admin` a program."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if store is not None:
        if program is not None and store.program_id != program.id:
            raise ValueError("the store belongs to another program")
        program = store.program
    if role == "pos" and store is None:
        raise ValueError("a pos key needs a store")
    if role == "shop" and store is not None:
        raise ValueError("a shop key has no store")
    if role != "admin" and program is None:
        raise ValueError(f"a {role} key needs a program")
    prefix = secrets.token_hex(6)
    key = f"{KEY_SCHEME}_{prefix}_{secrets.token_urlsafe(32)}"
    api_key = ApiKey(
        prefix=prefix,
        key_hash=hash_key(key),
        role=role,
        name=name,
        program=program,
        store=store,
    )
    db.session.add(api_key)
    db.session.flush()
    return IssuedKey(key=key, api_key=api_key)


def find_key(key: str) -> ApiKey | None:
    """The live key matching `key`, else None (unknown, malformed or revoked)."""
    prefix = _prefix(key)
    api_key = None
    if prefix is not None:
        api_key = db.session.scalar(
            select(ApiKey)
            .where(ApiKey.prefix == prefix)
            # Every request needs them: one query instead of three.
            .options(joinedload(ApiKey.store), joinedload(ApiKey.program))
        )
    expected = api_key.key_hash if api_key is not None else _DUMMY_HASH
    if not hmac.compare_digest(expected, hash_key(key)) or api_key is None:
        return None
    return None if api_key.revoked else api_key


def _prefix(key: str) -> str | None:
    """The lookup prefix of a well-formed `wlk_<prefix>_<secret>`, else None."""
    scheme, _, rest = key.partition("_")
    prefix, _, secret = rest.partition("_")
    if scheme == KEY_SCHEME and prefix and secret and len(prefix) <= 16:
        return prefix
    return None


_TOUCH = (
    update(ApiKey)
    .where(
        ApiKey.id == bindparam("key_id"),
        or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < bindparam("before")),
    )
    .values(last_used_at=bindparam("now"))
)


def touch(key_id: int, last_used_at: datetime | None) -> None:
    """Record use, at most once per LAST_USED_RESOLUTION (a conditional UPDATE)."""
    now = utcnow()
    if last_used_at is not None and now - last_used_at < LAST_USED_RESOLUTION:
        return
    # A GET on SQLite reads in a plain transaction: the stamp goes aside.
    database.write_aside(
        _TOUCH, {"key_id": key_id, "now": now, "before": now - LAST_USED_RESOLUTION}
    )


def _bearer(authorization: str | None) -> str:
    scheme, _, key = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthorized("unauthorized", "An API key is required (Bearer).")
    return key.strip()


def _unknown() -> Unauthorized:
    return Unauthorized("unauthorized", "Unknown or revoked API key.")


def _check_access(role: str, roles: tuple[str, ...], store_active: bool | None) -> None:
    """403 if the role may not do this or the key's store is closed."""
    if role not in roles:
        raise Forbidden("forbidden", f"This key's role ({role}) may not do this.")
    if store_active is False:
        raise Forbidden("forbidden", "This key's store is closed.")


def authenticate(authorization: str | None, roles: tuple[str, ...]) -> ApiKey:
    """The key in `Authorization: Bearer <key>` as an ORM object (with its store
    and program); 401 if missing/unknown, 403 if its role is not one of `roles`
    or its store is closed."""
    api_key = find_key(_bearer(authorization))
    if api_key is None:
        raise _unknown()
    _check_access(api_key.role, roles, api_key.store.active if api_key.store else None)
    touch(api_key.id, api_key.last_used_at)
    return api_key


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated key without an ORM object: what busy endpoints need.

    `program` is a snapshot of the key's program read in the request's
    transaction: a transient `Program` that is never added to the session (read
    it; do not attach it to ORM objects, which would insert it again).
    """

    id: int
    prefix: str
    role: str
    program_id: int | None
    store_id: int | None
    program: Program | None
    # Whether the program has any webhook endpoint: a purchase skips looking up
    # the subscribed ones when it has none (most programs).
    webhooks: bool = True


_PROGRAM_COLUMNS = [
    (prop.key, prop.columns[0]) for prop in Program.__mapper__.column_attrs
]
_LOOKUP = (
    select(
        ApiKey.id,
        ApiKey.key_hash,
        ApiKey.role,
        ApiKey.revoked,
        ApiKey.last_used_at,
        ApiKey.program_id,
        ApiKey.store_id,
        Store.active,
        exists()
        .where(WebhookEndpoint.program_id == ApiKey.program_id)
        .label("webhooks"),
        *[column.label(f"program__{key}") for key, column in _PROGRAM_COLUMNS],
    )
    .outerjoin(Store, Store.id == ApiKey.store_id)
    .outerjoin(Program, Program.id == ApiKey.program_id)
    .where(ApiKey.prefix == bindparam("prefix"))
)


def _program_snapshot(row: Any) -> Program | None:
    if row.program_id is None:
        return None
    program: Program = Program.__mapper__.class_manager.new_instance()
    for key, _ in _PROGRAM_COLUMNS:
        # Loaded values, not changes: the object has nothing to flush.
        set_committed_value(program, key, getattr(row, f"program__{key}"))
    return program


def authenticate_principal(
    authorization: str | None, roles: tuple[str, ...]
) -> Principal:
    """Like `authenticate` (same checks, same answers) in one Core query, with no
    ORM objects: the key, its store's state and its program."""
    key = _bearer(authorization)
    prefix = _prefix(key)
    row = None
    if prefix is not None:
        row = db.session.connection().execute(_LOOKUP, {"prefix": prefix}).first()
    expected = row.key_hash if row is not None else _DUMMY_HASH
    # (A row is only looked up by a prefix: `prefix is None` never rejects one.)
    if (
        not hmac.compare_digest(expected, hash_key(key))
        or row is None
        or prefix is None
        or row.revoked
    ):
        raise _unknown()
    _check_access(row.role, roles, row.active if row.store_id is not None else None)
    touch(row.id, row.last_used_at)
    return Principal(
        id=row.id,
        prefix=prefix,
        role=row.role,
        program_id=row.program_id,
        store_id=row.store_id,
        program=_program_snapshot(row),
        webhooks=bool(row.webhooks),
    )


def check_program(api_key: ApiKey, program_id: int) -> None:
    """403 unless the key may act on this program (admin keys may act on all)."""
    if api_key.program_id is not None and api_key.program_id != program_id:
        raise Forbidden("forbidden", "This key belongs to another program.")


def check_store(api_key: ApiKey, store_id: int) -> None:
    """403 unless the key is bound to this store (or to none)."""
    if api_key.store_id is not None and api_key.store_id != store_id:
        raise Forbidden("forbidden", "This key belongs to another store.")
