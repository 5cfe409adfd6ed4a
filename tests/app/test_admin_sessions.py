"""/admin sessions are recorded server-side: the cookie holds a random id only,
signing out ends the session for a copied cookie too, and sessions end after 12
idle hours or 7 days, or when the key that opened them is revoked."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from app.admin import session as admin_session
from app.extensions import db
from app.models import AdminSession
from app.models.base import utcnow
from tests.app.test_admin import issue
from tests.conftest import Demo


def sign_in(client: FlaskClient, key: str) -> str:
    """Sign in (CSRF is off in the base config); the session cookie's value."""
    response = client.post("/admin/login", data={"key": key})
    assert response.status_code == 302
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def signed_in(client: FlaskClient) -> bool:
    response = client.get("/admin/")
    if response.status_code == 302:
        assert response.headers["Location"].endswith("/admin/login")
        return False
    assert response.status_code == 200
    return True


def sessions(app: Flask) -> list[AdminSession]:
    with app.app_context():
        return list(db.session.scalars(select(AdminSession).order_by(AdminSession.id)))


def test_the_cookie_holds_a_random_id_whose_hash_is_stored(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    key = issue(app, demo)
    cookie = sign_in(client, key)
    data = app.session_interface.get_signing_serializer(app).loads(cookie)
    token = data[admin_session.SESSION_KEY]
    assert set(data) - {"_permanent"} == {admin_session.SESSION_KEY}
    assert len(token) >= 40
    assert key not in cookie
    [row] = sessions(app)
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    # A second sign-in is another session with another id.
    other = app.test_client()
    sign_in(other, key)
    assert len(sessions(app)) == 2


def test_a_copied_cookie_stops_working_after_sign_out(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    cookie = sign_in(client, issue(app, demo))
    copy = app.test_client()
    copy.set_cookie("session", cookie)
    assert signed_in(copy)
    # Its API calls use the same session.
    assert copy.get("/api/v1/campaigns").status_code == 200
    assert client.post("/admin/logout").status_code == 302
    assert sessions(app) == []
    assert not signed_in(client)
    assert not signed_in(copy)
    assert copy.get("/api/v1/campaigns").status_code == 401
    # Signing out again (or with a stale cookie) is harmless.
    assert copy.post("/admin/logout").status_code == 302


def test_sessions_end_after_twelve_idle_hours(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    sign_in(client, issue(app, demo))
    now = utcnow()
    with app.app_context():
        db.session.execute(
            update(AdminSession).values(
                last_seen_at=now - timedelta(hours=11, minutes=59)
            )
        )
        db.session.commit()
    assert signed_in(client)  # and the request moved last_seen_at on
    [row] = sessions(app)
    assert row.last_seen_at > now - timedelta(minutes=1)
    with app.app_context():
        db.session.execute(
            update(AdminSession).values(
                last_seen_at=utcnow() - timedelta(hours=12, minutes=1)
            )
        )
        db.session.commit()
    assert not signed_in(client)
    assert sessions(app) == []


def test_sessions_end_seven_days_after_sign_in_however_busy(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    sign_in(client, issue(app, demo))
    with app.app_context():
        db.session.execute(
            update(AdminSession).values(
                created_at=utcnow() - timedelta(days=6, hours=23)
            )
        )
        db.session.commit()
    assert signed_in(client)
    with app.app_context():
        db.session.execute(
            update(AdminSession).values(
                created_at=utcnow() - timedelta(days=7, minutes=1)
            )
        )
        db.session.commit()
    assert not signed_in(client)
    assert client.get("/api/v1/campaigns").status_code == 401


def test_expired_sessions_are_deleted_at_the_next_sign_in(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    key = issue(app, demo)
    sign_in(client, key)
    with app.app_context():
        db.session.execute(
            update(AdminSession).values(last_seen_at=utcnow() - timedelta(days=1))
        )
        db.session.commit()
    sign_in(app.test_client(), key)
    assert len(sessions(app)) == 1


def test_revoking_the_key_ends_its_sessions(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    key = issue(app, demo)
    sign_in(client, key)
    other_key = issue(app, demo)
    other = app.test_client()
    sign_in(other, other_key)
    prefix = key.split("_")[1]
    result = app.test_cli_runner().invoke(args=["api-key", "revoke", prefix])
    assert result.exit_code == 0, result.output
    assert not signed_in(client)
    assert signed_in(other)  # another key's session goes on
    assert len(sessions(app)) == 1
