"""/admin/settings in headless Chromium: editing a colour changes the live pass
preview, bad input shows the API's message, saving queues the pass refresh the
worker's job runs (the page follows its progress), the pass served to phones
changes and the APNs stand-in gets the push; a chosen logo shows in the preview
before it is saved, and a file the server would refuse is refused in the page; a
new tier threshold re-tiers a member, which the page's progress shows."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from PIL import Image
from playwright.sync_api import Page, expect
from sqlalchemy import select

from app.extensions import db
from app.models import Pass, Program
from app.services import scheduler
from app.services.auth import create_key
from app.services.passes import refresh_pass
from passes.images import MAX_UPLOAD_BYTES
from tests.app.campaign_support import NOW, add_member, buy, register_device
from tests.conftest import Demo
from tests.support.apns_server import ApnsStandIn
from tests.support.push import drain, push_config, start_apns

pytestmark = pytest.mark.browser


@pytest.fixture
def apns(pki_dir: Path) -> Iterator[ApnsStandIn]:
    server = start_apns(pki_dir, "certificate")
    yield server
    server.stop()


BLOB = re.compile(r"^blob:")


def stored_images(app: Flask, program_id: int) -> dict:
    with app.app_context():
        return dict(db.session.get(Program, program_id).design.get("images") or {})


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (20, 120, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def gif() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (800, 300), (20, 120, 200)).save(buffer, format="GIF")
    return buffer.getvalue()


def pass_json(app: Flask, card_token: str) -> str:
    data = app.test_client().get(f"/c/{card_token}/pass.pkpass").data
    return zipfile.ZipFile(io.BytesIO(data)).read("pass.json").decode()


def test_colour_change_previews_saves_and_reaches_the_pass(
    app: Flask, demo: Demo, base_url: str, page: Page, apns: ApnsStandIn, pki_dir: Path
) -> None:
    app.config.update(push_config(pki_dir, apns.url))
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        member = add_member(program)
        token = register_device(member).push_token
        card_token = member.card_token
        key = create_key("marketer", program=program).key
        db.session.commit()
    assert '"backgroundColor":"rgb(27, 42, 65)"' in pass_json(app, card_token)

    page.goto(f"{base_url}/admin/login")
    page.fill("#key", key)
    page.click("button[type=submit]")
    page.click("text=Настройки")
    card = page.locator("#pass-preview")
    expect(card).to_have_css("background-color", "rgb(27, 42, 65)")
    expect(page.locator("#pv-logo-text")).to_have_text("Северная Мода")
    expect(page.locator("#pv-points-label")).to_have_text("Баллы")
    expect(page.locator("#pv-fields")).to_contain_text("Золото")

    # Edits show at once, before saving.
    page.fill("#c-background", "#102030")
    expect(card).to_have_css("background-color", "rgb(16, 32, 48)")
    page.fill("#f-logo_text", "СМ Клуб")
    expect(page.locator("#pv-logo-text")).to_have_text("СМ Клуб")
    # A bad value: explained in the page's language next to the field, the last
    # good preview stays.
    page.fill("#c-foreground", "white")
    expect(page.locator("#settings-error")).to_have_text(
        "«Текст»: Цвет в виде #rrggbb, например #1b2a41."
    )
    expect(page.locator("#c-foreground + .field-error")).to_be_visible()
    page.fill("#c-foreground", "#ffffff")
    expect(page.locator("#settings-error")).to_be_hidden()
    # Nothing is saved yet.
    assert '"backgroundColor":"rgb(27, 42, 65)"' in pass_json(app, card_token)

    page.click("#save")
    expect(page.locator("#save-status")).to_have_text("Сохранено.")
    expect(page.locator("#refresh")).to_be_visible()
    expect(page.locator("#refresh-numbers")).to_contain_text("идёт")

    # The worker's job refreshes the passes; the page follows its progress.
    with app.app_context():
        assert scheduler.run_due(NOW)["store_refresh"] == "ok"
    expect(page.locator("#refresh-numbers")).to_contain_text("4/4 · 4 ↻ · готово")
    expect(page.locator("#refresh-bar")).to_have_attribute("value", "100")
    text = pass_json(app, card_token)
    assert '"backgroundColor":"rgb(16, 32, 48)"' in text
    assert '"logoText":"СМ Клуб"' in text
    drain(app)
    assert [p.token for p in apns.pushes] == [token]
    assert apns.pushes[0].status == 200

    # A chosen logo shows in the preview at once, before anything is stored.
    drawn = page.locator("#pv-logo").get_attribute("src")
    assert drawn.startswith("data:image/png")
    logo = io.BytesIO()
    Image.new("RGBA", (600, 200), (200, 30, 30, 255)).save(logo, format="PNG")
    page.set_input_files(
        "#i-logo",
        files=[
            {"name": "logo.png", "mimeType": "image/png", "buffer": logo.getvalue()}
        ],
    )
    row = page.locator("[data-image=logo]")
    expect(row.locator(".image-state")).to_have_text("выбрана, не сохранена: 600×200")
    expect(row.locator(".image-thumb")).to_be_visible()
    expect(row.locator("[data-discard]")).to_be_visible()
    expect(row.locator("[data-remove]")).to_be_hidden()
    expect(page.locator("#pv-logo")).to_have_attribute("src", BLOB)
    # It stays in the preview while other fields are edited (re-rendered).
    page.fill("#f-logo_text", "СМ Клуб!")
    expect(page.locator("#pv-logo-text")).to_have_text("СМ Клуб!")
    expect(page.locator("#pv-logo")).to_have_attribute("src", BLOB)
    assert stored_images(app, demo.program_id) == {}
    # Save sends it through the server's check: stored, normalised, previewed.
    page.click("#save")
    expect(row.locator(".image-state")).to_have_text("загружен 450×150")
    expect(page.locator("#save-status")).to_have_text("Сохранено.")
    expect(row.locator("[data-remove]")).to_be_visible()
    expect(row.locator(".image-thumb")).to_be_hidden()
    expect(page.locator("#pv-logo")).to_have_attribute("src", re.compile("^data:"))
    expect(page.locator("#pv-logo")).not_to_have_attribute("src", drawn)
    assert set(stored_images(app, demo.program_id)) == {"logo"}


def test_a_chosen_image_is_checked_before_and_when_saved(
    app: Flask, demo: Demo, base_url: str, page: Page
) -> None:
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        key = create_key("marketer", program=program).key
        db.session.commit()
    page.goto(f"{base_url}/admin/login")
    page.fill("#key", key)
    page.click("button[type=submit]")
    page.goto(f"{base_url}/admin/settings?lang=en")
    strip = page.locator("[data-image=strip]")
    expect(strip.locator(".image-state")).to_have_text("drawn from the colours")
    drawn = page.locator("#pv-strip").get_attribute("src")

    # Not an image (whatever its name and type say): refused in the page.
    page.set_input_files(
        "#i-strip",
        files=[{"name": "s.png", "mimeType": "image/png", "buffer": b"junk"}],
    )
    expect(page.locator("#settings-error")).to_have_text(
        "s.png: this is not a PNG or JPEG image."
    )
    page.set_input_files(
        "#i-strip",
        files=[{"name": "s.gif", "mimeType": "image/gif", "buffer": gif()}],
    )
    expect(page.locator("#settings-error")).to_have_text(
        "s.gif: this is not a PNG or JPEG image."
    )
    # Bigger than the server takes: refused in the page too.
    page.set_input_files(
        "#i-strip",
        files=[
            {
                "name": "big.png",
                "mimeType": "image/png",
                "buffer": b"\x89PNG" + bytes(MAX_UPLOAD_BYTES),
            }
        ],
    )
    expect(page.locator("#settings-error")).to_have_text(
        "big.png: the file is larger than 4 MB."
    )
    page.set_input_files(
        "#i-strip",
        files=[{"name": "w.png", "mimeType": "image/png", "buffer": png(4100, 300)}],
    )
    expect(page.locator("#settings-error")).to_have_text(
        "w.png: the image is larger than 4096 px on a side."
    )
    expect(strip.locator(".image-state")).to_have_text("drawn from the colours")
    expect(page.locator("#pv-strip")).to_have_attribute("src", drawn)

    # An image too small for a strip previews, but the server refuses it on
    # save: its message, nothing stored, still only chosen.
    page.set_input_files(
        "#i-strip",
        files=[{"name": "t.png", "mimeType": "image/png", "buffer": png(300, 100)}],
    )
    expect(page.locator("#settings-error")).to_be_hidden()
    expect(strip.locator(".image-state")).to_have_text("chosen, not saved yet: 300×100")
    expect(page.locator("#pv-strip")).to_have_attribute("src", BLOB)
    page.click("#save")
    expect(page.locator("#settings-error")).to_contain_text(
        "Strip: The strip must be at least 750×246 px"
    )
    expect(strip.locator(".image-state")).to_have_text("chosen, not saved yet: 300×100")
    assert stored_images(app, demo.program_id) == {}
    # Discarded: back to the drawn strip.
    strip.locator("[data-discard]").click()
    expect(strip.locator(".image-state")).to_have_text("drawn from the colours")
    expect(page.locator("#pv-strip")).to_have_attribute("src", drawn)
    expect(strip.locator(".image-thumb")).to_be_hidden()

    # The rounding of earned points is saved with the other rules, and so is the
    # sign-up code (issue 14).
    page.select_option("#r-points_rounding", "nearest")
    page.check("#r-signup_otp")
    page.click("#save")
    expect(page.locator("#save-status")).to_have_text("Saved.")
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        assert program.rule("points_rounding") == "nearest"
        assert program.rule("signup_otp") is True


def test_a_new_tier_threshold_retiers_members_as_the_page_follows(
    app: Flask, demo: Demo, base_url: str, page: Page, apns: ApnsStandIn, pki_dir: Path
) -> None:
    app.config.update(push_config(pki_dir, apns.url))
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        member = add_member(program)  # silver, 20 000 roubles this year
        buyer = create_key("pos", store=program.stores[0]).api_key
        for _ in range(200):
            buy(member, buyer, days_ago=30)
        token = register_device(member).push_token
        for pass_ in db.session.scalars(
            select(Pass).where(Pass.program_id == program.id)
        ):
            refresh_pass(pass_)
        card_token = member.card_token
        key = create_key("marketer", program=program).key
        db.session.commit()
    drain(app)
    pushed = len(apns.pushes)
    assert "Серебро" in pass_json(app, card_token)

    page.goto(f"{base_url}/admin/login")
    page.fill("#key", key)
    page.click("button[type=submit]")
    page.goto(f"{base_url}/admin/settings")
    gold = page.locator("#tiers tr[data-tier]").nth(1)
    page.fill("#tiers tr[data-tier] >> nth=1 >> [data-field=min_spend]", "15000")
    expect(gold.locator("[data-field=min_spend]")).to_have_value("15000")
    page.click("#save")
    expect(page.locator("#save-status")).to_have_text("Сохранено.")
    expect(page.locator("#refresh-numbers")).to_contain_text(
        "0/4 · 0 ↻ · сменили уровень: 0 · идёт"
    )
    with app.app_context():
        assert scheduler.run_due(NOW)["store_refresh"] == "ok"
    expect(page.locator("#refresh-numbers")).to_have_text(
        "4/4 · 1 ↻ · сменили уровень: 1 · готово"
    )
    expect(page.locator("#refresh-bar")).to_have_attribute("value", "100")
    assert "Золото" in pass_json(app, card_token)
    drain(app)
    assert [p.token for p in apns.pushes[pushed:]] == [token]
