"""Every page fits a phone: at 390 × 844 no page scrolls sideways (tables become
stacked cards). The pages are shown with data: a campaign, products, a purchase
in the till's recent list, audit entries, members found."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from app.extensions import db
from app.models import Campaign, Program
from app.services import campaigns, catalog, memberships, offers
from app.services.auth import create_key
from tests.app.pos_support import card, make_key
from tests.conftest import Demo

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
# A paid membership plan with a long name (the admin list, the till's button).
LONG_PLAN = {
    "code": "premium-club-annual",
    "name": {"ru": "Премиальный клуб «Северная Мода» на целый год", "en": "Club"},
    "price": "12990",
    "period_days": 365,
    "perks": [{"ru": "Бесплатная доставка и ранний доступ к распродажам"}],
}

ADMIN_PAGES = [
    "/admin",
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


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(
        viewport=PHONE, locale="ru-RU", is_mobile=True, has_touch=True
    )
    page = context.new_page()
    yield page
    context.close()


def too_wide(page: Page, what: str) -> list[str]:
    """The page's width when it scrolls sideways, else nothing."""
    page.wait_for_load_state("networkidle")
    width = page.evaluate("document.documentElement.scrollWidth")
    return [f"{what}: {width} px wide"] if width > PHONE["width"] else []


def seed_admin_data(app: Flask, demo: Demo) -> str:
    """A campaign, a product; returns a marketer key."""
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        campaigns.create(
            program,
            {
                "name": "Осенняя распродажа пальто и курток",
                "texts": {"ru": "Скидка 20% на пальто до воскресенья", "en": "20% off"},
                "segment": {"all": {}},
            },
            None,
        )
        catalog.create_product(
            program,
            {
                "sku": "COAT-1",
                "name": {"ru": "Пальто шерстяное длинное", "en": "Wool coat"},
                "sizes": ["S", "M", "L", "XL"],
            },
        )
        memberships.create_plan(program, LONG_PLAN, None)
        # An offer: the campaign form's preview and /admin/offers show it, per
        # source (this campaign, an automation).
        offer = offers.create_offer(
            program,
            {
                "kind": "percent_off",
                "value": 15,
                "title": {"ru": "−15 % на всю верхнюю одежду", "en": "15 % off"},
                "terms": {"ru": "Кроме товаров со скидкой и подарочных карт"},
                "valid_days": 14,
            },
            None,
        )
        db.session.flush()
        member_id = demo.passes[0].member_id
        campaign = db.session.scalar(select(Campaign))
        offers.issue_many(
            offer,
            [member_id],
            source=f"campaign:{campaign.id}",
            source_kind="campaign",
            source_ref=str(campaign.id),
        )
        offers.issue_each(
            offer,
            {member_id: "birthday:2026"},
            source_kind="automation",
            source_ref="birthday",
        )
        key = create_key("marketer", program=program).key
        db.session.commit()
        return key


@pytest.fixture
def data(app: Flask, demo: Demo) -> str:
    return seed_admin_data(app, demo)


def test_public_pages_fit_a_phone(
    app: Flask, demo: Demo, base_url: str, phone: Page
) -> None:
    wide = []
    for path in ("/join", "/lost-card", f"/c/{demo.passes[0].card_token}"):
        phone.goto(base_url + path)
        wide += too_wide(phone, path)
    assert wide == []


def test_admin_pages_fit_a_phone(
    app: Flask, data: str, base_url: str, phone: Page
) -> None:
    phone.goto(f"{base_url}/admin/login")
    wide = too_wide(phone, "/admin/login")
    phone.fill("#key", data)
    phone.click("button[type=submit]")
    expect(phone.locator("#total-members")).to_be_visible()
    for path in ADMIN_PAGES:
        phone.goto(base_url + path)
        wide += too_wide(phone, path)
    assert wide == []


def test_api_docs_fit_a_phone(app: Flask, base_url: str, phone: Page) -> None:
    errors: list[str] = []
    phone.on("pageerror", lambda error: errors.append(str(error)))
    phone.goto(f"{base_url}/api/docs")
    # Redoc (vendored) rendered the document: an operation's summary shows.
    expect(phone.get_by_text("Count a segment's members").first).to_be_attached(
        timeout=30_000
    )
    assert too_wide(phone, "/api/docs") == []
    assert errors == []


def test_till_fits_a_phone(app: Flask, demo: Demo, base_url: str, phone: Page) -> None:
    with app.app_context():
        memberships.create_plan(
            db.session.get(Program, demo.program_id), LONG_PLAN, None
        )
        db.session.commit()
    key = make_key(app)
    phone.goto(f"{base_url}/pos")
    wide = too_wide(phone, "/pos (signed out)")
    phone.fill("#key", key)
    phone.click("#signin-submit")
    expect(phone.locator("#till")).to_be_visible()
    c = card(app, demo.passes[0].member_id)
    phone.fill("#scan", c.barcode)
    phone.keyboard.press("Enter")
    expect(phone.locator("#member-name")).to_be_visible()
    phone.click("#membership-plans button")
    expect(phone.locator("#membership-confirm")).to_be_visible()
    wide += too_wide(phone, "/pos (a membership sale to confirm)")
    phone.click("#membership-no")
    phone.fill("#amount", "1499,90")
    phone.fill("#receipt", "A-2026-000017")
    phone.click("#confirm")
    expect(phone.locator(".recent tr").first).to_be_visible()
    wide += too_wide(phone, "/pos (signed in, a purchase in the recent list)")
    assert wide == []
