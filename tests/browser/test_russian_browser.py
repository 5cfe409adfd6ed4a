"""Russian pages in Chromium, after their scripts ran: no English on them, and a
refused setting is explained in Russian next to its field."""

from __future__ import annotations

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from tests.browser.test_phone_width import ADMIN_PAGES, seed_admin_data
from tests.conftest import Demo
from tests.support.english import english_words

pytestmark = pytest.mark.browser


@pytest.fixture
def data(app: Flask, demo: Demo) -> str:
    return seed_admin_data(app, demo)


def sign_in(page: Page, base_url: str, key: str) -> None:
    page.goto(f"{base_url}/admin/login?lang=ru")
    page.fill("#key", key)
    page.click("button[type=submit]")
    expect(page.locator("#total-members")).to_be_visible()


def test_admin_pages_after_their_scripts_show_no_english(
    app: Flask,
    data: str,
    base_url: str,
    page: Page,
) -> None:
    sign_in(page, base_url, data)
    found = []
    for path in ADMIN_PAGES:
        page.goto(base_url + path)
        page.wait_for_load_state("networkidle")
        text = page.evaluate(
            "Array.from(document.body.querySelectorAll('*'))"
            ".filter(e => !e.closest('code, pre, textarea, script, style'))"
            ".flatMap(e => Array.from(e.childNodes))"
            ".filter(n => n.nodeType === 3).map(n => n.textContent).join('\\n')"
        )
        found += [f"{path}: {word}" for word in english_words(text)]
    page.goto(f"{base_url}/admin/segments")
    page.click("#preview")
    expect(page.locator("#preview-result")).not_to_have_text("…")
    found += [
        f"preview: {w}" for w in english_words(page.inner_text("#preview-result"))
    ]
    page.fill("#segment", "{")
    page.click("#preview")
    found += [
        f"bad JSON: {w}" for w in english_words(page.inner_text("#preview-result"))
    ]
    assert found == [], "\n".join(found)


def test_a_refused_setting_is_explained_next_to_its_field(
    app: Flask,
    data: str,
    base_url: str,
    page: Page,
) -> None:
    sign_in(page, base_url, data)
    page.goto(f"{base_url}/admin/settings")
    page.fill("#q-from", "24")
    page.click("#save")
    expect(page.locator("#settings-error")).to_have_text(
        "«Тихие часы с»: Час от 0 до 23."
    )
    expect(page.locator("#q-from + .field-error")).to_have_text("Час от 0 до 23.")
    expect(page.locator("#q-from")).to_have_attribute("aria-invalid", "true")
    page.fill("#q-from", "22")
    expect(page.locator("#settings-error")).to_be_hidden()
    expect(page.locator(".field-error")).to_have_count(0)
