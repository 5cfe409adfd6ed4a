"""/admin stores, products and automations in headless Chromium: add and move a
store and watch its geo refresh finish; create a product and restock it, the
subscriber's phone getting the push at the APNs stand-in; turn an automation
off and on, run it and see the run listed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from app.extensions import db
from app.models import Member, MemberMessage, Product, Store
from app.services import catalog, scheduler, stores
from tests.app.campaign_support import register_device
from tests.app.marketing_support import marketer_key, never_quiet
from tests.conftest import Demo
from tests.support.apns_server import ApnsStandIn
from tests.support.push import drain, push_config, start_apns

pytestmark = pytest.mark.browser


@pytest.fixture
def apns(pki_dir: Path) -> Iterator[ApnsStandIn]:
    server = start_apns(pki_dir, "certificate")
    yield server
    server.stop()


@pytest.fixture
def problems(page: Page) -> list[str]:
    """CSP violations and failed requests seen by the page (must stay empty);
    422 is the form shown again with its message."""
    seen: list[str] = []
    page.on(
        "console",
        lambda m: seen.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page.on(
        "response",
        lambda r: (
            seen.append(f"{r.status} {r.url}")
            if r.status >= 400 and r.status != 422 and not r.url.endswith("favicon.ico")
            else None
        ),
    )
    return seen


def sign_in(page: Page, base_url: str, key: str) -> None:
    page.goto(f"{base_url}/admin/login")
    page.fill("#key", key)
    page.click("button[type=submit]")
    expect(page.locator("#total-members")).to_be_visible()


def test_add_and_move_a_store_and_watch_the_refresh(
    app: Flask,
    demo: Demo,
    base_url: str,
    page: Page,
    problems: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Batches smaller than the program: the request does the first one, the
    # worker's job the rest, and the page follows until it is done.
    monkeypatch.setattr(stores, "BATCH", 2)
    sign_in(page, base_url, marketer_key(app, demo.program_id))
    page.click("text=Магазины")
    expect(page.locator("#stores")).to_contain_text("ТЦ «Атриум»")

    page.fill("#s-code", "msk-kurskaya")
    page.fill("#s-name", "Курская")
    page.fill("#s-city", "Москва")
    page.fill("#s-address", "ул. Земляной Вал, 29")
    page.fill("#s-latitude", "55,7586")
    page.fill("#s-longitude", "north")  # a slip first: explained, nothing saved
    page.fill("#s-relevant_text", "Курская рядом: загляните")
    page.click("#add-store-submit")
    expect(page.locator("#form-error")).to_contain_text(
        "«Долгота»: число от -180 до 180."
    )
    expect(page.locator("tr[data-store=msk-kurskaya]")).to_have_count(0)
    expect(page.locator("#s-name")).to_have_value("Курская")  # kept
    page.fill("#s-longitude", "37.6613")
    page.click("#add-store-submit")

    row = page.locator("tr[data-store=msk-kurskaya]")
    expect(row).to_contain_text("Курская рядом: загляните")
    expect(row.locator(".coordinates")).to_have_text("55.758600, 37.661300")
    refresh = page.locator("#refresh")
    expect(refresh).to_have_attribute("data-status", "queued")
    expect(refresh.locator(".numbers")).to_contain_text("проверено 2 из 3")
    with app.app_context():
        assert scheduler.run_due(datetime.now(UTC))["store_refresh"] == "ok"
    expect(refresh).to_have_attribute("data-status", "done")
    expect(refresh.locator(".status")).to_have_text("готово")
    expect(refresh.locator(".numbers")).to_contain_text("проверено 3 из 3")

    # Move it to St Petersburg.
    row.locator("a.edit").click()
    page.fill("#e-latitude", "59.9311")
    page.fill("#e-longitude", "30.3609")
    page.fill("#e-relevant_text", "Теперь в Петербурге")
    page.click("#save-store")
    row = page.locator("tr[data-store=msk-kurskaya]")
    expect(row.locator(".coordinates")).to_have_text("59.931100, 30.360900")
    expect(row.locator(".relevant-text")).to_have_text("Теперь в Петербурге")
    with app.app_context():
        assert scheduler.run_due(datetime.now(UTC))["store_refresh"] == "ok"
    expect(page.locator("#refresh")).to_have_attribute("data-status", "done")
    with app.app_context():
        store = db.session.scalar(select(Store).where(Store.code == "msk-kurskaya"))
        assert (store.latitude, store.longitude) == (59.9311, 30.3609)
    assert problems == []


def test_create_a_product_and_restock_it_to_a_phone(
    app: Flask,
    demo: Demo,
    base_url: str,
    page: Page,
    problems: list[str],
    apns: ApnsStandIn,
    pki_dir: Path,
) -> None:
    app.config.update(push_config(pki_dir, apns.url))
    never_quiet(app, demo.program_id)
    sign_in(page, base_url, marketer_key(app, demo.program_id))
    page.goto(f"{base_url}/admin/products")
    page.fill("#p-sku", "COAT-7")
    page.fill("#p-name-ru", "Пальто «Нева»")
    page.fill("#p-name-en", "Neva coat")
    page.fill("#p-sizes", "S, M, L")
    page.check("label.check:has-text('ТЦ «Атриум»') input")
    page.click("#create-product")
    expect(page.locator("#product-title")).to_contain_text("Пальто «Нева» · COAT-7")

    with app.app_context():
        product = db.session.scalar(select(Product).where(Product.sku == "COAT-7"))
        assert product.sizes == ["S", "M", "L"]
        member = db.session.get(Member, demo.passes[0].member_id)
        token = register_device(member, "apple").push_token
        catalog.subscribe(member, product, "M", None, "card")
        db.session.commit()
        card = member.card_number
    page.goto(f"{base_url}/admin/products")
    expect(page.locator("tr[data-sku=COAT-7] .waiting")).to_have_text("1")
    page.click("tr[data-sku=COAT-7] a")
    expect(page.locator("#subscriptions")).to_contain_text(card)

    page.select_option("#r-size", "M")
    page.select_option("#r-store", label="ТЦ «Атриум»")
    page.click("#restock")
    expect(page.locator(".notice")).to_contain_text("Подписок: 1, отправлено сейчас: 1")
    expect(page.locator("#subscriptions")).to_contain_text("Подписок нет.")
    drain(app)
    assert [p.token for p in apns.pushes] == [token]
    assert apns.pushes[0].status == 200
    with app.app_context():
        assert (
            db.session.scalar(
                select(MemberMessage.kind).where(MemberMessage.member_id == member.id)
            )
            == "back_in_stock"
        )
    assert problems == []


def test_turn_an_automation_off_and_on_and_see_its_last_run(
    app: Flask, demo: Demo, base_url: str, page: Page, problems: list[str]
) -> None:
    sign_in(page, base_url, marketer_key(app, demo.program_id))
    page.click("text=Автоматизации")
    birthday = page.locator("#auto-birthday")
    expect(birthday.locator(".state")).to_have_text("выключена")
    expect(birthday.locator(".runs")).to_contain_text("Запусков ещё не было.")
    birthday.locator("button.toggle").click()
    expect(birthday.locator(".state")).to_have_text("включена")
    birthday.locator("button.toggle").click()
    expect(birthday.locator(".state")).to_have_text("выключена")
    birthday.locator("button.toggle").click()
    expect(birthday.locator(".state")).to_have_text("включена")

    page.fill("#birthday-bonus_points", "-5")  # refused, explained
    birthday.locator("button.save").click()
    expect(page.locator("#form-error")).to_contain_text(
        "«Бонусные баллы»: целое число от 0 до 100000."
    )
    page.fill("#birthday-bonus_points", "250")
    birthday.locator("button.save").click()
    expect(page.locator(".notice")).to_have_text("Сохранено.")
    expect(page.locator("#birthday-bonus_points")).to_have_value("250")

    # Anna's birthday (demo): 14 March.
    page.fill("#birthday-date", "2026-03-14")
    birthday.locator("button.run").click()
    expect(page.locator(".notice")).to_contain_text(
        "«День рождения» за 14.03.2026: 1 сообщение."
    )
    last = page.locator("#auto-birthday .runs tbody tr").first
    expect(last.locator(".date")).to_have_text("14.03.2026")
    expect(last.locator(".sent")).to_have_text("1")
    expect(last).to_contain_text("вручную")
    assert problems == []
