"""Sign-up as a customer would do it, in headless Chromium."""

from __future__ import annotations

import io
import json
import zipfile

from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from app.extensions import db
from app.models import Member
from tests.conftest import Demo


def test_sign_up_then_download_the_pass(
    app: Flask, demo: Demo, base_url: str, page: Page
) -> None:
    page.goto(f"{base_url}/join/{demo.slug}")
    expect(page.locator("h1")).to_have_text("Северная Мода")
    page.fill("#name", "Екатерина Волкова")
    page.fill("#phone", "+7 921 555-44-33")
    page.fill("#email", "katya@example.ru")
    page.fill("#birthday", "1994-02-28")
    page.select_option("#store", label="Невский, Невский пр-т, 48")
    page.check("#consent")
    page.click("#submit")

    expect(page.locator("#member-name")).to_have_text("Екатерина Волкова")
    expect(page.locator("#points")).to_have_text("100")  # welcome bonus
    expect(page.locator(".qr svg")).to_be_visible()

    with page.expect_download() as download_info:
        page.click("#add-to-apple-wallet")
    download = download_info.value
    data = download.path().read_bytes()
    archive = zipfile.ZipFile(io.BytesIO(data))
    pass_json = json.loads(archive.read("pass.json"))
    assert pass_json["storeCard"]["secondaryFields"][0]["value"] == "Екатерина Волкова"
    assert pass_json["webServiceURL"] == f"{base_url}/wallet"
    assert pass_json["locations"][0]["latitude"] == 59.9341  # the chosen store first


def test_bad_input_shows_messages_and_keeps_what_was_typed(
    app: Flask, demo: Demo, base_url: str, page: Page
) -> None:
    page.goto(f"{base_url}/join")
    page.fill("#name", "Иван")
    page.fill("#phone", "123")
    page.click("#submit")
    expect(page.locator("#form-errors")).to_be_visible()
    expect(page.locator("#phone-error")).to_contain_text("Укажите номер телефона")
    expect(page.locator("#location-error")).to_be_visible()
    expect(page.locator("#consent-error")).to_contain_text("Без согласия")
    expect(page.locator("#name")).to_have_value("Иван")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Member)) == 3


def test_english_form(app: Flask, demo: Demo, base_url: str, page: Page) -> None:
    page.goto(f"{base_url}/join?lang=en")
    expect(page.locator("#submit")).to_have_text("Get my card")
    page.click("#submit")
    expect(page.locator("#consent-error")).to_contain_text("without your consent")


# -- A phone that has a card (issue 14) ------------------------------------------------
def _fits_390(page: Page) -> None:
    """Nothing wider than a 390 px phone: no sideways scrolling."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, width


def test_known_phone_gets_a_link_not_the_card_at_390px(
    app: Flask, demo: Demo, base_url: str, page: Page
) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    with app.app_context():
        member = db.session.get(Member, demo.passes[0].member_id)
        assert member is not None
        name, phone, number = member.name, member.phone, member.card_number
    page.goto(f"{base_url}/join/{demo.slug}")
    _fits_390(page)
    page.fill("#name", "Кто-то Другой")
    page.fill("#phone", phone)
    page.select_option("#city", label="Москва")
    page.check("#consent")
    page.click("#submit")

    expect(page.locator("#sent-to")).to_contain_text(
        f"Мы отправили ссылку на вашу карту на +7 ••• •••-{phone[-4:-2]}-{phone[-2:]}"
    )
    assert "/c/" not in page.url
    body = page.content()
    for secret in (demo.passes[0].card_token, name, number, "Баллы"):
        assert secret not in body
    assert page.locator("a[href*='/c/']").count() == 0
    _fits_390(page)


def test_lost_card_form_at_390px(
    app: Flask, demo: Demo, base_url: str, page: Page
) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{base_url}/join/{demo.slug}")
    page.click("#lost-card")
    expect(page.locator("h2")).to_have_text("Потеряли карту?")
    _fits_390(page)
    page.fill("#phone", "12")
    page.click("#lost-submit")
    expect(page.locator("#phone-error")).to_contain_text("Укажите номер телефона")
    page.fill("#phone", "+7 999 123-45-67")  # no card on this number: the same answer
    page.click("#lost-submit")
    expect(page.locator("#sent-to")).to_contain_text("+7 ••• •••-45-67")
    _fits_390(page)
