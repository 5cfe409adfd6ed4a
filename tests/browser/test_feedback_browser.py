"""Feedback in headless Chromium at phone width, in Russian: a member rates a
visit on the one-page form (the pass's link), the low score waits in the
/admin «Отзывы» queue, one click resolves it with apology points."""

from __future__ import annotations

import json

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from app.extensions import db
from app.models import Feedback, Member, Program
from tests.app.marketing_support import marketer_key
from tests.app.pos_support import card, make_key
from tests.conftest import Demo
from tests.support.english import page_english

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


def _fits(page: Page, what: str) -> None:
    page.wait_for_load_state("networkidle")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{what}: {width} px wide"


def _asked(app: Flask, demo: Demo) -> tuple[str, int]:
    """A purchase at the till that the program asks about: the rating link."""
    member = demo.passes[0].member_id
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        program.rules = {
            **(program.rules or {}),
            "feedback": {
                "enabled": True,
                "sample_percent": 100,
                "every_days": 30,
                "answer_days": 14,
            },
        }
        db.session.commit()
    till = make_key(app)
    with app.test_client() as client:
        sale = client.post(
            "/api/v1/pos/transactions",
            data=json.dumps(
                {
                    "code": card(app, member).barcode,
                    "amount": "2499.90",
                    "receipt_id": "B-1",
                }
            ),
            content_type="application/json",
            headers={
                "Authorization": f"Bearer {till}",
                "Idempotency-Key": "feedback-browser-1",
            },
        )
        assert sale.status_code == 201, sale.json
    with app.app_context():
        row = db.session.scalar(select(Feedback))
        assert row is not None
        return row.token, row.id


def test_rating_to_queue_to_resolve_at_phone_width(
    app: Flask, demo: Demo, base_url: str, page: Page
) -> None:
    token, feedback_id = _asked(app, demo)
    member = demo.passes[0].member_id
    page.set_viewport_size(PHONE)
    page.goto(f"{base_url}/f/{token}")
    expect(page.locator("#feedback-purchase")).to_contain_text("2 499,90 ₽")
    _fits(page, "/f/<token>")
    assert page_english(page.content()) == []
    page.click("label:has(#score-2)")
    page.fill("#comment", "Долго ждали на кассе")
    page.click("#feedback-submit")
    expect(page.locator("#feedback-thanks")).to_be_visible()
    _fits(page, "/f/<token> (thanks)")
    assert page_english(page.content()) == []
    with app.app_context():
        row = db.session.get(Feedback, feedback_id)
        assert (row.score, row.comment) == (2, "Долго ждали на кассе")
        before = db.session.get(Member, member).points
        # The pass no longer links to the form.
        assert db.session.get(Member, member).feedback_token is None

    key = marketer_key(app, demo.program_id)
    page.goto(f"{base_url}/admin/login")
    page.fill("#key", key)
    page.click("button[type=submit]")
    expect(page.locator("#total-members")).to_be_visible()
    page.goto(f"{base_url}/admin/feedback")
    item = page.locator(f"#fb-{feedback_id}")
    expect(item).to_contain_text("Долго ждали на кассе")
    expect(page.locator("#fb-nps")).to_have_text("-100")
    _fits(page, "/admin/feedback")
    assert page_english(page.content()) == []
    page.fill(f"#fb-points-{feedback_id}", "300")
    page.fill(f"#fb-message-{feedback_id}", "Простите за ожидание!")
    page.click(f"#fb-resolve-{feedback_id}")
    expect(page.locator("#feedback-queue-empty")).to_be_visible()
    expect(page.locator("#fb-median")).not_to_have_text("—")
    with app.app_context():
        row = db.session.get(Feedback, feedback_id)
        assert row.resolved_at is not None
        assert row.resolution == {"points": 300, "message": "Простите за ожидание!"}
        assert db.session.get(Member, member).points == before + 300
