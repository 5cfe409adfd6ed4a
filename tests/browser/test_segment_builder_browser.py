"""The /admin segment builder in headless Chromium: rules added from the list,
their fields filled, combined with and/or and not; the JSON follows and the
live count (with the channels) changes as it does."""

from __future__ import annotations

import json

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from app.extensions import db
from app.models import Program
from app.services.auth import create_key
from tests.app.campaign_support import add_member, buy, pos_key, register_device
from tests.conftest import Demo

pytestmark = pytest.mark.browser


def test_build_a_segment_and_see_the_count(
    app: Flask, demo: Demo, base_url: str, page: Page
) -> None:
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        till = pos_key(program)
        big = add_member(program, points=900)
        register_device(big, "apple")
        for days in (1, 2, 3):
            buy(big, till, days)  # 300 roubles
        small = add_member(program, points=50)
        buy(small, till, 1)
        key = create_key("marketer", program=program).key
        db.session.commit()

    page.goto(f"{base_url}/admin/login")
    page.fill("#key", key)
    page.click("button[type=submit]")
    page.goto(f"{base_url}/admin/segments")
    expect(page.locator("#builder h2")).to_have_text("Конструктор сегмента")

    page.select_option("#b-add", "spend")
    row = page.locator(".b-row").nth(0)
    row.locator("[data-field=min]").fill("200")
    result = page.locator("#preview-result")
    expect(result).to_have_text("1 участник · доступны: Apple 1, Android 0, Google 0")
    assert json.loads(page.input_value("#segment")) == {"spend": {"min": 200}}

    # Or: also those with at most 100 points (the demo members have none... or some).
    page.select_option("#b-add", "points")
    second = page.locator(".b-row").nth(1)
    second.locator("[data-field=max]").fill("100")
    page.select_option("#b-join", "or")
    expect(page.locator("#segment")).to_have_value(
        json.dumps({"or": [{"spend": {"min": 200}}, {"points": {"max": 100}}]}).replace(
            " ", ""
        )
    )
    # Not: the second rule negated, and: both.
    second.locator(".b-not").check()
    page.select_option("#b-join", "and")
    expect(page.locator("#segment")).to_have_value(
        '{"and":[{"spend":{"min":200}},{"not":{"points":{"max":100}}}]}'
    )
    expect(result).to_have_text("1 участник · доступны: Apple 1, Android 0, Google 0")
    # Removing a rule recounts.
    second.locator(".b-remove").click()
    row.locator("[data-field=min]").fill("50")
    expect(result).to_contain_text("2 участника")
    # The JSON stays editable (power users): the Count button counts it.
    page.fill("#segment", '{"rfm": "champions"}')
    page.click("#preview")
    expect(result).to_contain_text("0 участников")
