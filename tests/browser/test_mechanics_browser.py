"""Stamp cards and referrals on the card page, in headless Chromium: the stamps,
and a friend signing up through the share link at phone width."""

from __future__ import annotations

from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from app.extensions import db
from app.models import Member, Offer, Program, Referral
from tests.conftest import Demo


def _set_up(app: Flask, demo: Demo) -> None:
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        offer = Offer(
            program_id=program.id,
            kind="gift",
            value=0,
            min_kopecks=0,
            valid_days=30,
            title={"ru": "Кофе в подарок", "en": "A free coffee"},
        )
        db.session.add(offer)
        db.session.flush()
        program.rules = {
            **(program.rules or {}),
            "stamps": {
                "enabled": True,
                "target": 6,
                "min_amount": 0,
                "reward_offer_id": offer.id,
            },
            "referrals": {
                "enabled": True,
                "min_amount": 100000,
                "reward_points": 300,
                "reward_offer_id": None,
                "monthly_limit": 5,
            },
        }
        db.session.get(Member, demo.passes[0].member_id).stamps = 4
        db.session.commit()


def test_stamps_and_a_friend_signing_up_through_the_share_link(
    app: Flask, demo: Demo, base_url: str, page: Page
) -> None:
    _set_up(app, demo)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{base_url}/c/{demo.passes[0].card_token}?lang=ru")
    expect(page.locator(".stamp-dots")).to_have_text("●●●●○○")
    expect(page.locator("#stamps-count")).to_contain_text("4 из 6")
    expect(page.locator("#stamps-count")).to_contain_text("ещё 2 штампа до подарка")
    expect(page.locator("#share-qr svg")).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, width
    link = page.locator("#share-link").get_attribute("href")
    assert link is not None
    assert "?ref=" in link

    assert link.startswith(base_url)
    page.goto(link)
    page.fill("#name", "Ольга Друг")
    page.fill("#phone", "+7 921 555-00-11")
    page.select_option("#store", label="Невский, Невский пр-т, 48")
    page.check("#consent")
    page.click("#submit")
    expect(page.locator("#member-name")).to_have_text("Ольга Друг")
    with app.app_context():
        referral = db.session.scalar(select(Referral))
        assert referral is not None
        assert referral.referrer_id == demo.passes[0].member_id
        assert referral.status == "pending"
