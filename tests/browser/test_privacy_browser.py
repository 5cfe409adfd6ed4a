"""Download my data and erase me, from the card page in headless Chromium."""

from __future__ import annotations

import json

from flask import Flask
from playwright.sync_api import Page, expect

from tests.conftest import Demo


def test_download_then_erase_from_the_card_page(
    app: Flask, demo: Demo, base_url: str, page: Page
) -> None:
    card = demo.passes[0]
    page.goto(f"{base_url}/c/{card.card_token}")
    with page.expect_download() as download_info:
        page.click("#download-data")
    data = json.loads(download_info.value.path().read_text())
    assert data["name"] == "Анна Смирнова"

    page.click("#erase-submit")  # without ticking the box
    expect(page.locator("#erase-error")).to_contain_text("Отметьте галочку")
    expect(page.locator("#member-name")).to_have_text("Анна Смирнова")

    page.check("#erase-confirm")
    page.click("#erase-submit")
    expect(page.locator("#erased")).to_have_text("Данные удалены")
    response = page.goto(f"{base_url}/c/{card.card_token}")
    assert response is not None
    assert response.status == 404
