"""/admin in headless Chromium: launching a campaign whose audience has members
without a card in a wallet asks with the SMS count and their cost (SMS.ru's
/sms/cost, from the stand-in); after sending, the row shows the SMS sent and
their cost."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from playwright.sync_api import Dialog, Page, expect
from sqlalchemy import select

from app.extensions import db
from app.models import Campaign, Program
from app.services import campaigns, scheduler
from app.services.auth import create_key
from tests.app.campaign_support import NOW, add_member, register_device
from tests.app.test_card_link import drain
from tests.conftest import Demo
from tests.support.sms_server import API_ID, SmsRuStandIn, parts_of

pytestmark = pytest.mark.browser


@pytest.fixture
def sms() -> Iterator[SmsRuStandIn]:
    server = SmsRuStandIn()
    yield server
    server.stop()


def test_launch_asks_with_the_sms_count_and_cost(
    app: Flask, demo: Demo, base_url: str, page: Page, sms: SmsRuStandIn
) -> None:
    app.config.update(
        {"SMS_PROVIDER": "smsru", "SMS_API_URL": sms.url, "SMS_API_ID": API_ID}
    )
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        program.rules = {**program.rules, "fallback_channels": "sms"}
        register_device(add_member(program), "apple")
        campaign = campaigns.create(
            program,
            {
                "name": "Пальто",
                "texts": {"ru": "Скидка 20% на пальто"},
                "segment": {"all": {}},
                "holdout_percent": 0,
            },
            None,
        )
        key = create_key("marketer", program=program).key
        db.session.commit()
        campaign_id = campaign.id

    page.goto(f"{base_url}/admin/login")
    page.fill("#key", key)
    page.click("button[type=submit]")
    page.goto(f"{base_url}/admin/campaigns")
    row = page.locator(f"tr[data-campaign='{campaign_id}']")
    asked: list[str] = []

    def accept(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    row.locator("button[data-action=schedule]").click()
    expect(row.locator(".state")).to_have_text("запланирована")
    # The demo's three members have no card in a wallet: three SMS, priced by
    # SMS.ru's /sms/cost (the stand-in: 1,50 ₽ a part).
    (priced,) = sms.cost_requests
    cost = 1.5 * parts_of(priced["msg"]) * 3
    shown = f"{cost:.2f}".replace(".", ",")
    (question,) = asked
    assert question.startswith("Отправить «Пальто»: 4 участника? Доступны сейчас: 1.")
    assert "Без карты в кошельке — по SMS: 3 (стоимость около " in question
    assert shown in question
    assert "₽" in question
    assert question.endswith("по e-mail: 0.")

    with app.app_context():
        assert scheduler.run_due(NOW)["campaigns"] == "ok"
        assert db.session.scalar(select(Campaign)).state == "done"
    drain(app)
    assert len(sms.requests) == 3
    page.reload()
    expect(row.locator(".fallback")).to_contain_text("SMS: отправлено 3, ошибок 0")
    expect(row.locator(".fallback")).to_contain_text(shown)
