"""/admin in headless Chromium: sign in, create a campaign for a segment, schedule
it; the scheduler job and the push worker run in-process and the APNs stand-in
receives a push for every registered device; the progress bar reaches done."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from playwright.sync_api import Browser, Dialog, Page, expect
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

MOSCOW = ZoneInfo("Europe/Moscow")


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
    # Launching asks first, with the audience and how many can be reached.
    asked: list[str] = []

    def accept(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    row.locator("button[data-action=schedule]").click()
    expect(page.locator("tr[data-campaign] .state")).to_have_text("запланирована")
    assert asked == ["Отправить «Пальто»: 3 участника? Доступны сейчас: 3."]

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
    expect(page.locator("#audit")).to_contain_text("рассылка запланирована")


def test_start_is_typed_in_the_programs_time_zone_and_nobody_reachable_warns(
    app: Flask, demo: Demo, base_url: str, browser: Browser
) -> None:
    """The browser is in New York; the program in Moscow: 11:00 typed is 11:00
    Moscow (08:00 UTC). Launching a campaign nobody can receive warns first."""
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        key = create_key("marketer", program=program).key
        db.session.commit()
    context = browser.new_context(locale="ru-RU", timezone_id="America/New_York")
    page = context.new_page()
    page.goto(f"{base_url}/admin/login")
    page.fill("#key", key)
    page.click("button[type=submit]")
    expect(page.locator("#program-name")).to_have_text("Программа: Северная Мода")

    day = (datetime.now(MOSCOW) + timedelta(days=3)).date()
    page.goto(f"{base_url}/admin/campaigns")
    expect(page.locator("#c-start-zone")).to_have_text("Время программы (МСК).")
    page.fill("#c-name", "Утро")
    page.fill("#c-ru", "Доброе утро")
    page.fill("#c-start", f"{day.isoformat()}T11:00")
    page.click("#create")
    row = page.locator("tr[data-campaign]")
    expect(row).to_have_count(1)
    expect(row.locator(".start")).to_contain_text("11:00 МСК")
    with app.app_context():
        campaign = db.session.scalar(select(Campaign))
        start = campaign.start_at.replace(tzinfo=campaign.start_at.tzinfo or UTC)
        assert start == datetime.combine(day, time(8), UTC)

    # The demo's members have no card in a wallet: the question warns.
    asked: list[str] = []

    def dismiss(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    # The question waits for the SMS estimate first: wait for it to be asked.
    with page.expect_event("dialog"):
        row.locator("button[data-action=schedule]").click()
    expect(row.locator(".state")).to_have_text("черновик")
    assert len(asked) == 1
    assert asked[0].startswith("Сейчас никому из аудитории (3 участника)")
    with app.app_context():
        assert db.session.scalar(select(Campaign)).state == "draft"
    context.close()


def test_the_campaign_form_previews_the_pass_with_its_text_and_offer(
    app: Flask, demo: Demo, base_url: str, page: Page
) -> None:
    from app.services import offers

    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        offer = offers.create_offer(
            program,
            {
                "kind": "percent_off",
                "value": 15,
                "title": {"ru": "−15 % на всё", "en": "15 % off"},
                "terms": {"ru": "Кроме акционных товаров"},
                "valid_days": 7,
            },
            None,
        )
        key = create_key("marketer", program=program).key
        db.session.commit()
        offer_id = offer.id
    page.goto(f"{base_url}/admin/login")
    page.fill("#key", key)
    page.click("button[type=submit]")
    page.goto(f"{base_url}/admin/campaigns")
    pass_box = page.locator("#cp-pass")
    # Before any text: the card as it is, the placeholder in the message field.
    expect(pass_box.locator("[data-key=offer] .pass-value")).to_have_text(
        "Здесь появятся ваши предложения"
    )
    expect(page.locator("#cp-notification")).to_be_hidden()
    page.fill("#c-ru", "Скидки выходного дня")
    expect(pass_box.locator("[data-key=offer] .pass-value")).to_contain_text(
        "Скидки выходного дня · "
    )
    expect(page.locator("#cp-notification")).to_contain_text(
        "Экран блокировки: Скидки выходного дня"
    )
    expect(pass_box.locator("[data-key=offers]")).to_have_count(0)
    expect(page.locator("#cp-back-box")).to_be_hidden()
    page.select_option("#c-offer", str(offer_id))
    expect(pass_box.locator("[data-key=offers] .pass-value")).to_have_text(
        "−15 % на всё"
    )
    expect(page.locator("#cp-back")).to_contain_text("Кроме акционных товаров")
    expect(page.locator("#cp-back")).to_contain_text("Действует до")
    expect(page.locator("#cp-notification")).to_contain_text("−15 % на всё")
    # The campaign created from the form carries the offer.
    page.click("#create")
    expect(page.locator("tr[data-campaign]")).to_have_count(1)
    with app.app_context():
        assert db.session.scalar(select(Campaign.offer_id)) == offer_id
