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


def test_counts_per_offer_and_per_source_agree_with_the_api(
    csrf_app: Flask, signed: FlaskClient, demo: Demo
) -> None:
    """Known data: a campaign gives the offer to two members (one redeems it on
    a 1 000 ₽ purchase: 100 ₽ off, 900 ₽ paid), the birthday automation to one,
    a marketer by hand to one. The page shows per offer and per source what
    /api/v1/stats answers (offers.by_offer)."""
    import re
    import uuid

    from app.models import Member, MemberOffer, Program
    from app.services import campaigns, offers
    from tests.app.marketing_support import auth
    from tests.app.pos_support import card, make_key

    anna, dmitry, olga = (p.member_id for p in demo.passes)
    with csrf_app.app_context():
        program = db.session.get(Program, demo.program_id)
        offer = offers.create_offer(
            program,
            {
                "kind": "percent_off",
                "value": 10,
                "title": {"ru": "−10 %"},
                "valid_days": 30,
            },
            None,
        )
        campaign = campaigns.create(
            program,
            {
                "name": "Осень",
                "texts": {"ru": "Осенние скидки"},
                "segment": {"all": {}},
            },
            None,
        )
        db.session.flush()
        offers.issue_many(
            offer,
            [anna, dmitry],
            source=campaigns.source_key(campaign),
            source_kind="campaign",
            source_ref=str(campaign.id),
        )
        offers.issue_each(
            offer,
            {olga: "birthday:2026"},
            source_kind="automation",
            source_ref="birthday",
        )
        offers.issue_manual(db.session.get(Member, olga), {"offer_id": offer.id}, None)
        db.session.commit()
        campaign_id, offer_id = campaign.id, offer.id
        instance = db.session.scalar(
            select(MemberOffer.id).where(MemberOffer.member_id == anna)
        )
    till = make_key(csrf_app)
    bought = signed.post(
        "/api/v1/pos/transactions",
        json={
            "code": card(csrf_app, anna).barcode,
            "amount": "1000",
            "receipt_id": "R-1",
            "offer_ids": [instance],
        },
        headers={
            "Authorization": f"Bearer {till}",
            "Idempotency-Key": str(uuid.uuid4()),
        },
    )
    assert bought.status_code == 201, bought.get_json()
    assert bought.get_json()["discount"] == "100.00"

    api = signed.get(
        "/api/v1/stats", headers=auth(marketer_key(csrf_app, demo.program_id))
    ).get_json()
    (counted,) = [o for o in api["offers"] if o["offer_id"] == offer_id]
    assert {
        (s["source"]["kind"], s["source"]["ref"]): (s["issued"], s["redeemed"])
        for s in counted["by_source"]
    } == {
        ("campaign", str(campaign_id)): (2, 1),
        ("automation", "birthday"): (1, 0),
        ("manual", ""): (1, 0),
    }
    page = text(signed.get("/admin/offers"))

    def row(source: str) -> str:
        found = re.search(
            rf'<tr data-offer="{offer_id}" data-source="{source}">(.*?)</tr>',
            page,
            re.S,
        )
        assert found, source
        return re.sub(r"[ \t\n]+", " ", re.sub(r"<[^>]+>", " ", found.group(1))).strip()

    nbsp = "\u00a0"
    assert row(f"campaign:{campaign_id}") == (
        f"−10 % Кампания № {campaign_id} «Осень» 2 1 50 % 100,00{nbsp}₽ 900,00{nbsp}₽"
    )
    assert row("automation:birthday") == (
        f"−10 % Автоматизация: День рождения 1 0 0 % 0,00{nbsp}₽ 0,00{nbsp}₽"
    )
    assert row("manual:") == f"−10 % Выдано вручную 1 0 0 % 0,00{nbsp}₽ 0,00{nbsp}₽"
    # Per offer: the same rows added up.
    assert counted["issued"] == 4
    assert counted["redeemed"] == 1
    assert counted["discount"] == "100.00"
    assert counted["revenue"] == "900.00"
    offer_row = re.search(rf'<tr data-offer="{offer_id}">(.*?)</tr>', page, re.S)
    assert offer_row is not None
    assert '<td class="issued">4</td>' in offer_row.group(1)
    assert '<td class="redeemed">1</td>' in offer_row.group(1)
    assert "25 %" in offer_row.group(1)


def test_the_back_in_stock_offer_is_set_on_the_page(
    csrf_app: Flask, signed: FlaskClient, demo: Demo
) -> None:
    from app.models import Automation

    post(signed, "/admin/offers", FORM, "/admin/offers")
    with csrf_app.app_context():
        offer_id = db.session.scalar(select(Offer.id))
    saved = post(
        signed,
        "/admin/offers/back-in-stock",
        {"offer_id": str(offer_id)},
        "/admin/offers",
    )
    assert saved.status_code == 302
    page = text(signed.get("/admin/offers"))
    assert f'<option value="{offer_id}" selected>' in page
    bad = post(
        signed, "/admin/offers/back-in-stock", {"offer_id": "x"}, "/admin/offers"
    )
    assert bad.status_code == 422
    assert "Это предложение нельзя выдать" in text(bad)
    with csrf_app.app_context():
        row = db.session.scalar(
            select(Automation).where(Automation.name == "back_in_stock")
        )
        assert row.settings == {"offer_id": offer_id}
    post(signed, "/admin/offers/back-in-stock", {"offer_id": ""}, "/admin/offers")
    with csrf_app.app_context():
        row = db.session.scalar(
            select(Automation).where(Automation.name == "back_in_stock")
        )
        assert row.settings == {"offer_id": None}
