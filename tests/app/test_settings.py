"""Program settings API: read, change (strictly checked: 422 changes nothing), a
change passes show refreshes every pass in the worker and pushes its devices;
uploaded images are checked, normalised, put into passes (which still verify)
and removed again; the preview shows unsaved settings; keys are scoped."""

from __future__ import annotations

import dataclasses
import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import func, select

import passes
from app.extensions import db
from app.models import (
    AuditEntry,
    Pass,
    PassRefresh,
    Program,
    ProgramImage,
    PushDelivery,
)
from app.services import loyalty, messaging, scheduler, stores
from app.services.passes import program_view
from tests.app.campaign_support import NOW, add_member, register_device
from tests.app.marketing_support import auth, marketer_key
from tests.app.pos_support import make_key, other_program
from tests.app.test_google import sign_up
from tests.conftest import GOOGLE_ISSUER, Demo
from tests.support.apns_server import ApnsStandIn
from tests.support.google_server import GoogleStandIn
from tests.support.openssl import verify_pkpass
from tests.support.push import drain


@pytest.fixture
def key(app: Flask, demo: Demo) -> str:
    return marketer_key(app, demo.program_id)


def png(size: tuple[int, int], colour: Any = (200, 30, 30, 255), kind: str = "PNG"):
    mode = "RGBA" if kind == "PNG" else "RGB"
    image = Image.new(mode, size, colour if mode == "RGBA" else colour[:3])
    buffer = io.BytesIO()
    image.save(buffer, format=kind)
    return buffer.getvalue()


def upload(client: FlaskClient, key: str, kind: str, data: bytes, name="a.png"):
    # Encoded here: the test client spools big bodies to a file it never closes.
    boundary = "settings-test-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return client.post(
        f"/api/v1/program/images/{kind}",
        data=body,
        headers={
            **auth(key),
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        },
    )


def tags(app: Flask, program_id: int) -> dict[int, int]:
    with app.app_context():
        return dict(
            db.session.execute(
                select(Pass.id, Pass.update_tag).where(Pass.program_id == program_id)
            ).all()
        )


def count(app: Flask, model: type) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def run_refresh(app: Flask) -> None:
    with app.app_context():
        assert scheduler.run_due(NOW)["store_refresh"] == "ok"


def test_get_shows_the_settings(client: FlaskClient, demo: Demo, key: str) -> None:
    body = client.get("/api/v1/program", headers=auth(key)).get_json()
    assert body["slug"] == demo.slug
    assert body["colors"] == {
        "foreground": "#ffffff",
        "background": "#1b2a41",
        "label": "#c9d6ea",
        "accent": "#e0b15c",
    }
    assert body["images"] == {"icon": None, "logo": None, "strip": None}
    assert body["rules"] == {
        "max_redeem_share": "0.3",
        "point_value": "1",
        "welcome_bonus": 100,
        "points_rounding": "down",
        "signup_otp": False,
        "gross_margin_percent": 50,
        "message_cap": None,
        "profile_points": 0,
        "fallback_channels": "none",
    }
    assert body["quiet_hours"] == {"from": 21, "until": 9}
    assert body["timezone"] == "Europe/Moscow"
    assert [t["code"] for t in body["tiers"]] == ["silver", "gold", "platinum"]
    assert body["tiers"][1] == {
        "code": "gold",
        "name": {"ru": "Золото", "en": "Gold"},
        "min_spend": 30000,
        "earn_percent": 5,
    }
    assert body["texts"]["terms"]["en"].startswith("1 point")
    assert body["warnings"] == []
    assert body["refresh"] is None


TIERS = [
    {"code": "silver", "name": {"ru": "Серебро"}, "min_spend": 0, "earn_percent": 3},
    {"code": "gold", "name": {"ru": "Золото"}, "min_spend": 30000, "earn_percent": 5},
    {
        "code": "platinum",
        "name": {"ru": "Платина"},
        "min_spend": 100000,
        "earn_percent": 7,
    },
]


BAD = [
    ([], "invalid_body"),
    ({"colour": {"background": "#000000"}}, "unknown_field"),
    ({"name": ""}, "invalid_name"),
    ({"name": "x" * 121}, "invalid_name"),
    ({"organization_name": "two\nlines"}, "invalid_organization_name"),
    ({"description": "nul\x00"}, "invalid_description"),
    ({"logo_text": 5}, "invalid_logo_text"),
    ({"colors": {"background": "red"}}, "invalid_colors"),
    ({"colors": {"background": "#12345"}}, "invalid_colors"),
    ({"colors": {"background": "#1234567"}}, "invalid_colors"),
    ({"colors": {"shadow": "#000000"}}, "invalid_colors"),
    ({"colors": "#000000"}, "invalid_colors"),
    ({"texts": {"terms": {"de": "Bedingungen"}}}, "invalid_texts"),
    ({"texts": {"terms": {"en": "English only"}}}, "invalid_texts"),
    ({"texts": {"terms": {"ru": "x" * 2001}}}, "invalid_texts"),
    ({"texts": {"footer": {"ru": "x"}}}, "invalid_texts"),
    ({"rules": {"max_redeem_share": 1.5}}, "invalid_rules"),
    ({"rules": {"max_redeem_share": "-0.1"}}, "invalid_rules"),
    ({"rules": {"max_redeem_share": "0.333"}}, "invalid_rules"),
    ({"rules": {"max_redeem_share": "NaN"}}, "invalid_rules"),
    ({"rules": {"max_redeem_share": True}}, "invalid_rules"),
    ({"rules": {"point_value": 0}}, "invalid_rules"),
    ({"rules": {"point_value": "0.005"}}, "invalid_rules"),
    ({"rules": {"welcome_bonus": -1}}, "invalid_rules"),
    ({"rules": {"welcome_bonus": 10.5}}, "invalid_rules"),
    ({"rules": {"welcome_bonus": 100_001}}, "invalid_rules"),
    ({"rules": {"earn_percent": 5}}, "invalid_rules"),
    ({"quiet_hours": {"from": 24, "until": 9}}, "invalid_quiet_hours"),
    ({"quiet_hours": {"from": 21}}, "invalid_quiet_hours"),
    ({"quiet_hours": [21, 9]}, "invalid_quiet_hours"),
    ({"timezone": "Mars/Olympus"}, "invalid_timezone"),
    ({"timezone": "../../etc/passwd"}, "invalid_timezone"),
    ({"tiers": []}, "invalid_tiers"),
    ({"tiers": [{**TIERS[0], "min_spend": 5}]}, "invalid_tiers"),
    ({"tiers": [TIERS[0], {**TIERS[1], "min_spend": 0}]}, "invalid_tiers"),
    ({"tiers": [TIERS[0], TIERS[2], TIERS[1]]}, "invalid_tiers"),
    ({"tiers": [TIERS[0], {**TIERS[1], "code": "silver"}]}, "invalid_tiers"),
    ({"tiers": [TIERS[0], {**TIERS[1], "code": "Gold Tier"}]}, "invalid_tiers"),
    ({"tiers": [TIERS[0], {**TIERS[1], "earn_percent": 101}]}, "invalid_tiers"),
    ({"tiers": [TIERS[0], {**TIERS[1], "earn_percent": 2.555}]}, "invalid_tiers"),
    ({"tiers": [TIERS[0], {**TIERS[1], "name": {"ru": ""}}]}, "invalid_tiers"),
    ({"tiers": [TIERS[0], {**TIERS[1], "min_spend": "100"}]}, "invalid_tiers"),
    ({"tiers": [{**TIERS[0], "extra": 1}]}, "invalid_tiers"),
    ({"tiers": [{"code": "silver", "name": {"ru": "С"}}]}, "invalid_tiers"),
    # Valid changes next to a bad one: none of them is made.
    ({"name": "New", "colors": {"background": "#000000"}, "timezone": "X"}, None),
]


def test_bad_input_is_422_and_changes_nothing(
    app: Flask, client: FlaskClient, demo: Demo, key: str
) -> None:
    before = client.get("/api/v1/program", headers=auth(key)).get_json()
    for body, code in BAD:
        response = client.patch("/api/v1/program", json=body, headers=auth(key))
        assert response.status_code == 422, body
        answer = response.get_json()
        assert set(answer) == {"error", "message"}
        if code is not None:
            assert answer["error"] == code, (body, answer)
        # The preview checks the same way.
        preview = client.post("/api/v1/program/preview", json=body, headers=auth(key))
        assert preview.status_code == 422, body
        assert client.get("/api/v1/program", headers=auth(key)).get_json() == before
    not_json = client.patch(
        "/api/v1/program",
        data=b"{",
        headers={**auth(key), "Content-Type": "application/json"},
    )
    assert not_json.status_code == 400
    assert client.get("/api/v1/program", headers=auth(key)).get_json() == before
    assert count(app, AuditEntry) == 0
    assert count(app, PassRefresh) == 0


def test_a_tier_members_hold_cannot_be_removed(
    app: Flask, client: FlaskClient, demo: Demo, key: str
) -> None:
    with app.app_context():
        add_member(db.session.get(Program, demo.program_id), tier="gold")
        db.session.commit()
    before = client.get("/api/v1/program", headers=auth(key)).get_json()
    response = client.patch(
        "/api/v1/program", json={"tiers": [TIERS[0], TIERS[2]]}, headers=auth(key)
    )
    assert response.status_code == 422
    assert response.get_json()["error"] == "tier_in_use"
    assert "gold" in response.get_json()["message"]
    assert client.get("/api/v1/program", headers=auth(key)).get_json() == before
    # Nobody holds platinum: it may go.
    response = client.patch(
        "/api/v1/program", json={"tiers": TIERS[:2]}, headers=auth(key)
    )
    assert response.status_code == 200
    assert [t["code"] for t in response.get_json()["tiers"]] == ["silver", "gold"]


def test_rules_time_zone_and_quiet_hours_apply_without_touching_passes(
    app: Flask, client: FlaskClient, demo: Demo, key: str
) -> None:
    before = tags(app, demo.program_id)
    response = client.patch(
        "/api/v1/program",
        json={
            "rules": {"max_redeem_share": 0.5, "point_value": "0.5"},
            "quiet_hours": {"from": 22, "until": 8},
            "timezone": "Asia/Yekaterinburg",
        },
        headers=auth(key),
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["changed"] == ["rules", "timezone"]
    assert body["refresh"] is None
    assert body["rules"] == {
        "max_redeem_share": "0.5",
        "point_value": "0.5",
        "welcome_bonus": 100,
        "points_rounding": "down",
        "signup_otp": False,
        "gross_margin_percent": 50,
        "message_cap": None,
        "profile_points": 0,
        "fallback_channels": "none",
    }
    assert body["quiet_hours"] == {"from": 22, "until": 8}
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        # What the POS and the messaging read.
        assert loyalty.max_redeem(program, 1000_00) == 1000  # 500 roubles / 0.5
        assert loyalty.earned_points(program, "silver", 1000_00) == 60  # 3% / 0.5
        assert messaging.send_window(program) == (22, 8)
        assert program.timezone == "Asia/Yekaterinburg"
    assert tags(app, demo.program_id) == before
    assert count(app, PassRefresh) == 0
    # The same change again changes nothing and records nothing more.
    again = client.patch(
        "/api/v1/program", json={"timezone": "Asia/Yekaterinburg"}, headers=auth(key)
    )
    assert again.get_json()["changed"] == []
    with app.app_context():
        actions = db.session.scalars(select(AuditEntry.action)).all()
        assert actions == ["program.settings"]
        entry = db.session.scalar(select(AuditEntry))
        assert entry.details["changed"] == ["rules", "timezone"]


def test_a_colour_change_refreshes_every_pass_in_the_worker_and_pushes(
    app: Flask,
    client: FlaskClient,
    demo: Demo,
    key: str,
    push_app: Flask,
    apns: ApnsStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        members = [add_member(program) for _ in range(4)]
        tokens = [register_device(m).push_token for m in members]
        db.session.commit()
    before = tags(app, demo.program_id)
    assert len(before) == 7
    monkeypatch.setattr(stores, "BATCH", 2)

    response = client.patch(
        "/api/v1/program",
        json={"colors": {"background": "#102030", "label": "#A0B0C0"}},
        headers=auth(key),
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["changed"] == ["design"]
    assert body["colors"]["label"] == "#a0b0c0"
    refresh = body["refresh"]
    assert refresh["status"] == "queued"
    assert (refresh["total"], refresh["processed"]) == (7, 0)
    # Nothing is rebuilt or pushed in the request.
    assert tags(app, demo.program_id) == before
    assert count(app, PushDelivery) == 0

    run_refresh(app)
    progress = client.get(
        f"/api/v1/program/refreshes/{refresh['id']}", headers=auth(key)
    ).get_json()
    assert progress == {**refresh, "status": "done", "processed": 7, "refreshed": 7}
    after = tags(app, demo.program_id)
    assert all(after[p] > before[p] for p in before)
    drain(push_app)
    assert sorted(p.token for p in apns.pushes) == sorted(tokens)
    assert all(p.status == 200 for p in apns.pushes)

    # The pass carries the new colours.
    data = client.get(f"/c/{demo.passes[0].card_token}/pass.pkpass").data
    pass_json = zipfile.ZipFile(io.BytesIO(data)).read("pass.json").decode()
    assert '"backgroundColor":"rgb(16, 32, 48)"' in pass_json
    assert '"labelColor":"rgb(160, 176, 192)"' in pass_json
    with app.app_context():
        entry = db.session.scalar(select(AuditEntry))
        assert entry.action == "program.settings"
        assert entry.details == {"changed": ["design"], "refresh_id": refresh["id"]}
    # GET shows the latest refresh.
    shown = client.get("/api/v1/program", headers=auth(key)).get_json()["refresh"]
    assert shown["id"] == refresh["id"]


def test_tier_names_and_texts_reach_the_passes(
    app: Flask, client: FlaskClient, demo: Demo, key: str
) -> None:
    renamed = [dict(TIERS[0], name={"ru": "Бронза", "en": "Bronze"}), *TIERS[1:]]
    response = client.patch(
        "/api/v1/program",
        json={"tiers": renamed, "logo_text": "СМ", "texts": {"contacts": {}}},
        headers=auth(key),
    )
    body = response.get_json()
    assert body["changed"] == ["logo_text", "texts", "tiers"]
    assert body["texts"]["contacts"] == {}
    assert body["refresh"]["status"] == "queued"
    run_refresh(app)
    data = client.get(f"/c/{demo.passes[0].card_token}/pass.pkpass").data
    archive = zipfile.ZipFile(io.BytesIO(data))
    pass_json = archive.read("pass.json").decode()
    assert '"logoText":"СМ"' in pass_json
    assert "Бронза" in pass_json
    assert '"key":"contacts"' not in pass_json
    assert '"Бронза" = "Bronze";' in archive.read("en.lproj/pass.strings").decode()


def test_a_settings_change_takes_over_a_queued_store_refresh(
    app: Flask, client: FlaskClient, demo: Demo, key: str
) -> None:
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        store_refresh = stores.queue_refresh(program, stores.snapshot(program))
        db.session.commit()
        store_refresh_id = store_refresh.id
    before = tags(app, demo.program_id)
    body = client.patch(
        "/api/v1/program",
        json={"texts": {"terms": {"ru": "Новые\r\nусловия", "en": "New terms"}}},
        headers=auth(key),
    ).get_json()
    assert body["texts"]["terms"]["ru"] == "Новые\nусловия"
    # The one not started yet is superseded; the new one re-hashes every pass.
    with app.app_context():
        assert db.session.get(PassRefresh, store_refresh_id).status == "superseded"
        assert db.session.get(PassRefresh, body["refresh"]["id"]).stores_before is None
    run_refresh(app)
    after = tags(app, demo.program_id)
    assert all(after[p] > before[p] for p in before)
    superseded = client.get(
        f"/api/v1/program/refreshes/{store_refresh_id}", headers=auth(key)
    ).get_json()
    assert superseded["status"] == "superseded"
    missing = client.get("/api/v1/program/refreshes/999", headers=auth(key))
    assert missing.status_code == 404


def test_preview_shows_unsaved_settings_and_saves_nothing(
    app: Flask, client: FlaskClient, demo: Demo, key: str
) -> None:
    before = client.get("/api/v1/program", headers=auth(key)).get_json()
    response = client.post(
        "/api/v1/program/preview?lang=en",
        json={"colors": {"background": "#ffffff"}, "logo_text": "Preview Ltd"},
        headers=auth(key),
    )
    assert response.status_code == 200
    body = response.get_json()
    card = body["pass"]
    assert card["backgroundColor"] == "rgb(255, 255, 255)"
    assert card["logoText"] == "Preview Ltd"
    assert card["storeCard"]["headerFields"][0]["value"] == 1250
    assert card["storeCard"]["secondaryFields"][1]["value"] == "Gold"
    assert set(body["images"]) == {"icon", "logo", "strip"}
    assert body["images"]["strip"].startswith("data:image/png;base64,")
    # White text on white: warned about, not refused.
    assert [w["code"] for w in body["warnings"]] == [
        "low_contrast_foreground",
        "low_contrast_label",
    ]
    assert client.get("/api/v1/program", headers=auth(key)).get_json() == before
    assert count(app, AuditEntry) == 0


def test_uploaded_logo_is_normalised_and_the_pass_verifies(
    app: Flask,
    client: FlaskClient,
    demo: Demo,
    key: str,
    pki_dir: Path,
    tmp_path: Path,
) -> None:
    before = tags(app, demo.program_id)
    response = upload(client, key, "logo", png((600, 200)))
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    logo = body["images"]["logo"]
    assert (logo["width"], logo["height"]) == (450, 150)
    assert body["refresh"]["total"] == len(before)
    run_refresh(app)
    after = tags(app, demo.program_id)
    assert all(after[p] > before[p] for p in before)

    data = client.get(f"/c/{demo.passes[0].card_token}/pass.pkpass").data
    archive = verify_pkpass(data, pki_dir / "ca.pem", tmp_path)
    sizes = {
        name: Image.open(io.BytesIO(archive.read(name))).size
        for name in ("logo.png", "logo@2x.png", "logo@3x.png")
    }
    assert sizes == {
        "logo.png": (150, 50),
        "logo@2x.png": (300, 100),
        "logo@3x.png": (450, 150),
    }
    red = Image.open(io.BytesIO(archive.read("logo@2x.png"))).convert("RGBA")
    assert red.getpixel((150, 50)) == (200, 30, 30, 255)
    # The icon and the strip are still drawn.
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        design = program_view(program).design
        assert design.logo is not None
        assert design.icon is None
        drawn = passes.render_images(dataclasses.replace(design, logo=None))
    assert archive.read("icon.png") == drawn["icon.png"]
    assert archive.read("logo.png") != drawn["logo.png"]

    # Removing it falls back to the drawn logo, and refreshes the passes again.
    removed = client.delete("/api/v1/program/images/logo", headers=auth(key))
    assert removed.status_code == 200
    assert removed.get_json()["images"]["logo"] is None
    run_refresh(app)
    data = client.get(f"/c/{demo.passes[0].card_token}/pass.pkpass").data
    archive = verify_pkpass(data, pki_dir / "ca.pem", tmp_path)
    assert archive.read("logo.png") == drawn["logo.png"]
    assert count(app, ProgramImage) == 0
    with app.app_context():
        actions = db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id))
        assert list(actions) == ["program.image.upload", "program.image.remove"]
    # Removing what is not there is a no-op.
    again = client.delete("/api/v1/program/images/logo", headers=auth(key))
    assert again.get_json()["refresh"] is None


def test_strip_and_icon_uploads_are_cropped_to_apples_sizes(
    app: Flask, client: FlaskClient, demo: Demo, key: str
) -> None:
    strip = upload(client, key, "strip", png((1500, 1000), kind="JPEG"), "s.jpg")
    assert strip.status_code == 200, strip.get_json()
    assert strip.get_json()["images"]["strip"]["width"] == 1125
    assert strip.get_json()["images"]["strip"]["height"] == 369
    icon = upload(client, key, "icon", png((300, 200)))
    assert icon.get_json()["images"]["icon"]["width"] == 200
    with app.app_context():
        design = program_view(db.session.get(Program, demo.program_id)).design
        files = passes.render_images(design)
    sizes = {name: Image.open(io.BytesIO(data)).size for name, data in files.items()}
    assert sizes["strip.png"] == (375, 123)
    assert sizes["strip@3x.png"] == (1125, 369)
    assert sizes["icon@2x.png"] == (58, 58)
    # Google Wallet's logo is made from the uploaded icon.
    logo = client.get(f"/programs/{demo.slug}/logo.png").data
    assert Image.open(io.BytesIO(logo)).getpixel((330, 330))[:3] == (200, 30, 30)


def test_a_large_photo_upload_is_accepted(
    app: Flask, client: FlaskClient, demo: Demo, key: str
) -> None:
    # Bigger than the app's usual request limit (256 KB); the upload route allows 4 MB.
    noise = Image.effect_noise((1200, 400), 60).convert("RGB")
    buffer = io.BytesIO()
    noise.save(buffer, format="PNG")
    assert len(buffer.getvalue()) > 1024 * 1024
    response = upload(client, key, "strip", buffer.getvalue())
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["images"]["strip"]["width"] == 1125


def test_bad_images_are_422_and_change_nothing(
    app: Flask, client: FlaskClient, demo: Demo, key: str
) -> None:
    before = client.get("/api/v1/program", headers=auth(key)).get_json()
    gif = io.BytesIO()
    Image.new("RGB", (200, 200)).save(gif, format="GIF")
    truncated = png((800, 300))[:200]
    cases = [
        ("logo", b"not an image at all", "invalid_image"),
        ("logo", b"", "invalid_image"),
        ("logo", truncated, "invalid_image"),
        ("logo", gif.getvalue(), "invalid_image_type"),
        ("logo", png((100, 40)), "image_too_small"),
        ("logo", png((2000, 20)), "invalid_image_shape"),
        ("icon", png((57, 300)), "image_too_small"),
        ("strip", png((749, 400)), "image_too_small"),
        ("strip", png((5000, 300)), "image_too_large"),
    ]
    for kind, data, code in cases:
        response = upload(client, key, kind, data)
        assert response.status_code == 422, (kind, code)
        assert response.get_json()["error"] == code
    missing = client.post(
        "/api/v1/program/images/logo",
        data={},
        headers=auth(key),
        content_type="multipart/form-data",
    )
    assert missing.status_code == 422
    assert missing.get_json()["error"] == "file_required"
    unknown = upload(client, key, "background", png((800, 300)))
    assert unknown.status_code == 404
    # Over the upload limit: refused before it is read.
    huge = client.post(
        "/api/v1/program/images/strip",
        data=b"\0" * (5 * 1024 * 1024),
        headers={**auth(key), "Content-Type": "multipart/form-data; boundary=x"},
    )
    assert huge.status_code == 413
    assert huge.get_json()["error"] == "request_entity_too_large"
    assert client.get("/api/v1/program", headers=auth(key)).get_json() == before
    assert count(app, ProgramImage) == 0
    assert count(app, AuditEntry) == 0


def test_keys_are_scoped_to_their_program(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    other_program(app)
    with app.app_context():
        other_id = db.session.scalar(select(Program.id).where(Program.slug == "other"))
    marketer = marketer_key(app, demo.program_id)
    # A program's key works on its own program whatever program_id says.
    mine = client.get(f"/api/v1/program?program_id={other_id}", headers=auth(marketer))
    assert mine.get_json()["id"] == demo.program_id
    patched = client.patch(
        "/api/v1/program",
        json={"program_id": other_id, "logo_text": "Моя"},
        headers=auth(marketer),
    )
    assert patched.status_code == 200
    assert patched.get_json()["id"] == demo.program_id
    admin = marketer_key(app, demo.program_id, role="admin")
    unnamed = client.get("/api/v1/program", headers=auth(admin))
    assert unnamed.status_code == 422
    assert unnamed.get_json()["error"] == "program_required"
    named = client.patch(
        f"/api/v1/program?program_id={other_id}",
        json={"logo_text": "Другая"},
        headers=auth(admin),
    )
    assert named.status_code == 200
    with app.app_context():
        assert db.session.get(Program, other_id).logo_text == "Другая"
        assert db.session.get(Program, demo.program_id).logo_text == "Моя"
    assert client.get("/api/v1/program").status_code == 401
    pos_key = make_key(app)
    assert client.get("/api/v1/program", headers=auth(pos_key)).status_code == 403
    assert (
        client.patch("/api/v1/program", json={}, headers=auth(pos_key)).status_code
        == 403
    )


def test_the_google_class_follows_the_settings(
    google_app: Flask, google_stand_in: GoogleStandIn, demo: Demo
) -> None:
    client = google_app.test_client()
    card_token = sign_up(client)
    assert client.get(f"/c/{card_token}/google").status_code == 303
    class_id = f"{GOOGLE_ISSUER}.severnaya"
    logo = google_stand_in.classes[class_id]["programLogo"]["sourceUri"]["uri"]
    key = marketer_key(google_app, demo.program_id)
    response = client.patch(
        "/api/v1/program", json={"colors": {"background": "#102030"}}, headers=auth(key)
    )
    assert response.status_code == 200
    run_refresh(google_app)
    drain(google_app)  # the member's object sync brings the class along
    loyalty_class = google_stand_in.classes[class_id]
    assert loyalty_class["hexBackgroundColor"] == "#102030"
    # The logo URL carries the design's hash: Google fetches the new one.
    assert loyalty_class["programLogo"]["sourceUri"]["uri"] != logo
