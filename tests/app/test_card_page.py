"""The customer's card page: wallet buttons first, the QR only on a desktop,
empty sections hidden, purchases and points, terms and privacy links, profile
edits with «Получать предложения» (campaigns and marketing automations skip
those who switched it off), and «Скачать мои данные» readable as it is."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.extensions import db
from app.models import Campaign, Member, MemberMessage, Program
from app.services import automations, campaigns, segments
from tests.app.pos_support import card, make_key
from tests.conftest import Demo

IPHONE = {"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)"}
DESKTOP = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0"}


def _buy(app: Flask, client: FlaskClient, demo: Demo) -> None:
    key = make_key(app)
    sale = client.post(
        "/api/v1/pos/transactions",
        json={
            "code": card(app, demo.passes[0].member_id).barcode,
            "amount": "2499.90",
            "receipt_id": "A-17",
        },
        headers={"Authorization": f"Bearer {key}", "Idempotency-Key": "card-page-1"},
    )
    assert sale.status_code == 201, sale.json


def test_phone_gets_the_badge_first_and_no_qr_desktop_gets_the_qr(
    client: FlaskClient, demo: Demo
) -> None:
    token = demo.passes[0].card_token
    phone = client.get(f"/c/{token}", headers=IPHONE).text
    assert 'id="add-to-apple-wallet"' in phone
    assert 'class="badge apple-badge"' in phone
    assert "Откройте эту страницу на телефоне" not in phone
    assert 'class="qr"' not in phone
    desktop = client.get(f"/c/{token}", headers=DESKTOP).text
    assert 'class="qr"' in desktop
    assert desktop.index('id="add-to-apple-wallet"') < desktop.index('class="qr"')


def test_empty_sections_are_hidden_history_shows_purchases(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    token = demo.passes[0].card_token
    page = client.get(f"/c/{token}?lang=ru").text
    # No products, no offer: neither section shows.
    assert 'id="back-in-stock"' not in page
    assert 'class="offers"' not in page
    # The demo's welcome bonus is already in the history.
    assert 'id="history"' in page
    _buy(app, client, demo)
    page = client.get(f"/c/{token}?lang=ru").text
    history = page[page.index('id="history"') :]
    assert "покупка · 2\xa0499,90\xa0₽" in history
    assert "+74 балла" in history


def test_terms_and_privacy_pages_and_links(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    page = client.get(f"/c/{demo.passes[0].card_token}?lang=ru").text
    assert f'href="/programs/{demo.slug}/terms?lang=ru"' in page
    assert f'href="/programs/{demo.slug}/privacy?lang=ru"' in page
    # The consent version is not shown as a stray code.
    assert "2026-11" not in page[page.index('id="privacy"') :]
    join = client.get("/join?lang=ru").text
    assert f'href="/programs/{demo.slug}/terms?lang=ru"' in join
    assert "в подарок за регистрацию" in join
    terms = client.get(f"/programs/{demo.slug}/terms?lang=ru").text
    assert "Баллы начисляются за покупки" in terms
    privacy = client.get(f"/programs/{demo.slug}/privacy?lang=ru").text
    assert "только для работы программы лояльности" in privacy  # the default
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        program.texts = {**program.texts, "privacy": {"ru": "Наша политика."}}
        db.session.commit()
    privacy = client.get(f"/programs/{demo.slug}/privacy?lang=ru").text
    assert "Наша политика." in privacy
    assert client.get("/programs/nope/privacy").status_code == 404


def test_profile_edit_birthday_once_and_errors_next_to_fields(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    with app.app_context():
        member = db.session.get(Member, demo.passes[2].member_id)
        member.birthday = None
        store_id = member.program.stores[1].id
        db.session.commit()
    token = demo.passes[2].card_token
    bad = client.post(
        f"/c/{token}/profile?lang=ru",
        data={"name": " ", "email": "nope", "birthday": "3000-01-01"},
    )
    assert bad.status_code == 422
    assert 'id="profile-name-error"' in bad.text
    assert 'id="profile-email-error"' in bad.text
    assert 'id="profile-birthday-error"' in bad.text
    for store in ("²", "9" * 40):  # Unicode digits, a number past any id
        odd = client.post(
            f"/c/{token}/profile?lang=ru", data={"name": "Ольга", "store": store}
        )
        assert odd.status_code == 422, store
    saved = client.post(
        f"/c/{token}/profile?lang=ru",
        data={
            "name": "Ольга  Новая",
            "email": "olga@example.com",
            "birthday": "1990-05-17",
            "store": str(store_id),
            "marketing": "on",
        },
    )
    assert saved.status_code == 303
    assert saved.headers["Location"].endswith("saved=1#profile")
    with app.app_context():
        member = db.session.get(Member, demo.passes[2].member_id)
        assert member.name == "Ольга Новая"
        assert member.email == "olga@example.com"
        assert member.birthday == date(1990, 5, 17)
        assert member.preferred_store_id == store_id
        assert member.marketing_off_at is None
    # The birthday is set once: a later form cannot move it.
    client.post(
        f"/c/{token}/profile",
        data={"name": "Ольга", "birthday": "1991-01-01", "marketing": "on"},
    )
    with app.app_context():
        assert db.session.get(Member, demo.passes[2].member_id).birthday == date(
            1990, 5, 17
        )
    page = client.get(f"/c/{token}?lang=ru").text
    assert 'id="p-birthday"' not in page
    assert 'id="p-birthday-set"' in page


def test_offers_off_skips_campaigns_and_marketing_automations(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    anna = demo.passes[0]
    client.post(f"/c/{anna.card_token}/profile", data={"name": "Анна Смирнова"})
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # not quiet in Moscow
    with app.app_context():
        member = db.session.get(Member, anna.member_id)
        assert member.marketing_off_at is not None
        program = db.session.get(Program, demo.program_id)
        assert segments.counts(program, {"all": {}}, now)["members"] == 2
        campaign = campaigns.create(
            program, {"texts": {"ru": "Скидка"}, "segment": {"all": {}}}, None
        )
        campaigns.schedule(campaign, None)
        db.session.commit()
        campaigns.run_campaign(campaign.id, now)
        got = set(
            db.session.scalars(
                select(MemberMessage.member_id).where(
                    MemberMessage.campaign_id == campaign.id
                )
            )
        )
        assert anna.member_id not in got
        assert len(got) == 2
        assert db.session.get(Campaign, campaign.id).targeted == 2
        # Birthday (a marketing automation) skips her too.
        member.birthday = date(1990, 11, 25)
        db.session.commit()
        query = automations._members(program, marketing=True)
        assert anna.member_id not in set(db.session.scalars(query))
        assert anna.member_id in set(db.session.scalars(automations._members(program)))
    page = client.get(f"/c/{anna.card_token}").text
    assert 'id="p-marketing" name="marketing" checked' not in page
    # Switched on again.
    client.post(
        f"/c/{anna.card_token}/profile", data={"name": "Анна", "marketing": "on"}
    )
    with app.app_context():
        assert db.session.get(Member, anna.member_id).marketing_off_at is None


def test_download_my_data_is_readable_utf8_with_history(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    _buy(app, client, demo)
    response = client.get(f"/c/{demo.passes[0].card_token}/data.json")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    raw = response.get_data(as_text=True)
    assert "\\u04" not in raw
    assert "Анна Смирнова" in raw
    assert '\n  "name": "Анна Смирнова",' in raw  # indented
    data = json.loads(raw)
    [purchase] = data["purchases"]
    assert purchase["amount"] == "2499.90"
    assert purchase["receipt_id"] == "A-17"
    assert purchase["store"] == "ТЦ «Атриум»"
    assert [e["kind"] for e in data["points_history"]] == ["bonus", "earn"]
    assert data["messages"] == []
    assert {c["what"] for c in data["consents"]} == {
        "personal_data",
        "marketing_messages",
    }
    assert data["consents"][1]["given"] is True


def test_the_program_country_is_a_setting(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    key = make_key(app, "marketer")
    auth = {"Authorization": f"Bearer {key}"}
    assert client.get("/api/v1/program", headers=auth).json["country"] == "RU"
    bad = client.patch("/api/v1/program", json={"country": "Russia"}, headers=auth)
    assert bad.status_code == 422
    assert bad.json["error"] == "invalid_country"
    done = client.patch("/api/v1/program", json={"country": "kz"}, headers=auth)
    assert done.status_code == 200, done.json
    assert done.json["country"] == "KZ"
    assert done.json["refresh"] is None  # nothing on the passes changes
    with app.app_context():
        assert db.session.get(Program, demo.program_id).country == "KZ"
