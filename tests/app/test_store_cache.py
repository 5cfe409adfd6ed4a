"""The per-process store list follows store changes, never a rolled-back one."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select

from app.extensions import db
from app.models import Pass, Store
from app.services.passes import nearest_stores, refresh_pass
from tests.conftest import Demo


def locations(pass_: Pass) -> list[tuple[float, float]]:
    return [(s.latitude, s.longitude) for s in nearest_stores(pass_.member)]


def test_moving_closing_and_rolling_back_store_changes(app: Flask, demo: Demo) -> None:
    with app.app_context():
        pass_ = db.session.scalar(
            select(Pass).where(Pass.serial_number == demo.passes[0].serial)
        )
        before = locations(pass_)  # fills the cache
        store = db.session.scalar(select(Store).where(Store.code == "msk-atrium"))
        assert (store.latitude, store.longitude) in before

        # A change that is rolled back leaves no trace, though it was seen once.
        store.latitude = 10.0
        db.session.flush()
        assert (10.0, store.longitude) in locations(pass_)
        db.session.rollback()
        pass_ = db.session.get(Pass, pass_.id)
        assert locations(pass_) == before
        assert refresh_pass(pass_) is False

        # A committed move shows, and moves the pass's tag.
        store = db.session.scalar(select(Store).where(Store.code == "msk-atrium"))
        store.latitude = 55.7600
        db.session.commit()
        pass_ = db.session.get(Pass, pass_.id)
        assert (55.7600, store.longitude) in locations(pass_)
        assert refresh_pass(pass_) is True
        db.session.commit()

        # Closing it drops it from the pass.
        store.active = False
        db.session.commit()
        pass_ = db.session.get(Pass, pass_.id)
        assert (55.7600, store.longitude) not in locations(pass_)
        assert refresh_pass(pass_) is True
