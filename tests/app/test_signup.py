"""The public sign-up form and the card page."""

from __future__ import annotations

import io
import zipfile

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.extensions import db
from app.models import Member, Pass, Store
from tests.conftest import Demo


def store_id(app: Flask, code: str = "msk-atrium") -> int:
    with app.app_context():
        return db.session.scalar(select(Store.id).where(Store.code == code))


def valid_form(app: Flask, **changes: str) -> dict[str, str]:
    form = {
        "name": "Мария Петрова",
        "phone": "+7 (912) 345-67-89",
        "email": "maria@example.ru",
        "birthday": "1992-05-17",
        "store": str(store_id(app)),
        "city": "",
        "language": "ru",
        "consent": "on",
    }
    form.update(changes)
    return form


def member_count(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Member))


def test_join_page_lists_stores_in_both_languages(
    client: FlaskClient, demo: Demo
) -> None:
    ru = client.get("/join", headers={"Accept-Language": "ru"})
    assert ru.status_code == 200
    assert "Получить карту" in ru.text
    assert "ТЦ «Атриум»" in ru.text
    en = client.get("/join?lang=en")
    assert "Get my card" in en.text
    assert client.get(f"/join/{demo.slug}").status_code == 200
    assert client.get("/join/no-such-program").status_code == 404


def test_sign_up_issues_a_card_and_pass(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    before = member_count(app)
    response = client.post("/join", data=valid_form(app))
    assert response.status_code == 303
    card_url = response.headers["Location"]
    assert card_url.startswith("/c/")
    assert member_count(app) == before + 1

    with app.app_context():
        member = db.session.scalar(select(Member).where(Member.phone == "+79123456789"))
        assert member.name == "Мария Петрова"
        assert member.language == "ru"
        assert member.consent_version
        assert member.tier == "silver"
        pass_ = db.session.scalar(select(Pass).where(Pass.member_id == member.id))
        assert len(pass_.authentication_token) >= 16
        assert pass_.update_tag > 0

    page = client.get(card_url)
    assert page.status_code == 200
    assert "Мария Петрова" in page.text
    assert "Добавить в Apple Wallet" in page.text
    assert "<svg" in page.text  # QR to open the page on a phone

    pkpass = client.get(card_url + "/pass.pkpass")
    assert pkpass.status_code == 200
    assert pkpass.mimetype == "application/vnd.apple.pkpass"
    names = zipfile.ZipFile(io.BytesIO(pkpass.data)).namelist()
    assert {"pass.json", "manifest.json", "signature", "icon.png"} <= set(names)


def test_same_phone_never_opens_the_existing_card(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    """Issue 14: a known phone gets its link by SMS; the page shows nothing of it."""
    first = client.post("/join", data=valid_form(app))
    card_token = first.headers["Location"].removeprefix("/c/")
    again = client.post(
        "/join", data=valid_form(app, name="Другое Имя", phone="8 912 345 67 89")
    )
    assert again.status_code == 200
    assert "Location" not in again.headers
    assert card_token not in again.text
    assert "Мария Петрова" not in again.text
    assert "Другое Имя" not in again.text
    assert "Мы отправили ссылку на вашу карту на +7 ••• •••-67-89" in again.text
    with app.app_context():
        assert (
            db.session.scalar(
                select(func.count())
                .select_from(Member)
                .where(Member.phone == "+79123456789")
            )
            == 1
        )


@pytest.mark.parametrize(
    ("changes", "field", "ru_text"),
    [
        ({"name": "  "}, "name", "Укажите имя"),
        ({"phone": "12"}, "phone", "Укажите номер телефона"),
        ({"phone": "+7 000 000-00-00"}, "phone", "Укажите номер телефона"),
        ({"email": "not-an-email"}, "email", "эл. почты выглядит неверно"),
        ({"birthday": "2999-01-01"}, "birthday", "настоящую дату"),
        ({"birthday": "31.02.1990"}, "birthday", "настоящую дату"),
        ({"store": "", "city": ""}, "location", "Выберите магазин или город"),
        ({"store": "999999", "city": ""}, "location", "Выберите магазин или город"),
        ({"store": "", "city": "Атлантида"}, "location", "Выберите магазин или город"),
        ({"language": "de"}, "language", "Выберите язык"),
        ({"consent": ""}, "consent", "Без согласия"),
    ],
)
def test_bad_input_shows_the_form_again_and_saves_nothing(
    app: Flask,
    client: FlaskClient,
    demo: Demo,
    changes: dict[str, str],
    field: str,
    ru_text: str,
) -> None:
    before = member_count(app)
    response = client.post("/join", data=valid_form(app, **changes))
    assert response.status_code == 422
    assert f'id="{field}-error"' in response.text
    assert ru_text in response.text
    assert "Мария Петрова" in response.text or field == "name"  # input kept
    assert member_count(app) == before


def test_errors_are_shown_in_english_for_english_visitors(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    response = client.post(
        "/join?lang=en", data=valid_form(app, phone="12", language="en")
    )
    assert response.status_code == 422
    assert "Enter a phone number" in response.text


def test_city_instead_of_store_is_accepted(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    response = client.post(
        "/join", data=valid_form(app, store="", city="Санкт-Петербург", language="en")
    )
    assert response.status_code == 303
    with app.app_context():
        member = db.session.scalar(select(Member).where(Member.phone == "+79123456789"))
        assert member.city == "Санкт-Петербург"
        assert member.preferred_store_id is None


def test_unknown_card_token_is_a_friendly_404(client: FlaskClient, demo: Demo) -> None:
    response = client.get("/c/not-a-real-token")
    assert response.status_code == 404
    assert "Такой страницы нет" in response.text
    assert client.get("/c/not-a-real-token/pass.pkpass").status_code == 404


def test_missing_csrf_token_shows_the_form_again(app: Flask, demo: Demo) -> None:
    app.config["WTF_CSRF_ENABLED"] = True
    client = app.test_client()
    before = member_count(app)
    response = client.post("/join", data=valid_form(app))
    assert response.status_code == 400
    assert "Страница устарела" in response.text
    assert member_count(app) == before
