"""Download my data, and erase me."""

from __future__ import annotations

import io
import json
import zipfile

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.extensions import db
from app.models import Member, Pass
from tests.conftest import Demo


def test_download_my_data(client: FlaskClient, demo: Demo) -> None:
    p = demo.passes[0]
    client.post(
        f"/wallet/v1/devices/dev-1/registrations/{demo.pass_type}/{p.serial}",
        json={"pushToken": "ab" * 32},
        headers={"Authorization": f"ApplePass {p.token}"},
    )
    response = client.get(f"/c/{p.card_token}/data.json")
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    data = response.get_json()
    assert data["name"] == "Анна Смирнова"
    assert data["phone"] == "+79161234567"
    assert data["consent"]["version"]
    assert data["wallet_pass"]["serial_number"] == p.serial
    assert data["wallet_pass"]["devices"][0]["platform"] == "apple"
    assert "authentication_token" not in json.dumps(data)
    assert p.token not in response.text
    # Unknown token: the error envelope of the JSON interfaces, as documented.
    missing = client.get("/c/nope/data.json")
    assert missing.status_code == 404
    assert missing.get_json()["error"] == "not_found"


def test_erase_needs_confirmation_and_changes_nothing_without_it(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    p = demo.passes[0]
    response = client.post(f"/c/{p.card_token}/erase", data={})
    assert response.status_code == 422
    assert 'id="erase-error"' in response.text
    with app.app_context():
        member = db.session.get(Member, p.member_id)
        assert member.name == "Анна Смирнова"
        assert member.erased_at is None


def test_erase_scrubs_voids_and_retires_the_card(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    p = demo.passes[0]
    headers = {"Authorization": f"ApplePass {p.token}"}
    device_url = f"/wallet/v1/devices/dev-1/registrations/{demo.pass_type}"
    client.post(
        f"{device_url}/{p.serial}", json={"pushToken": "ab" * 32}, headers=headers
    )
    tag = client.get(device_url).get_json()["lastUpdated"]

    response = client.post(f"/c/{p.card_token}/erase", data={"confirm": "yes"})
    assert response.status_code == 303
    assert "Данные удалены" in client.get(response.headers["Location"]).text

    with app.app_context():
        member = db.session.get(Member, p.member_id)
        assert (member.name, member.email, member.birthday) == ("", None, None)
        assert member.phone.startswith("erased:")
        assert member.erased_at is not None
        assert member.card_token != p.card_token
        pass_ = db.session.scalar(select(Pass).where(Pass.member_id == member.id))
        assert pass_.voided

    # The old card link and data download are gone.
    assert client.get(f"/c/{p.card_token}").status_code == 404
    gone = client.get(f"/c/{p.card_token}/data.json")
    assert gone.status_code == 404
    assert gone.get_json() == client.get("/c/nope/data.json").get_json()
    assert client.get(f"/c/{p.card_token}/pass.pkpass").status_code == 404

    # The device learns of the change and downloads a voided pass without PII.
    changed = client.get(device_url, query_string={"passesUpdatedSince": tag})
    assert changed.get_json()["serialNumbers"] == [p.serial]
    latest = client.get(
        f"/wallet/v1/passes/{demo.pass_type}/{p.serial}", headers=headers
    )
    pass_json = json.loads(zipfile.ZipFile(io.BytesIO(latest.data)).read("pass.json"))
    assert pass_json["voided"] is True
    assert "Анна" not in json.dumps(pass_json, ensure_ascii=False)
    assert pass_json["locations"] == []

    # The same phone can join again, as a new member.
    again = client.post(
        f"/join/{demo.slug}",
        data={
            "name": "Анна Смирнова",
            "phone": "+79161234567",
            "city": "Москва",
            "language": "ru",
            "consent": "on",
        },
    )
    assert again.status_code == 303
    assert "welcome=back" not in again.headers["Location"]
