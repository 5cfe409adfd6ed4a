"""No English on Russian pages: every page rendered in Russian, with data (a
campaign in each state, purchases and refunds in the ledger, a product with a
waiting customer, audit entries), its visible text, the attributes people read
and the JSON texts handed to its scripts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.extensions import db
from app.models import Campaign, Member, Program, Store
from app.services import campaigns, catalog, offers
from app.services.auth import create_key
from tests.app.pos_support import card, make_key
from tests.conftest import Demo
from tests.support.english import english_words, page_english

ADMIN_PAGES = [
    "/admin/",
    "/admin/segments",
    "/admin/campaigns",
    "/admin/stores",
    "/admin/products",
    "/admin/products/COAT-1",
    "/admin/automations",
    "/admin/members?q=Анна",
    "/admin/settings",
    "/admin/memberships",
    "/admin/audit",
    "/admin/feedback",
    "/admin/offers",
]


def test_the_checker_finds_english() -> None:
    assert english_words("sent 0 · failed 0") == ["sent", "failed"]
    assert english_words("Карта: tag 8") == ["tag"]
    assert english_words("silver · 100 pts") == ["silver", "pts"]
    assert english_words("Добавить в Apple Wallet, QR, SMS, msk-atrium") == []
    assert english_words("{members} участника") == []
    assert page_english(
        '<p title="Save it">Карта</p><script type="application/json">'
        '{"lang": "ru", "texts": {"a": "max {n}"}}</script>'
    ) == ["'Save' in 'Save it'", "'max' in 'max {n}'"]


@pytest.fixture
def data(app: Flask, client: FlaskClient, demo: Demo) -> str:
    """Campaigns in several states, a purchase and a refund, a product with a
    waiting customer; returns a marketer key."""
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        body = {"texts": {"ru": "Скидка 20% на пальто"}, "segment": {"all": {}}}
        draft = campaigns.create(program, {**body, "name": "Черновик"}, None)
        scheduled = campaigns.create(program, {**body, "name": "Завтра"}, None)
        campaigns.schedule(scheduled, None)
        done = campaigns.create(program, {**body, "name": "Прошла"}, None)
        done.state = "done"
        done.targeted = 3
        done.finished_at = datetime.now(UTC) - timedelta(hours=1)
        assert draft.id
        product = catalog.create_product(
            program,
            {"sku": "COAT-1", "name": {"ru": "Пальто", "en": "Coat"}, "sizes": ["M"]},
        )
        store = db.session.scalar(select(Store).where(Store.program_id == program.id))
        member = db.session.get(Member, demo.passes[0].member_id)
        catalog.subscribe(member, product, "M", store.id, "card")
        # An offer from a campaign, an automation and by hand (/admin/offers'
        # sources); the profile rule on (the card page's hint).
        offer = offers.create_offer(
            program,
            {
                "kind": "percent_off",
                "value": 15,
                "title": {"ru": "−15 %"},
                "valid_days": 7,
            },
            None,
        )
        db.session.flush()
        offers.issue_many(
            offer,
            [member.id],
            source=f"campaign:{done.id}",
            source_kind="campaign",
            source_ref=str(done.id),
        )
        offers.issue_each(
            offer,
            {member.id: "restock:1"},
            source_kind="automation",
            source_ref="back_in_stock",
        )
        offers.issue_manual(member, {"offer_id": offer.id}, None)
        program.rules = {**(program.rules or {}), "profile_points": 50}
        key = create_key("marketer", program=program).key
        db.session.commit()
        assert db.session.scalar(select(Campaign).where(Campaign.state == "done"))
    # A purchase and its refund: the member's ledger shows both.
    till = make_key(app)
    headers = {"Authorization": f"Bearer {till}"}
    sale = client.post(
        "/api/v1/pos/transactions",
        json={
            "code": card(app, demo.passes[0].member_id).barcode,
            "amount": "1499.90",
            "receipt_id": "A-1",
        },
        headers={**headers, "Idempotency-Key": "russian-pages-1"},
    )
    assert sale.status_code == 201, sale.json
    refund = client.post(
        f"/api/v1/pos/transactions/{sale.json['transaction_id']}/refund",
        headers=headers,
    )
    assert refund.status_code == 200, refund.json
    return key


def russian(client: FlaskClient, path: str) -> list[str]:
    response = client.get(path, headers={"Accept-Language": "ru"})
    assert response.status_code in (200, 404), (path, response.status_code)
    return [
        f"{path}: {found}" for found in page_english(response.get_data(as_text=True))
    ]


def test_public_pages_show_no_english(client: FlaskClient, demo: Demo) -> None:
    token = demo.passes[0].card_token
    found = []
    for path in ("/join", "/lost-card", f"/c/{token}", "/erased", "/nowhere"):
        found += russian(client, path)
    # The sign-up form with every error shown.
    response = client.post("/join", data={"language": "ru", "phone": "12"})
    found += [
        f"/join (errors): {f}" for f in page_english(response.get_data(as_text=True))
    ]
    assert found == [], "\n".join(found)


def test_till_shows_no_english(client: FlaskClient, demo: Demo) -> None:
    assert russian(client, "/pos") == []


def test_admin_pages_show_no_english(client: FlaskClient, data: str) -> None:
    found = russian(client, "/admin/login")
    response = client.post("/admin/login", data={"key": "wlk_wrong_key"})
    found += [
        f"login (wrong key): {f}" for f in page_english(response.get_data(as_text=True))
    ]
    assert client.post("/admin/login", data={"key": data}).status_code == 302
    for path in ADMIN_PAGES:
        found += russian(client, path)
    assert found == [], "\n".join(found)
