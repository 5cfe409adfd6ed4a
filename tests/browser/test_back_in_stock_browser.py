"""Back in stock on the card page, in headless Chromium: subscribe, unsubscribe."""

from __future__ import annotations

from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from app.extensions import db
from app.models import ProductSubscription, Program, Store
from app.services import catalog
from tests.conftest import Demo


def test_subscribe_and_unsubscribe_on_the_card_page(
    app: Flask, demo: Demo, base_url: str, page: Page
) -> None:
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        catalog.create_product(
            program,
            {
                "sku": "COAT-1",
                "name": {"ru": "Пальто «Нева»", "en": "Neva coat"},
                "sizes": ["S", "M", "L"],
            },
        )
        db.session.commit()
        atrium = db.session.scalar(select(Store).where(Store.code == "msk-atrium"))
        atrium_id = atrium.id
    problems: list[str] = []
    # The strict CSP must not block anything on the page (forms, styles).
    page.on(
        "console",
        lambda m: (
            problems.append(m.text) if "Content Security Policy" in m.text else None
        ),
    )
    failed: list[str] = []
    page.on(
        "response",
        lambda r: (
            failed.append(r.url)
            if r.status >= 400 and not r.url.endswith("favicon.ico")
            else None
        ),
    )
    page.goto(f"{base_url}/c/{demo.passes[0].card_token}")
    expect(page.locator("#no-subscriptions")).to_be_visible()
    form = page.locator("#product-COAT-1")
    form.locator("select[name=size]").select_option("M")
    form.locator("select[name=store_id]").select_option(str(atrium_id))
    page.click("#subscribe-COAT-1")

    item = page.locator("#subscriptions li")
    expect(item).to_have_count(1)
    expect(item).to_contain_text("Пальто «Нева», размер M — ТЦ «Атриум»")
    with app.app_context():
        (sub,) = db.session.scalars(select(ProductSubscription)).all()
        assert (sub.member_id, sub.size, sub.store_id, sub.status, sub.source) == (
            demo.passes[0].member_id,
            "M",
            atrium_id,
            "waiting",
            "card",
        )
        sub_id = sub.id

    page.click(f"#unsubscribe-{sub_id}")
    expect(page.locator("#no-subscriptions")).to_be_visible()
    with app.app_context():
        assert db.session.get(ProductSubscription, sub_id).status == "cancelled"
    assert problems == []
    assert failed == []
