"""/admin/offers: list with counts, create (bad input: the fields to check, in
the page's language, nothing saved), archive."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.extensions import db
from app.models import Offer
from tests.app.marketing_support import marketer_key
from tests.app.test_admin import sign_in
from tests.app.test_admin_catalog import post, text
from tests.conftest import Demo


@pytest.fixture
def csrf_app(app: Flask) -> Flask:
    app.config["WTF_CSRF_ENABLED"] = True
    return app


@pytest.fixture
def signed(csrf_app: Flask, client: FlaskClient, demo: Demo) -> FlaskClient:
    sign_in(client, marketer_key(csrf_app, demo.program_id))
    return client


FORM = {
    "kind": "percent_off",
    "value": "15",
    "min_amount": "1000",
    "valid_days": "7",
    "title_ru": "−15 % на всё",
    "title_en": "15 % off",
    "terms_ru": "Кроме акций",
}


def offers_count(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Offer))


def test_create_list_and_archive(
    csrf_app: Flask, signed: FlaskClient, demo: Demo
) -> None:
    page = text(signed.get("/admin/offers"))
    assert "Предложений пока нет." in page
    created = post(signed, "/admin/offers", FORM, "/admin/offers")
    assert created.status_code == 302
    page = text(signed.get("/admin/offers"))
    assert "−15 % на всё" in page
    assert "Скидка в процентах" in page
    assert "1\u00a0000,00\u00a0₽" in page
    assert "дней после выдачи: 7" in page
    with csrf_app.app_context():
        offer = db.session.scalar(select(Offer))
        assert offer.title == {"ru": "−15 % на всё", "en": "15 % off"}
        assert offer.terms == {"ru": "Кроме акций"}
        assert offer.min_kopecks == 100_000
        offer_id = offer.id
    archived = post(signed, f"/admin/offers/{offer_id}/archive", {}, "/admin/offers")
    assert archived.status_code == 302
    assert "Предложений пока нет." in text(signed.get("/admin/offers"))


def test_bad_input_names_the_fields_and_saves_nothing(
    csrf_app: Flask, signed: FlaskClient, demo: Demo
) -> None:
    bad = post(
        signed,
        "/admin/offers",
        {**FORM, "value": "150", "title_ru": ""},
        "/admin/offers",
    )
    assert bad.status_code == 422
    page = text(bad)
    assert "проверьте поля: Заголовок (по-русски), Размер" in page
    assert offers_count(csrf_app) == 0
    english = post(
        signed, "/admin/offers?lang=en", {**FORM, "kind": "nonsense"}, "/admin/offers"
    )
    assert english.status_code == 422
    assert "check these fields: Kind" in text(english)
