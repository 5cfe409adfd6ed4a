"""The pass the app serves: verifiable with openssl; clean errors when signing fails."""

from __future__ import annotations

import json
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import Demo
from tests.support.openssl import verify_pkpass


def test_served_pass_verifies_with_openssl(
    client: FlaskClient, demo: Demo, pki_dir: Path, tmp_path: Path
) -> None:
    card = demo.passes[0]
    response = client.get(f"/c/{card.card_token}/pass.pkpass")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/vnd.apple.pkpass"
    files = verify_pkpass(response.data, pki_dir / "ca.pem", tmp_path)
    pass_json = json.loads(files.read("pass.json"))
    assert pass_json["passTypeIdentifier"] == demo.pass_type
    assert pass_json["teamIdentifier"] == "TESTTEAM01"
    assert len(pass_json["locations"]) == 10
    assert pass_json["storeCard"]["headerFields"][0]["value"] == 100  # welcome bonus


def test_missing_certificate_is_a_clean_503_without_paths(
    app: Flask, client: FlaskClient, demo: Demo, tmp_path: Path
) -> None:
    app.config["PASS_CERT_FILE"] = str(tmp_path / "secret-location" / "pass.pem")
    card = demo.passes[0]
    page = client.get(f"/c/{card.card_token}/pass.pkpass")
    assert page.status_code == 503
    assert "secret-location" not in page.text
    api = client.get(
        f"/wallet/v1/passes/{demo.pass_type}/{card.serial}",
        headers={"Authorization": f"ApplePass {card.token}"},
    )
    assert api.status_code == 503
    assert api.get_json() == {
        "error": "pass_signing_unavailable",
        "message": "Passes cannot be issued right now",
    }


def test_wrong_pass_type_certificate_is_a_clean_503(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    from sqlalchemy import update

    from app.extensions import db
    from app.models import Program

    with app.app_context():
        db.session.execute(update(Program).values(team_identifier="OTHERTEAM"))
        db.session.commit()
    card = demo.passes[0]
    assert client.get(f"/c/{card.card_token}/pass.pkpass").status_code == 503
