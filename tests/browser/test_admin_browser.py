"""/admin in headless Chromium: sign in, create a campaign for a segment, schedule
it; the scheduler job and the push worker run in-process and the APNs stand-in
receives a push for every registered device; the progress bar reaches done."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from app.extensions import db
from app.models import Campaign, Program
from app.services import scheduler
from app.services.auth import create_key
from tests.app.campaign_support import NOW, add_member, register_device
from tests.conftest import Demo
from tests.support.apns_server import ApnsStandIn
from tests.support.push import drain, push_config, start_apns

pytestmark = pytest.mark.browser


@pytest.fixture
def apns(pki_dir: Path) -> Iterator[ApnsStandIn]:
    server = start_apns(pki_dir, "certificate")
    yield server
    server.stop()


def test_campaign_from_the_dashboard_reaches_the_apns_stand_in(
    app: Flask, demo: Demo, base_url: str, page: Page, apns: ApnsStandIn, pki_dir: Path
) -> None:
    app.config.update(push_config(pki_dir, apns.url))
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        tokens = []
        for _ in range(3):
            member = add_member(program)
            tokens.append(register_device(member, "apple").push_token)
        add_member(program)  # no device: messaged (pass field), nothing to push
        key = create_key("marketer", program=program).key
        db.session.commit()

    page.goto(f"{base_url}/admin/login")
    page.fill("#key", "wlk_wrong_key")
    page.click("button[type=submit]")
    expect(page.locator(".alert")).to_contain_text("Ключ не подошёл")
    page.fill("#key", key)
    page.click("button[type=submit]")
    expect(page.locator("#total-members")).to_have_text("7")

    page.goto(f"{base_url}/admin/campaigns")
    page.fill("#c-name", "Пальто")
    page.fill("#c-ru", "Скидка 20% на пальто")
    page.fill("#c-en", "20% off coats")
    page.fill("#segment", '{"reachable": {"platform": "apple"}}')
    page.click("#preview")
    expect(page.locator("#preview-result")).to_have_text(
        "3 участника · доступны: Apple 3, Android 0, Google 0"
    )
    page.click("#create")
    row = page.locator("tr[data-campaign]")
    expect(row).to_have_count(1)
    expect(row.locator(".state")).to_have_text("черновик")
    row.locator("button[data-action=schedule]").click()
    expect(page.locator("tr[data-campaign] .state")).to_have_text("запланирована")

    with app.app_context():
        assert scheduler.run_due(NOW)["campaigns"] == "ok"
        campaign = db.session.scalar(select(Campaign))
        assert campaign.state == "done"
        assert campaign.targeted == 3
    drain(app)
    assert sorted(p.token for p in apns.pushes) == sorted(tokens)
    assert all(p.status == 200 for p in apns.pushes)

    # The page polls: the bar fills and the numbers show the deliveries.
    row = page.locator("tr[data-campaign]")
    expect(row.locator(".state")).to_have_text("завершена")
    expect(row.locator("progress")).to_have_attribute("value", "100")
    expect(row.locator(".numbers")).to_contain_text("3/3 · доставлено 3 · с ошибкой 0")

    page.goto(f"{base_url}/admin/audit")
    expect(page.locator("#audit")).to_contain_text("campaign.schedule")
