"""Security headers, rate limits, health and readiness, logs without secrets."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.extensions import db
from app.models import Member
from tests.conftest import Demo


def test_pages_and_apis_carry_security_headers(client: FlaskClient, demo: Demo) -> None:
    for response in (
        client.get("/join"),
        client.get(f"/c/{demo.passes[0].card_token}"),
        client.post("/wallet/v1/log", json={"logs": []}),
    ):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "same-origin"
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert "Strict-Transport-Security" not in response.headers  # plain HTTP
    card = client.get(f"/c/{demo.passes[0].card_token}")
    assert card.headers["Cache-Control"] == "private, no-store"
    https = client.get("/join", base_url="https://wallet.test")
    assert "max-age=" in https.headers["Strict-Transport-Security"]


def test_sign_up_is_rate_limited_per_address(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    app.config["RATELIMIT_SIGNUP"] = "2 per minute"
    form = {"name": "x", "phone": "bad", "city": "Москва", "language": "ru"}
    assert client.post("/join", data=form).status_code == 422
    assert client.post("/join", data=form).status_code == 422
    good = {**form, "name": "Ирина", "phone": "+7 916 000-00-01", "consent": "on"}
    limited = client.post("/join", data=good)
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) > 0
    assert "Попробуйте ещё раз" in limited.text
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Member)) == 3
    # Another address is not affected; the form page itself is not a sign-up.
    other = client.post("/join", data=good, environ_base={"REMOTE_ADDR": "10.9.8.7"})
    assert other.status_code == 303
    assert client.get("/join").status_code == 200


def test_web_service_is_rate_limited_with_a_json_429(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    app.config["RATELIMIT_WALLET"] = "3 per minute"
    url = f"/wallet/v1/devices/dev1/registrations/{demo.pass_type}"
    assert [client.get(url).status_code for _ in range(3)] == [204, 204, 204]
    limited = client.get(url)
    assert limited.status_code == 429
    assert limited.get_json()["error"] == "too_many_requests"
    assert "Retry-After" in limited.headers


def test_health_and_readiness(app: Flask, client: FlaskClient, tmp_path: Path) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.get_json()
    assert ready.get_json()["status"] == "ready"

    app.config["PASS_CERT_FILE"] = str(tmp_path / "hidden-dir" / "pass.pem")
    not_ready = client.get("/readyz")
    assert not_ready.status_code == 503
    body = not_ready.get_json()
    assert body["checks"]["pass_signing"]["ok"] is False
    assert body["checks"]["database"]["ok"] is True
    assert "hidden-dir" not in not_ready.text


def test_unreachable_database_is_a_clean_503(
    app: Flask, demo: Demo, tmp_path: Path
) -> None:
    from app import create_app

    url = app.config["SQLALCHEMY_DATABASE_URI"]
    unreachable = (
        f"sqlite:///{tmp_path / 'missing-dir' / 'db.sqlite3'}"
        if url.startswith("sqlite")
        else "postgresql+psycopg://postgres@127.0.0.1:1/wallet"  # nothing listens
    )
    down = create_app({**app.config, "SQLALCHEMY_DATABASE_URI": unreachable})
    client = down.test_client()
    api = client.get(f"/wallet/v1/devices/d1/registrations/{demo.pass_type}")
    assert api.status_code == 503
    assert api.get_json() == {
        "error": "database_unavailable",
        "message": "Temporarily unavailable, try again",
    }
    assert api.headers["Retry-After"] == "5"
    page = client.get("/join")
    assert page.status_code == 503
    assert "Попробуйте ещё раз" in page.text
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.get_json()["checks"]["database"] == {
        "ok": False,
        "message": "database unavailable",
    }
    with down.app_context():
        from app.extensions import db

        db.engine.dispose()


def test_request_log_has_no_tokens_or_serials(
    client: FlaskClient, demo: Demo, caplog: pytest.LogCaptureFixture
) -> None:
    p = demo.passes[0]
    with caplog.at_level(logging.DEBUG, logger="app.requests"):
        client.get(f"/c/{p.card_token}")
        client.get(
            f"/wallet/v1/passes/{demo.pass_type}/{p.serial}",
            headers={"Authorization": f"ApplePass {p.token}"},
        )
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "GET /c/<card_token> 200" in text
    assert "GET /wallet/v1/passes/<pass_type>/<serial> 200" in text
    for secret in (p.card_token, p.serial, p.token):
        assert secret not in text


def test_the_herds_successful_wallet_gets_log_at_debug_failures_at_info(
    client: FlaskClient, demo: Demo, caplog: pytest.LogCaptureFixture
) -> None:
    p = demo.passes[0]
    url = f"/wallet/v1/passes/{demo.pass_type}/{p.serial}"
    with caplog.at_level(logging.INFO, logger="app.requests"):
        ok = client.get(url, headers={"Authorization": f"ApplePass {p.token}"})
        wrong = client.get(url, headers={"Authorization": "ApplePass " + "0" * 24})
        client.get(f"/c/{p.card_token}")
    assert (ok.status_code, wrong.status_code) == (200, 401)
    info = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert not any(
        m.startswith("GET /wallet/v1/passes/") and " 200 " in m for m in info
    )
    assert any(
        m.startswith("GET /wallet/v1/passes/<pass_type>/<serial> 401") for m in info
    )
    assert any(m.startswith("GET /c/<card_token> 200") for m in info)
