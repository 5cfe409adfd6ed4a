"""Google Wallet end to end against the local stand-in for Google's API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app import config as app_config
from app.extensions import db
from app.models import (
    GoogleCallback,
    GoogleMessage,
    GoogleObject,
    Member,
    Pass,
    Program,
)
from app.services import google_wallet
from app.services import passes as pass_service
from app.services.ledger import lock_member, post
from passes import google
from tests.conftest import GOOGLE_ISSUER as ISSUER
from tests.conftest import Demo
from tests.support import google_schema
from tests.support.google_callbacks import CallbackSigner
from tests.support.google_server import GoogleStandIn, verify_rs256


def sign_up(client: FlaskClient, phone: str = "+79123456789") -> str:
    response = client.post(
        "/join",
        data={
            "name": "Мария Петрова",
            "phone": phone,
            "email": "",
            "birthday": "",
            "store": "",
            "city": "Москва",
            "language": "ru",
            "consent": "on",
        },
    )
    assert response.status_code == 303, response.text
    return response.headers["Location"].removeprefix("/c/")


def member_by_token(card_token: str) -> Member:
    member = db.session.scalar(select(Member).where(Member.card_token == card_token))
    assert member is not None
    return member


def object_of(google_stand_in: GoogleStandIn, card_token: str) -> dict:
    member = member_by_token(card_token)
    record = db.session.scalar(
        select(GoogleObject).where(GoogleObject.member_id == member.id)
    )
    assert record is not None
    return google_stand_in.objects[record.object_id]


def serve_country(app: Flask, demo: Demo, country: str) -> None:
    with app.app_context():
        db.session.get(Program, demo.program_id).country = country
        db.session.commit()


def test_in_russia_no_google_button_android_gets_the_pkpass_step(
    google_app: Flask, client: FlaskClient, demo: Demo
) -> None:
    """Google Wallet is not offered in Russia (the demo program's country)."""
    card_token = demo.passes[0].card_token
    android = {"User-Agent": "Mozilla/5.0 (Linux; Android 14; Pixel 8) Mobile"}
    page = client.get(f"/c/{card_token}", headers=android).text
    assert "save-to-google-wallet" not in page
    assert 'id="android-step"' in page
    assert "WalletPasses" in page
    assert f'id="download-pkpass" href="/c/{card_token}/pass.pkpass"' in page
    # Elsewhere Android gets the Google button first, then the .pkpass step.
    serve_country(google_app, demo, "KZ")
    page = client.get(f"/c/{card_token}", headers=android).text
    assert page.index("save-to-google-wallet") < page.index('id="android-step"')


def test_without_configuration_the_button_is_hidden_and_the_route_404s(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    card_token = demo.passes[0].card_token
    page = client.get(f"/c/{card_token}")
    assert page.status_code == 200
    assert "save-to-google-wallet" not in page.text
    assert client.get(f"/c/{card_token}/google").status_code == 404
    assert client.post("/google/callbacks", json={}).status_code == 404


def test_sign_up_save_link_then_balance_change_patches_with_notification(
    google_app: Flask,
    client: FlaskClient,
    demo: Demo,
    google_stand_in: GoogleStandIn,
    google_service_account: dict[str, str],
) -> None:
    card_token = sign_up(client)
    serve_country(google_app, demo, "KZ")  # Google Wallet is offered there
    page = client.get(f"/c/{card_token}")
    assert "Сохранить в Google Wallet" in page.text
    assert f'href="/c/{card_token}/google?lang=ru"' in page.text

    response = client.get(f"/c/{card_token}/google")
    assert response.status_code == 303
    save_url = response.headers["Location"]
    assert save_url.startswith("https://pay.google.com/gp/v/save/")
    assert len(save_url) < 1800
    key = serialization.load_pem_private_key(
        google_service_account["private_key"].encode(), None
    )
    claims = verify_rs256(
        save_url.removeprefix(google.SAVE_URL_PREFIX), key.public_key()
    )
    assert claims["aud"] == "google"
    assert claims["typ"] == "savetowallet"
    assert claims["iss"] == google_service_account["client_email"]
    assert claims["origins"] == ["https://wallet.test"]
    [reference] = claims["payload"]["loyaltyObjects"]

    # The class and object were inserted over REST before the redirect.
    assert reference["id"] in google_stand_in.objects
    assert reference["classId"] == f"{ISSUER}.severnaya"
    loyalty_class = google_stand_in.classes[reference["classId"]]
    assert google_schema.errors("LoyaltyClass", loyalty_class) == []
    assert loyalty_class["programLogo"]["sourceUri"]["uri"].startswith(
        "https://wallet.test/programs/severnaya/logo.png?v="
    )
    assert (
        loyalty_class["callbackOptions"]["url"]
        == "https://wallet.test/google/callbacks"
    )
    loyalty_object = google_stand_in.objects[reference["id"]]
    # The welcome bonus is on the card from the start.
    assert loyalty_object["loyaltyPoints"]["balance"] == {"int": 100}
    assert loyalty_object["accountName"] == "Мария Петрова"
    with google_app.app_context():
        # The same barcode payload and nearest stores as the Apple pass.
        member = member_by_token(card_token)
        pass_ = db.session.scalar(select(Pass).where(Pass.member_id == member.id))
        apple = pass_service.member_view(pass_)
        assert loyalty_object["barcode"]["value"] == apple.barcode_message
        nearest = pass_service.nearest_stores(member)
    assert loyalty_object["merchantLocations"] == [
        {"latitude": s.latitude, "longitude": s.longitude} for s in nearest
    ]
    assert len(nearest) == 10

    # A balance change, as the POS makes it; then what the outbox worker calls.
    with google_app.app_context():
        member = lock_member(member_by_token(card_token).id)
        post(member, "adjustment", 650)
        pass_ = db.session.scalar(select(Pass).where(Pass.member_id == member.id))
        assert pass_service.refresh_pass(pass_)
        db.session.commit()
        assert google_wallet.sync_object(member) is True
        db.session.commit()
        # Nothing changed since: no call.
        calls = len(google_stand_in.calls())
        assert google_wallet.sync_object(member) is False
        assert len(google_stand_in.calls()) == calls

    [patch] = google_stand_in.calls("PATCH", "/loyaltyObject/")
    assert patch.body["loyaltyPoints"]["balance"] == {"int": 750}
    assert patch.body["notifyPreference"] == "NOTIFY_ON_UPDATE"
    assert "accountName" not in patch.body  # only what changed is sent
    assert google_stand_in.objects[reference["id"]]["loyaltyPoints"]["balance"] == {
        "int": 750
    }


def test_save_is_idempotent_and_409_becomes_patch(
    google_app: Flask, client: FlaskClient, demo: Demo, google_stand_in: GoogleStandIn
) -> None:
    card_token = demo.passes[0].card_token
    assert client.get(f"/c/{card_token}/google").status_code == 303
    inserts = len(google_stand_in.calls("POST"))
    assert client.get(f"/c/{card_token}/google").status_code == 303
    assert (
        len(google_stand_in.calls("POST")) == inserts
    )  # known and unchanged: no calls

    # The object exists at Google but our record was lost: insert -> 409 -> PATCH.
    with google_app.app_context():
        db.session.execute(GoogleObject.__table__.delete())
        db.session.commit()
    assert client.get(f"/c/{card_token}/google").status_code == 303
    statuses = [
        (c.method, c.status) for c in google_stand_in.calls(path="/loyaltyObject")
    ]
    assert statuses[-2:] == [("POST", 409), ("PATCH", 200)]


def test_expired_token_is_refreshed(
    google_app: Flask, client: FlaskClient, demo: Demo, google_stand_in: GoogleStandIn
) -> None:
    card_token = demo.passes[1].card_token
    assert client.get(f"/c/{card_token}/google").status_code == 303
    token_requests = google_stand_in.token_requests
    google_stand_in.revoke_tokens()
    with google_app.app_context():
        member = member_by_token(card_token)
        member.points = 10
        assert google_wallet.sync_object(member)
        db.session.commit()
    assert google_stand_in.token_requests == token_requests + 1
    assert [c.status for c in google_stand_in.calls("PATCH")] == [401, 200]


def test_google_failure_shows_a_friendly_page(
    google_app: Flask, client: FlaskClient, demo: Demo, google_stand_in: GoogleStandIn
) -> None:
    card_token = demo.passes[0].card_token
    google_stand_in.fail(500)
    response = client.get(f"/c/{card_token}/google")
    assert response.status_code == 503
    assert "Google Wallet сейчас недоступен" in response.text
    google_stand_in.fail(403, "permissionDenied")
    english = client.get(f"/c/{card_token}/google?lang=en")
    assert english.status_code == 503
    assert "Google Wallet is not available right now" in english.text
    with google_app.app_context():
        assert db.session.scalar(select(GoogleObject.id)) is None


@pytest.mark.parametrize(
    ("status", "reason", "retryable"),
    [
        (500, "backendError", True),
        (503, "backendError", True),
        (429, "rateLimitExceeded", True),
        (403, "quotaExceeded", True),
        (403, "permissionDenied", False),
        (400, "invalidResource", False),
    ],
)
def test_errors_are_typed_retryable_or_permanent(
    google_app: Flask,
    client: FlaskClient,
    demo: Demo,
    google_stand_in: GoogleStandIn,
    status: int,
    reason: str,
    retryable: bool,
) -> None:
    card_token = demo.passes[0].card_token
    assert client.get(f"/c/{card_token}/google").status_code == 303
    with google_app.app_context():
        member = member_by_token(card_token)
        member.points = 99
        google_stand_in.fail(status, reason)
        expected = (
            google_wallet.GoogleRetryableError
            if retryable
            else google_wallet.GooglePermanentError
        )
        with pytest.raises(expected) as raised:
            google_wallet.sync_object(member)
        assert raised.value.reason == reason
        if reason == "permissionDenied":
            assert "service account" in str(raised.value)
        db.session.rollback()
        # Nothing was recorded as sent: the retry sends the change again.
        member.points = 99
        assert google_wallet.sync_object(member) is True


def test_messages_notify_three_times_a_day_and_keep_ten(
    google_app: Flask, client: FlaskClient, demo: Demo, google_stand_in: GoogleStandIn
) -> None:
    card_token = demo.passes[0].card_token
    assert client.get(f"/c/{card_token}/google").status_code == 303
    with google_app.app_context():
        member = member_by_token(card_token)
        sent = [
            google_wallet.add_message(member, f"Акция {i}", f"Текст {i}")
            for i in range(12)
        ]
        db.session.commit()
        assert sent == ["TEXT_AND_NOTIFY"] * 3 + ["TEXT"] * 9
        # A retried call with the same id sends nothing new.
        calls = len(google_stand_in.calls())
        assert google_wallet.add_message(member, "x", "y", message_id="bday-2026") == (
            "TEXT"
        )
        assert google_wallet.add_message(member, "x", "y", message_id="bday-2026") == (
            "TEXT"
        )
        assert (
            len(google_stand_in.calls()) == calls + 2
        )  # one prune PATCH, one addMessage
        db.session.commit()
        history = db.session.scalars(select(GoogleMessage.header)).all()
        assert len(history) == 13
    messages = object_of_app(google_app, google_stand_in, card_token)["messages"]
    assert len(messages) == 10
    assert messages[-1]["id"] == "bday-2026"
    assert [m["header"] for m in messages[:-1]] == [f"Акция {i}" for i in range(3, 12)]


def object_of_app(app: Flask, google_stand_in: GoogleStandIn, card_token: str) -> dict:
    with app.app_context():
        return object_of(google_stand_in, card_token)


def test_google_quota_answer_falls_back_to_a_silent_message(
    google_app: Flask, client: FlaskClient, demo: Demo, google_stand_in: GoogleStandIn
) -> None:
    card_token = demo.passes[0].card_token
    assert client.get(f"/c/{card_token}/google").status_code == 303
    with google_app.app_context():
        member = member_by_token(card_token)
        google_stand_in.fail(403, "quotaExceeded")  # Google counted differently
        assert google_wallet.add_message(member, "Скидка", "−20 %") == "TEXT"
        assert google_wallet.add_message(member, "Ещё", "...") == "TEXT"
        db.session.commit()
    types = [
        (c.status, c.body["message"]["messageType"])
        for c in google_stand_in.calls("POST", "/addMessage")
    ]
    assert types == [(403, "TEXT_AND_NOTIFY"), (200, "TEXT"), (200, "TEXT")]


def test_balance_notifications_share_the_daily_budget(
    google_app: Flask, client: FlaskClient, demo: Demo, google_stand_in: GoogleStandIn
) -> None:
    card_token = demo.passes[0].card_token
    assert client.get(f"/c/{card_token}/google").status_code == 303
    with google_app.app_context():
        member = member_by_token(card_token)
        for points in (10, 20, 30, 40):
            member.points = points
            assert google_wallet.sync_object(member)
        member.offer = "Новое предложение"
        assert google_wallet.sync_object(member)
        db.session.commit()
    notify = [c.body.get("notifyPreference") for c in google_stand_in.calls("PATCH")]
    assert notify == ["NOTIFY_ON_UPDATE"] * 3 + [None, None]


def test_erasure_expires_the_object(
    google_app: Flask, client: FlaskClient, demo: Demo, google_stand_in: GoogleStandIn
) -> None:
    card_token = demo.passes[0].card_token
    assert client.get(f"/c/{card_token}/google").status_code == 303
    with google_app.app_context():
        member = member_by_token(card_token)
        assert google_wallet.expire_object(member) is True
        db.session.commit()
        assert google_wallet.expire_object(member) is False
        assert google_wallet.add_message(member, "x", "y") is None
        record = db.session.scalar(select(GoogleObject))
        assert record.state == "EXPIRED"
        assert "accountName" not in record.body
        loyalty_object = google_stand_in.objects[record.object_id]
    assert loyalty_object["state"] == "EXPIRED"
    assert loyalty_object["accountName"] == ""


def test_member_who_never_saved_gets_no_calls(
    google_app: Flask, demo: Demo, google_stand_in: GoogleStandIn
) -> None:
    with google_app.app_context():
        member = member_by_token(demo.passes[2].card_token)
        assert google_wallet.sync_object(member) is False
        assert google_wallet.add_message(member, "x", "y") is None
    assert google_stand_in.calls() == []


def test_dry_run_redirects_without_calling_google(
    google_app: Flask, client: FlaskClient, demo: Demo, google_stand_in: GoogleStandIn
) -> None:
    google_app.config["GOOGLE_DRY_RUN"] = True
    response = client.get(f"/c/{demo.passes[0].card_token}/google")
    assert response.status_code == 303
    assert response.headers["Location"].startswith(google.SAVE_URL_PREFIX)
    assert google_stand_in.calls() == []
    assert google_stand_in.token_requests == 0


def test_logo_is_served_publicly(
    google_app: Flask, client: FlaskClient, demo: Demo
) -> None:
    response = client.get(f"/programs/{demo.slug}/logo.png")
    assert response.status_code == 200
    assert response.mimetype == "image/png"
    assert response.data.startswith(b"\x89PNG")
    again = client.get(
        f"/programs/{demo.slug}/logo.png",
        headers={"If-None-Match": response.get_etag()[0]},
    )
    assert again.status_code == 304
    assert client.get("/programs/nope/logo.png").status_code == 404


# -- callbacks -----------------------------------------------------------------
def saved_object(client: FlaskClient, app: Flask, card_token: str) -> str:
    assert client.get(f"/c/{card_token}/google").status_code == 303
    with app.app_context():
        return db.session.scalar(select(GoogleObject.object_id))


def test_callbacks_record_saves_and_deletions_once(
    google_app: Flask,
    client: FlaskClient,
    demo: Demo,
    google_stand_in: GoogleStandIn,
    callback_signer: CallbackSigner,
) -> None:
    object_id = saved_object(client, google_app, demo.passes[0].card_token)
    save = callback_signer.body(ISSUER, object_id, "save", nonce="n-1")
    response = client.post("/google/callbacks", json=save)
    assert response.status_code == 200
    assert response.json == {"status": "recorded"}
    replay = client.post("/google/callbacks", json=save)
    assert replay.json == {"status": "duplicate"}
    with google_app.app_context():
        record = db.session.scalar(select(GoogleObject))
        assert (record.saved, record.save_count, record.delete_count) == (True, 1, 0)
        assert google_wallet.install_counts(demo.program_id)["saved"] == 1

    delete = callback_signer.body(ISSUER, object_id, "del", nonce="n-2")
    assert client.post("/google/callbacks", json=delete).status_code == 200
    with google_app.app_context():
        record = db.session.scalar(select(GoogleObject))
        assert (record.saved, record.save_count, record.delete_count) == (False, 1, 1)
        assert google_wallet.install_counts(demo.program_id) == {
            "objects": 1,
            "saved": 0,
            "saves": 1,
            "deletions": 1,
        }
        assert len(db.session.scalars(select(GoogleCallback)).all()) == 2


def test_callbacks_that_do_not_verify_change_nothing(
    google_app: Flask,
    client: FlaskClient,
    demo: Demo,
    google_stand_in: GoogleStandIn,
    callback_signer: CallbackSigner,
) -> None:
    object_id = saved_object(client, google_app, demo.passes[0].card_token)
    tampered = callback_signer.body(ISSUER, object_id, "save")
    tampered["signedMessage"] = tampered["signedMessage"].replace('"save"', '"del"')
    expired_key = callback_signer.body(ISSUER, object_id, key_expires_ms=1_000_000)
    expired_message = callback_signer.body(ISSUER, object_id, exp_time_ms=1_000_000)
    foreign_root = callback_signer.body(ISSUER, object_id, root=CallbackSigner().root)
    other_issuer = callback_signer.body("3388000000000000999", object_id)
    for body in (
        tampered,
        expired_key,
        expired_message,
        foreign_root,
        other_issuer,
        {"protocolVersion": "ECv2"},
        "not json",
    ):
        response = client.post("/google/callbacks", json=body)
        assert response.status_code == 400, body
        assert response.json["error"] == "invalid_callback"
    with google_app.app_context():
        assert db.session.scalar(select(GoogleCallback.id)) is None
        assert db.session.scalar(select(GoogleObject.save_count)) == 0


def test_dev_defaults_use_the_dev_key_in_dry_run(
    monkeypatch: pytest.MonkeyPatch, pki_dir: Path, tmp_path: Path
) -> None:
    for name in ("GOOGLE_ISSUER_ID", "GOOGLE_SERVICE_ACCOUNT_FILE", "GOOGLE_DRY_RUN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DEV_CERTS_DIR", str(pki_dir))
    settings = app_config.from_environment()
    assert settings["GOOGLE_ISSUER_ID"] == app_config.DEV_GOOGLE_ISSUER_ID
    assert settings["GOOGLE_SERVICE_ACCOUNT_FILE"] == str(
        pki_dir / "google-service-account.json"
    )
    assert settings["GOOGLE_DRY_RUN"] is True

    monkeypatch.setenv("DEV_CERTS_DIR", str(tmp_path))  # no dev key: off
    settings = app_config.from_environment()
    assert settings["GOOGLE_ISSUER_ID"] is None

    monkeypatch.setenv("GOOGLE_ISSUER_ID", "123")
    monkeypatch.setenv("GOOGLE_SERVICE_ACCOUNT_FILE", "/etc/key.json")
    settings = app_config.from_environment()
    assert settings["GOOGLE_ISSUER_ID"] == "123"
    assert settings["GOOGLE_DRY_RUN"] is False


def test_object_missing_at_google_is_inserted_again(
    google_app: Flask, client: FlaskClient, demo: Demo, google_stand_in: GoogleStandIn
) -> None:
    card_token = demo.passes[0].card_token
    assert client.get(f"/c/{card_token}/google").status_code == 303
    google_stand_in.objects.clear()
    with google_app.app_context():
        member = member_by_token(card_token)
        member.points = 5
        assert google_wallet.sync_object(member)
        db.session.commit()
    statuses = [
        (c.method, c.status) for c in google_stand_in.calls(path="/loyaltyObject")
    ]
    assert statuses[-2:] == [("PATCH", 404), ("POST", 200)]
    assert object_of_app(google_app, google_stand_in, card_token)["loyaltyPoints"][
        "balance"
    ] == {"int": 5}


def test_a_key_google_does_not_know_is_a_permanent_error(
    google_app: Flask,
    demo: Demo,
    google_stand_in: GoogleStandIn,
    google_service_account: dict[str, str],
    tmp_path: Path,
) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = other.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    key_file = tmp_path / "other.json"
    key_file.write_text(json.dumps({**google_service_account, "private_key": pem}))
    google_app.config["GOOGLE_SERVICE_ACCOUNT_FILE"] = str(key_file)
    with google_app.app_context():
        member = member_by_token(demo.passes[0].card_token)
        with pytest.raises(google_wallet.GooglePermanentError, match="access token"):
            google_wallet.ensure_object(member)
    assert google_stand_in.calls() == []
