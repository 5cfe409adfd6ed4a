"""The till's camera without BarcodeDetector (Safari on iPhone and iPad, Firefox):
jsQR, vendored in static/, decodes the camera's frames. The camera is a canvas
stream showing the card's QR code."""

from __future__ import annotations

import pytest
import segno
from flask import Flask
from playwright.sync_api import Browser, expect

from tests.app.pos_support import card, make_key
from tests.conftest import Demo

pytestmark = pytest.mark.browser

FAKE_CAMERA = """
delete window.BarcodeDetector;
navigator.mediaDevices.getUserMedia = async function () {
  const image = new Image();
  image.src = %s;
  await image.decode();
  const canvas = document.createElement("canvas");
  canvas.width = 480; canvas.height = 360;
  const context = canvas.getContext("2d");
  function paint() {
    context.fillStyle = "#fff";
    context.fillRect(0, 0, 480, 360);
    context.drawImage(image, 90, 30, 300, 300);
  }
  paint();
  setInterval(paint, 100);
  return canvas.captureStream(10);
};
"""


def test_camera_scans_with_jsqr_where_barcodedetector_is_missing(
    app: Flask, demo: Demo, base_url: str, browser: Browser
) -> None:
    key = make_key(app)
    c = card(app, demo.passes[0].member_id)
    qr = segno.make(c.barcode, error="m").png_data_uri(scale=6, border=4)
    context = browser.new_context(locale="ru-RU")
    context.add_init_script(FAKE_CAMERA % f'"{qr}"')
    page = context.new_page()
    page.goto(f"{base_url}/pos")
    page.fill("#key", key)
    page.click("#signin-submit")
    expect(page.locator("#till")).to_be_visible()
    assert page.evaluate("'BarcodeDetector' in window") is False
    camera = page.locator("#camera")
    expect(camera).to_be_visible()
    camera.click()
    expect(page.locator("#member-name")).to_have_text("Анна Смирнова", timeout=15_000)
    expect(page.locator("#camera-view")).to_be_hidden()
    context.close()
