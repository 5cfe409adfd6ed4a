"""The Save to Google Wallet button, in headless Chromium."""

from __future__ import annotations

from flask import Flask
from playwright.sync_api import Page, expect

from tests.app.test_google import serve_country
from tests.conftest import Demo
from tests.support.google_server import GoogleStandIn

SAVE_PAGE = "https://pay.google.com/gp/v/save/"


def test_button_is_hidden_without_google(
    app: Flask, demo: Demo, base_url: str, page: Page
) -> None:
    page.goto(f"{base_url}/c/{demo.passes[0].card_token}")
    expect(page.locator("#add-to-apple-wallet")).to_be_visible()
    expect(page.locator("#save-to-google-wallet")).to_have_count(0)


def test_button_inserts_the_object_and_opens_the_save_page(
    google_app: Flask,
    demo: Demo,
    google_stand_in: GoogleStandIn,
    base_url: str,
    page: Page,
) -> None:
    # No internet here: Google's Save page is answered locally.
    page.route(
        f"{SAVE_PAGE}**",
        lambda route: route.fulfill(body="<h1 id='google-save'>Google</h1>"),
    )
    serve_country(google_app, demo, "KZ")  # Google Wallet is offered there
    page.goto(f"{base_url}/c/{demo.passes[0].card_token}")
    button = page.locator("#save-to-google-wallet")
    expect(button).to_have_text("Сохранить в Google Wallet")
    button.click()
    expect(page.locator("#google-save")).to_be_visible()
    assert page.url.startswith(SAVE_PAGE)
    assert len(google_stand_in.objects) == 1


def test_google_trouble_shows_a_friendly_page(
    google_app: Flask,
    demo: Demo,
    google_stand_in: GoogleStandIn,
    base_url: str,
    page: Page,
) -> None:
    google_stand_in.fail(500, times=3)
    serve_country(google_app, demo, "KZ")
    page.goto(f"{base_url}/c/{demo.passes[0].card_token}?lang=en")
    page.click("#save-to-google-wallet")
    expect(page.locator("#google-error")).to_have_text(
        "Google Wallet is not available right now"
    )
    page.click("text=Back to my card")
    expect(page.locator("#member-name")).to_be_visible()
