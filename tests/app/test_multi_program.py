"""Several programs in one deployment: each signs with its own certificate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

import passes
from app.extensions import db
from app.models import Member, Pass, Program, Store
from tests.conftest import Demo
from tests.support.openssl import verify_pkpass

SECOND_TYPE, SECOND_TEAM = "pass.second.brand", "SECONDTM01"


@pytest.fixture
def second_program(
    app: Flask, demo: Demo, tmp_path: Path
) -> tuple[str, dict[str, Path]]:
    files = passes.write_dev_pki(
        passes.make_dev_pki(SECOND_TYPE, SECOND_TEAM, "Second"), tmp_path / "second"
    )
    with app.app_context():
        program = Program(
            slug="second",
            name="Вторая Марка",
            organization_name="Вторая Марка",
            description="Карта «Вторая Марка»",
            logo_text="Вторая Марка",
            pass_type_identifier=SECOND_TYPE,
            team_identifier=SECOND_TEAM,
            design={
                "background": "#ffffff",
                "foreground": "#111111",
                "label": "#555555",
                "accent": "#d0342c",
            },
            texts={},
            tiers=[{"code": "base", "name": {"ru": "Базовый", "en": "Base"}}],
            pass_cert_file=str(files["pass.pem"]),
            pass_key_file=str(files["pass.key"]),
            wwdr_cert_file=str(files["wwdr.pem"]),
        )
        db.session.add(program)
        db.session.add(
            Store(
                program=program,
                code="kzn-1",
                name="Казань",
                city="Казань",
                address="ул. Баумана, 1",
                latitude=55.79,
                longitude=49.11,
                relevant_text="Вторая Марка рядом",
            )
        )
        db.session.commit()
    return "second", files


def verify(data: bytes, ca: Path, tmp_path: Path) -> dict:
    return json.loads(verify_pkpass(data, ca, tmp_path).read("pass.json"))


def test_each_program_signs_with_its_own_certificate(
    app: Flask,
    client: FlaskClient,
    demo: Demo,
    second_program: tuple[str, dict[str, Path]],
    pki_dir: Path,
    tmp_path: Path,
) -> None:
    slug, files = second_program
    form = {
        "name": "Тимур Галиев",
        "phone": "+7 987 000-11-22",
        "city": "Казань",
        "language": "ru",
        "consent": "on",
    }
    response = client.post(f"/join/{slug}", data=form)
    assert response.status_code == 303
    card = client.get(response.headers["Location"] + "/pass.pkpass")
    assert card.status_code == 200
    pass_json = verify(card.data, files["ca.pem"], tmp_path)
    assert pass_json["passTypeIdentifier"] == SECOND_TYPE
    assert pass_json["teamIdentifier"] == SECOND_TEAM

    # The same phone in the first program is a different member with its own card.
    first = client.post(f"/join/{demo.slug}", data={**form, "city": "Москва"}).headers[
        "Location"
    ]
    assert first != response.headers["Location"]
    data = client.get(first + "/pass.pkpass").data
    assert verify(data, pki_dir / "ca.pem", tmp_path)["passTypeIdentifier"] == (
        demo.pass_type
    )

    # The web service finds the second program's pass by its own pass type.
    with app.app_context():
        serial, token = db.session.execute(
            select(Pass.serial_number, Pass.authentication_token)
            .join(Member)
            .where(Member.phone == "+79870001122", Pass.program_id != demo.program_id)
        ).one()
    latest = client.get(
        f"/wallet/v1/passes/{SECOND_TYPE}/{serial}",
        headers={"Authorization": f"ApplePass {token}"},
    )
    assert latest.status_code == 200
    wrong_type = client.get(
        f"/wallet/v1/passes/{demo.pass_type}/{serial}",
        headers={"Authorization": f"ApplePass {token}"},
    )
    assert wrong_type.status_code == 401
