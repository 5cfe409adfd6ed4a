"""/admin/memberships: plans made and changed through the form (bad input
refused in Russian, nothing saved), archived, and the stats shown."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.extensions import db
from app.models import MembershipPlan
from tests.app.marketing_support import marketer_key
from tests.app.test_admin import sign_in
from tests.app.test_admin_catalog import post, text
from tests.conftest import Demo

FORM = {
    "code": "club",
    "name_ru": "Клуб",
    "name_en": "Club",
    "price": "990,50",
    "period_days": "30",
    "earn_bonus_percent": "20",
    "perks_ru": "Бесплатная доставка\nРанний доступ к распродажам",
    "perks_en": "Free delivery\nEarly access to sales",
}


@pytest.fixture
def csrf_app(app: Flask) -> Flask:
    app.config["WTF_CSRF_ENABLED"] = True
    return app


@pytest.fixture
def signed(csrf_app: Flask, client: FlaskClient, demo: Demo) -> FlaskClient:
    sign_in(client, marketer_key(csrf_app, demo.program_id))
    return client


def plans(app: Flask) -> list[MembershipPlan]:
    with app.app_context():
        rows = list(db.session.scalars(select(MembershipPlan)))
        for row in rows:
            db.session.expunge(row)
        return rows


def test_make_change_and_archive_a_plan(
    csrf_app: Flask, signed: FlaskClient, demo: Demo
) -> None:
    page = text(signed.get("/admin/memberships"))
    assert "Платный клуб" in page
    assert "Тарифов пока нет" in page
    for bad in (
        {**FORM, "code": "Клуб"},
        {**FORM, "name_ru": ""},
        {**FORM, "price": "много"},
        {**FORM, "period_days": "²"},
        {**FORM, "earn_bonus_percent": "-1"},
    ):
        refused = post(signed, "/admin/memberships", bad, "/admin/memberships")
        assert refused.status_code == 422, bad
        assert "Проверьте поля" in text(refused)
    assert plans(csrf_app) == []
    saved = post(signed, "/admin/memberships", FORM, "/admin/memberships")
    assert saved.status_code == 302
    [plan] = plans(csrf_app)
    assert plan.price_kopecks == 99050
    assert plan.earn_bonus_percent == 20
    assert plan.perks == [
        {"ru": "Бесплатная доставка", "en": "Free delivery"},
        {"ru": "Ранний доступ к распродажам", "en": "Early access to sales"},
    ]
    page = text(signed.get("/admin/memberships"))
    assert "990,50" in page
    assert "Участников клуба сейчас" in page
    edit = text(signed.get(f"/admin/memberships?edit={plan.id}"))
    assert 'value="990.50"' in edit
    changed = post(
        signed, "/admin/memberships", {**FORM, "price": "1200"}, "/admin/memberships"
    )
    assert changed.status_code == 302
    assert plans(csrf_app)[0].price_kopecks == 120000
    archived = post(
        signed,
        f"/admin/memberships/{plan.id}/archive",
        {},
        "/admin/memberships",
    )
    assert archived.status_code == 302
    assert plans(csrf_app)[0].archived_at is not None
    assert "не продаётся" in text(signed.get("/admin/memberships"))
