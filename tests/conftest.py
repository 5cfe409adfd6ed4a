"""Root fixtures: the app on SQLite and on a real PostgreSQL, dev certificates."""

from __future__ import annotations

import itertools
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, select, text

import passes
from app import create_app
from app.extensions import db
from app.models import Member, Pass
from tests.support.google_callbacks import CallbackSigner
from tests.support.google_server import GoogleStandIn
from tests.support.postgres import PostgresServer

BACKENDS = ("sqlite", "postgresql")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        default=",".join(BACKENDS),
        help="database backends for the app tests, comma-separated (sqlite,postgresql)",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        chosen = [b for b in metafunc.config.getoption("--db").split(",") if b]
        unknown = set(chosen) - set(BACKENDS)
        if unknown:
            raise pytest.UsageError(f"unknown --db backend(s): {sorted(unknown)}")
        metafunc.parametrize("backend", chosen, scope="session")


@pytest.fixture(scope="session")
def pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Development PKI (stand-in CA, WWDR, pass certificate, APNs key)."""
    directory = tmp_path_factory.mktemp("certs")
    pki = passes.make_dev_pki("pass.test.wallet.loyalty", "TESTTEAM01", "Wallet Test")
    passes.write_dev_pki(pki, directory)
    return directory


def base_config(pki_dir: Path) -> dict[str, object]:
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "PUBLIC_BASE_URL": "https://wallet.test",
        "PASS_TYPE_IDENTIFIER": "pass.test.wallet.loyalty",
        "TEAM_IDENTIFIER": "TESTTEAM01",
        "PASS_CERT_FILE": str(pki_dir / "pass.pem"),
        "PASS_KEY_FILE": str(pki_dir / "pass.key"),
        "WWDR_CERT_FILE": str(pki_dir / "wwdr.pem"),
        "DEV_CERTS_DIR": str(pki_dir),
        "WTF_CSRF_ENABLED": False,
        # Google Wallet off unless a test turns it on (tests/app/test_google.py).
        "GOOGLE_ISSUER_ID": None,
        "GOOGLE_SERVICE_ACCOUNT_FILE": None,
        "GOOGLE_DRY_RUN": False,
    }


def _migrate(config: dict[str, object]) -> None:
    from flask_migrate import upgrade

    app = create_app(config)
    with app.app_context():
        upgrade()
        db.engine.dispose()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def database_template(
    request: pytest.FixtureRequest,
    backend: str,
    pki_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> str:
    """A database migrated once per session; each test gets a copy of it."""
    config = base_config(pki_dir)
    if backend == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "template.sqlite3"
        _migrate({**config, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}"})
        return str(path)
    server: PostgresServer = request.getfixturevalue("postgres_server")
    admin = create_engine(server.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("CREATE DATABASE wallet_template"))
    admin.dispose()
    _migrate({**config, "SQLALCHEMY_DATABASE_URI": server.url("wallet_template")})
    return "wallet_template"


_counter = itertools.count()


@pytest.fixture
def database_url(
    request: pytest.FixtureRequest, backend: str, database_template: str, tmp_path: Path
) -> Iterator[str]:
    """A fresh, migrated database for one test."""
    if backend == "sqlite":
        path = tmp_path / "test.sqlite3"
        shutil.copyfile(database_template, path)
        yield f"sqlite:///{path}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = f"test_{next(_counter)}"
    admin = create_engine(server.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE {database_template}'))
    yield server.url(name)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def app(pki_dir: Path, database_url: str) -> Iterator[Flask]:
    app = create_app({**base_config(pki_dir), "SQLALCHEMY_DATABASE_URI": database_url})
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@dataclass(frozen=True)
class DemoPass:
    serial: str
    token: str
    card_token: str
    member_id: int


@dataclass(frozen=True)
class Demo:
    program_id: int
    slug: str
    pass_type: str
    passes: list[DemoPass]


@pytest.fixture
def demo(app: Flask) -> Demo:
    """The demo program with its stores and three members with passes, committed."""
    from app.services.demo import seed_demo

    with app.app_context():
        program = seed_demo()
        db.session.commit()
        rows = db.session.execute(
            select(
                Pass.serial_number,
                Pass.authentication_token,
                Member.card_token,
                Member.id,
            )
            .join(Member, Member.id == Pass.member_id)
            .where(Pass.program_id == program.id)
            .order_by(Pass.id)
        ).all()
        return Demo(
            program_id=program.id,
            slug=program.slug,
            pass_type=program.pass_type_identifier,
            passes=[DemoPass(*row) for row in rows],
        )


# -- Google Wallet ---------------------------------------------------------------
GOOGLE_ISSUER = "3388000000000000042"


@pytest.fixture
def google_service_account(pki_dir: Path) -> dict[str, str]:
    return json.loads((pki_dir / "google-service-account.json").read_text())


@pytest.fixture
def callback_signer() -> CallbackSigner:
    """Test root and intermediate keys that sign callbacks as Google does."""
    return CallbackSigner()


@pytest.fixture
def google_stand_in(
    google_service_account: dict[str, str], callback_signer: CallbackSigner
) -> Iterator[GoogleStandIn]:
    """The local stand-in for Google's token endpoint and Wallet API."""
    server = GoogleStandIn(google_service_account, callback_signer.root_keys())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def google_app(app: Flask, pki_dir: Path, google_stand_in: GoogleStandIn) -> Flask:
    """The app with Google Wallet configured against the stand-in."""
    from app.services import google_wallet

    app.config.update(
        GOOGLE_ISSUER_ID=GOOGLE_ISSUER,
        GOOGLE_SERVICE_ACCOUNT_FILE=str(pki_dir / "google-service-account.json"),
        GOOGLE_API_URL=google_stand_in.api_url,
        GOOGLE_TOKEN_URL=google_stand_in.token_url,
        GOOGLE_CALLBACK_KEYS_URL=google_stand_in.keys_url,
    )
    google_wallet._root_keys_cache.clear()
    return app
