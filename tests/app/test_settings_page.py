"""/admin/settings: needs a session, shows the form in ru/en, lets an
all-programs admin key choose a program; the settings API takes the session
only with the CSRF header."""

from __future__ import annotations

import io

from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import select

from app.extensions import db
from app.models import Program
from app.services.auth import create_key
from tests.app.pos_support import other_program
from tests.app.test_admin import csrf_app, csrf_token, issue, sign_in  # noqa: F401
from tests.conftest import Demo


def test_the_page_needs_a_session(client: FlaskClient, demo: Demo) -> None:
    response = client.get("/admin/settings")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/admin/login")


def test_the_page_shows_the_settings_in_both_languages(
    csrf_app: Flask,  # noqa: F811
    client: FlaskClient,
    demo: Demo,
) -> None:
    sign_in(client, issue(csrf_app, demo))
    html = client.get("/admin/settings?lang=ru").get_data(as_text=True)
    assert "Так выглядит карта" in html
    assert 'value="#1b2a41"' in html
    assert 'id="r-max_redeem" type="number" min="0" max="100" step="1" value="30"' in (
        html
    )
    assert 'value="Золото"' in html
    assert "<script>" not in html  # CSP: scripts come from static files only
    # The rounding of earned points: the program's rule is the selected one.
    assert '<option value="down" selected>вниз (9,9 → 9)</option>' in html
    assert 'data-max-bytes="4194304" data-max-side="4096"' in html
    english = client.get("/admin/settings?lang=en").get_data(as_text=True)
    assert "How the card looks" in english
    assert "Settings" in english
    assert "Rounding of earned points to whole points" in english
    assert '<option value="up">up (9.1 → 10)</option>' in english


def test_the_settings_api_takes_the_session_with_its_csrf_header(
    csrf_app: Flask,  # noqa: F811
    client: FlaskClient,
    demo: Demo,
) -> None:
    sign_in(client, issue(csrf_app, demo))
    assert client.get("/api/v1/program").get_json()["id"] == demo.program_id
    refused = client.patch("/api/v1/program", json={"logo_text": "X"})
    assert refused.status_code == 403
    assert refused.get_json()["error"] == "csrf"
    token = csrf_token(client, "/admin/settings")
    done = client.patch(
        "/api/v1/program", json={"logo_text": "X"}, headers={"X-CSRFToken": token}
    )
    assert done.status_code == 200
    assert done.get_json()["logo_text"] == "X"
    image = io.BytesIO()
    Image.new("RGB", (100, 100), (0, 0, 0)).save(image, format="PNG")
    upload = {"file": (io.BytesIO(image.getvalue()), "icon.png")}
    assert (
        client.post(
            "/api/v1/program/images/icon",
            data=upload,
            content_type="multipart/form-data",
        ).status_code
        == 403
    )
    upload = {"file": (io.BytesIO(image.getvalue()), "icon.png")}
    uploaded = client.post(
        "/api/v1/program/images/icon",
        data=upload,
        content_type="multipart/form-data",
        headers={"X-CSRFToken": token},
    )
    assert uploaded.status_code == 200
    assert uploaded.get_json()["images"]["icon"]["width"] == 100


def test_an_all_programs_admin_chooses_the_program(
    csrf_app: Flask,  # noqa: F811
    client: FlaskClient,
    demo: Demo,
) -> None:
    other_program(csrf_app)
    with csrf_app.app_context():
        other_id = db.session.scalar(select(Program.id).where(Program.slug == "other"))
    with csrf_app.app_context():
        admin = create_key("admin").key  # every program
        db.session.commit()
    sign_in(client, admin)
    page = client.get("/admin/settings").get_data(as_text=True)
    assert 'id="program-select"' in page  # the header's selector
    assert f'data-program-id="{demo.program_id}"' in page  # the first program
    token = csrf_token(client, "/admin/settings")
    chosen = client.post(
        "/admin/program",
        data={
            "program_id": str(other_id),
            "next": "/admin/settings",
            "csrf_token": token,
        },
    )
    assert chosen.status_code == 302
    page = client.get("/admin/settings").get_data(as_text=True)
    assert f'data-program-id="{other_id}"' in page
