"""Fixtures for the pure library: a dev PKI, a program, a member and stores."""

from __future__ import annotations

from pathlib import Path

import pytest

import passes

PASS_TYPE = "pass.test.wallet.loyalty"
TEAM = "TESTTEAM01"
SECRET = b"test-barcode-secret"


@pytest.fixture(scope="session")
def pki() -> passes.DevPKI:
    return passes.make_dev_pki(PASS_TYPE, TEAM, "Wallet Test")


@pytest.fixture(scope="session")
def pki_files(pki: passes.DevPKI, tmp_path_factory: pytest.TempPathFactory):
    return passes.write_dev_pki(pki, tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def signer(pki_files: dict[str, Path]) -> passes.Signer:
    return passes.Signer.from_pem(
        pki_files["pass.pem"].read_bytes(),
        pki_files["pass.key"].read_bytes(),
        pki_files["wwdr.pem"].read_bytes(),
    )


@pytest.fixture
def program() -> passes.Program:
    return passes.Program(
        pass_type_identifier=PASS_TYPE,
        team_identifier=TEAM,
        organization_name="Северная Мода",
        description="Карта лояльности «Северная Мода»",
        logo_text="Северная Мода",
        design=passes.Design(
            brand_name="Severnaya Moda",
            background="#1b2a41",
            foreground="#ffffff",
            label="#c9d6ea",
            accent="#e0b15c",
        ),
        web_service_url="https://wallet.test/wallet",
        terms={"ru": "1 балл = 1 ₽.\nБаллы действуют год.", "en": "1 point = 1 RUB."},
        contacts={"ru": "8 800 555-35-35", "en": "+7 800 555-35-35"},
    )


def make_member(**changes: object) -> passes.Member:
    card = "123456789015"
    values: dict[str, object] = {
        "serial_number": "a1b2c3d4e5",
        "authentication_token": "t" * 32,
        "card_number": card,
        "barcode_message": passes.barcode_payload(card, SECRET),
        "name": "Анна Смирнова",
        "language": "ru",
        "points": 1250,
        "tier": {"ru": "Золото", "en": "Gold"},
        "offer": "",
        "card_url": "https://wallet.test/c/token",
        "privacy_url": "https://wallet.test/c/token#privacy",
    }
    values.update(changes)
    return passes.Member(**values)  # type: ignore[arg-type]


@pytest.fixture
def member() -> passes.Member:
    return make_member()


def make_stores(count: int = 14) -> list[passes.Store]:
    """Stores along a line north of Moscow's centre, id 1 nearest."""
    return [
        passes.Store(
            id=i,
            name=f"Магазин {i}",
            address=f"ул. Тверская, {i}",
            city="Москва",
            latitude=55.75 + i * 0.01,
            longitude=37.61,
            relevant_text=f"«Северная Мода» рядом: магазин {i}",
        )
        for i in range(1, count + 1)
    ]


@pytest.fixture
def stores() -> list[passes.Store]:
    return passes.nearest_stores(make_stores(), 55.75, 37.61)
