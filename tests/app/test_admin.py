"""/admin: sign-in with a key, throttling, CSRF on forms and API calls, pages."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEntry, Program, Registration, Store, WalletEvent
from app.services.auth import create_key
from tests.app.campaign_support import add_member, register_device
from tests.conftest import Demo


@pytest.fixture
def csrf_app(app: Flask) -> Flask:
    app.config["WTF_CSRF_ENABLED"] = True
    return app


def issue(app: Flask, demo: Demo, role: str = "marketer") -> str:
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        store = db.session.scalar(select(Store).where(Store.program_id == program.id))
        issued = create_key(
            role, program=program, store=store if role == "pos" else None
        )
        db.session.commit()
        return issued.key


def csrf_token(client: FlaskClient, path: str = "/admin/login") -> str:
    html = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert match is not None
    return match[1]


def sign_in(client: FlaskClient, key: str) -> None:
    token = csrf_token(client)
    response = client.post("/admin/login", data={"key": key, "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)
    assert response.headers["Location"].endswith("/admin/")


def test_pages_need_a_session(client: FlaskClient, demo: Demo) -> None:
    for path in ("/admin/", "/admin/campaigns", "/admin/audit", "/admin/export.csv"):
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"].endswith("/admin/login")


def test_sign_in_session_cookie_and_sign_out(
    csrf_app: Flask, client: FlaskClient, demo: Demo
) -> None:
    key = issue(csrf_app, demo)
    sign_in(client, key)
    cookie = client.get_cookie("session")
    assert cookie is not None
    assert cookie.http_only
    assert cookie.same_site == "Lax"
    assert key not in cookie.value  # only the key's id and public prefix
    overview = client.get("/admin/")
    assert overview.status_code == 200
    html = overview.get_data(as_text=True)
    assert "<svg" in html
    assert "Регистрации" in html
    assert overview.headers["Cache-Control"] == "private, no-store"
    csv_body = client.get("/admin/export.csv").get_data(as_text=True)
    assert csv_body.splitlines()[0].startswith("day,signups,installs_apple")
    assert len(csv_body.splitlines()) == 31
    # Sign out needs the CSRF token too.
    assert client.post("/admin/logout").status_code == 400
    token = csrf_token(client, "/admin/")
    client.post("/admin/logout", data={"csrf_token": token})
    assert client.get("/admin/").status_code == 302


def test_secure_cookie_over_https(
    csrf_app: Flask, client: FlaskClient, demo: Demo
) -> None:
    key = issue(csrf_app, demo)
    token = re.search(
        r'name="csrf-token" content="([^"]+)"',
        client.get("/admin/login", base_url="https://localhost").get_data(as_text=True),
    )[1]
    response = client.post(
        "/admin/login",
        data={"key": key, "csrf_token": token},
        base_url="https://localhost",
        # Flask-WTF checks the referrer on HTTPS.
        headers={"Referer": "https://localhost/admin/login"},
    )
    assert response.status_code == 302
    assert "Secure" in response.headers["Set-Cookie"]


def test_wrong_keys_and_pos_keys_are_refused(
    csrf_app: Flask, client: FlaskClient, demo: Demo
) -> None:
    pos = issue(csrf_app, demo, "pos")
    token = csrf_token(client)
    for key in ("wlk_nope_nope", pos):
        response = client.post("/admin/login", data={"key": key, "csrf_token": token})
        assert response.status_code == 401
        assert "Ключ не подошёл" in response.get_data(as_text=True)
    # Without the CSRF token the form is refused outright.
    marketer = issue(csrf_app, demo)
    assert client.post("/admin/login", data={"key": marketer}).status_code == 400


def test_login_is_throttled(csrf_app: Flask, client: FlaskClient, demo: Demo) -> None:
    csrf_app.config["RATELIMIT_ADMIN_LOGIN"] = "3 per minute"
    token = csrf_token(client)
    codes = [
        client.post(
            "/admin/login", data={"key": "wlk_x_y", "csrf_token": token}
        ).status_code
        for _ in range(4)
    ]
    assert codes == [401, 401, 401, 429]
    # Even the right key waits now.
    key = issue(csrf_app, demo)
    response = client.post("/admin/login", data={"key": key, "csrf_token": token})
    assert response.status_code == 429
    assert "Retry-After" in response.headers


def test_api_with_the_session_needs_the_csrf_header(
    csrf_app: Flask, client: FlaskClient, demo: Demo
) -> None:
    sign_in(client, issue(csrf_app, demo))
    body = {"segment": {"all": {}}}
    refused = client.post("/api/v1/segments/preview", json=body)
    assert refused.status_code == 403
    assert refused.json["error"] == "csrf"
    token = csrf_token(client, "/admin/segments")
    ok = client.post(
        "/api/v1/segments/preview", json=body, headers={"X-CSRFToken": token}
    )
    assert ok.status_code == 200
    assert ok.json["members"] == 3
    # Reading needs no token.
    assert client.get("/api/v1/campaigns").status_code == 200


def test_revoking_the_key_ends_the_session(
    csrf_app: Flask, client: FlaskClient, demo: Demo
) -> None:
    key = issue(csrf_app, demo)
    sign_in(client, key)
    with csrf_app.app_context():
        from app.services.auth import find_key

        find_key(key).revoked = True
        db.session.commit()
    assert client.get("/admin/").status_code == 302


def test_members_search_and_audit_page(
    csrf_app: Flask, client: FlaskClient, demo: Demo
) -> None:
    with csrf_app.app_context():
        program = db.session.get(Program, demo.program_id)
        member = add_member(program, name="Зоя Редкая", phone="+79995550101")
        register_device(member, "android")
        db.session.commit()
        number = member.card_number
    sign_in(client, issue(csrf_app, demo))
    by_name = client.get("/admin/members?q=Редкая").get_data(as_text=True)
    assert number in by_name
    assert "android" in by_name
    assert "+79995550101" not in by_name  # masked, as everywhere else
    assert "+7 *** ***-01-01" in by_name
    by_phone = client.get("/admin/members?q=9995550101").get_data(as_text=True)
    assert number in by_phone
    by_card = client.get(f"/admin/members?q={number}").get_data(as_text=True)
    assert "Зоя Редкая" in by_card
    audit_html = client.get("/admin/audit?lang=en").get_data(as_text=True)
    assert "admin.login" in audit_html
    assert "Audit log" in audit_html
    with csrf_app.app_context():
        entry = db.session.scalar(select(AuditEntry))
        assert entry.role == "marketer"
        assert entry.program_id == demo.program_id


def test_overview_charts_and_csv_show_todays_figures(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    from datetime import UTC, datetime

    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        device = register_device(
            add_member(program, created_at=datetime.now(UTC)), "android"
        )
        # Installs are counted from the wallet events the wallet service records
        # with each registration (app.services.stats), as /api/v1/stats does.
        registration = db.session.scalar(
            select(Registration).where(Registration.device_id == device.id)
        )
        db.session.add(
            WalletEvent(
                program_id=program.id,
                pass_id=registration.pass_id,
                platform="android",
                kind="install",
            )
        )
        db.session.commit()
    sign_in(client, issue(app, demo))
    today = datetime.now(UTC).date().isoformat()
    html = client.get("/admin/?lang=en").get_data(as_text=True)
    # 3 demo sign-ups + 1 today; the Android registration too.
    assert f"<title>{today}: 4</title>" in html
    assert "Android installs" in html
    assert f"<title>{today}: 1</title>" in html
    last = client.get("/admin/export.csv").get_data(as_text=True).splitlines()[-1]
    assert last.startswith(f"{today},4,0,1,")
