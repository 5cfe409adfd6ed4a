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
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import joinedload

from app.errors import ApiError
from app.extensions import db
from app.models import ApiKey, Program, Store
from app.models.apikey import ROLES
from app.models.base import utcnow

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
    scheme, _, rest = key.partition("_")
    prefix, _, secret = rest.partition("_")
    api_key = None
    if scheme == KEY_SCHEME and prefix and secret and len(prefix) <= 16:
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


def touch(api_key: ApiKey) -> None:
    """Record use, at most once per LAST_USED_RESOLUTION (a conditional UPDATE)."""
    now = utcnow()
    if api_key.last_used_at is not None and now - api_key.last_used_at < (
        LAST_USED_RESOLUTION
    ):
        return
    db.session.execute(
        update(ApiKey)
        .where(
            ApiKey.id == api_key.id,
            or_(
                ApiKey.last_used_at.is_(None),
                ApiKey.last_used_at < now - LAST_USED_RESOLUTION,
            ),
        )
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )


def authenticate(authorization: str | None, roles: tuple[str, ...]) -> ApiKey:
    """The key in `Authorization: Bearer <key>`; 401 if missing/unknown, 403 if
    its role is not one of `roles` or its store is closed."""
    scheme, _, key = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise ApiError(401, "unauthorized", "An API key is required (Bearer).")
    api_key = find_key(key.strip())
    if api_key is None:
        raise ApiError(401, "unauthorized", "Unknown or revoked API key.")
    if api_key.role not in roles:
        raise ApiError(
            403, "forbidden", f"This key's role ({api_key.role}) may not do this."
        )
    if api_key.store is not None and not api_key.store.active:
        raise ApiError(403, "forbidden", "This key's store is closed.")
    touch(api_key)
    return api_key


def check_program(api_key: ApiKey, program_id: int) -> None:
    """403 unless the key may act on this program (admin keys may act on all)."""
    if api_key.program_id is not None and api_key.program_id != program_id:
        raise ApiError(403, "forbidden", "This key belongs to another program.")


def check_store(api_key: ApiKey, store_id: int) -> None:
    """403 unless the key is bound to this store (or to none)."""
    if api_key.store_id is not None and api_key.store_id != store_id:
        raise ApiError(403, "forbidden", "This key belongs to another store.")
