"""Fixtures for the push tests: APNs stand-ins and an app wired to them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask

from app import create_app
from app.extensions import db
from tests.conftest import base_config
from tests.support.apns_server import ApnsStandIn
from tests.support.push import push_config, start_apns


@pytest.fixture
def apns(pki_dir: Path) -> Iterator[ApnsStandIn]:
    server = start_apns(pki_dir, "certificate")
    yield server
    server.stop()


@pytest.fixture
def apns_token(pki_dir: Path) -> Iterator[ApnsStandIn]:
    server = start_apns(pki_dir, "token")
    yield server
    server.stop()


@pytest.fixture
def make_app(pki_dir: Path, database_url: str) -> Iterator[Callable[[dict], Flask]]:
    """Apps on the test database with extra settings; disposed afterwards."""
    made: list[Flask] = []

    def make(extra: dict) -> Flask:
        app = create_app(
            {**base_config(pki_dir), "SQLALCHEMY_DATABASE_URI": database_url, **extra}
        )
        made.append(app)
        return app

    yield make
    for app in made:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def push_app(
    pki_dir: Path, make_app: Callable[[dict], Flask], apns: ApnsStandIn
) -> Flask:
    """The app with the worker pointed at the certificate-mode stand-in."""
    return make_app(push_config(pki_dir, apns.url))
