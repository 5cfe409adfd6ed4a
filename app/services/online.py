"""The web shop channel: keys with role `shop` have no store; their purchases
belong to the program's hidden `online` store (closed, so no pass, sign-up form
or store list shows it), so that purchases, refunds and Idempotency-Keys work
exactly as at a till, and are recorded with channel `online`."""

from __future__ import annotations

from typing import Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import Store

ONLINE_CODE = "online"
STORE, ONLINE = "store", "online"


class Key(Protocol):
    @property
    def role(self) -> str: ...
    @property
    def program_id(self) -> int | None: ...
    @property
    def store_id(self) -> int | None: ...


def channel(key: Key) -> str:
    return ONLINE if key.role == "shop" else STORE


def online_store_id(program_id: int) -> int:
    """The program's `online` store, made on first use."""
    found = db.session.scalar(
        select(Store.id).where(
            Store.program_id == program_id, Store.code == ONLINE_CODE
        )
    )
    if found is not None:
        return found
    store = Store(
        program_id=program_id,
        code=ONLINE_CODE,
        name="Online",
        city="",
        address="",
        latitude=0.0,
        longitude=0.0,
        relevant_text="",
        active=False,
    )
    try:
        with db.session.begin_nested():
            db.session.add(store)
            db.session.flush()
    except IntegrityError:  # made by a concurrent request a moment ago
        return online_store_id(program_id)
    return store.id


def store_id_for(key: Key) -> int:
    """The key's store, or for a `shop` key its program's online store."""
    if key.store_id is not None:
        return key.store_id
    assert key.program_id is not None
    return online_store_id(key.program_id)
