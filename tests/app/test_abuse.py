"""Cheap abuse (issue 14 §5): device logs, made-up registrations, Google callbacks,
per-device rate limits."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.extensions import db
from app.models import (
    Device,
    DeviceLog,
    GoogleCallback,
    Pass,
    Registration,
    WalletEvent,
)
from app.services import scheduler, wallet
from tests.conftest import GOOGLE_ISSUER, Demo, DemoPass
from tests.support.google_callbacks import CallbackSigner

LOG = "/wallet/v1/log"


def _log_rows(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(DeviceLog)) or 0


def reg_url(demo: Demo, p: DemoPass, device: str) -> str:
    return f"/wallet/v1/devices/{device}/registrations/{demo.pass_type}/{p.serial}"


def auth(p: DemoPass) -> dict[str, str]:
    return {"Authorization": f"ApplePass {p.token}"}


# -- /wallet/v1/log --------------------------------------------------------------


def test_log_requests_are_capped_in_entries_and_size(
    app: Flask, client: FlaskClient
) -> None:
    many = client.post(LOG, json={"logs": ["x"] * (wallet.MAX_LOG_ENTRIES + 1)})
    assert many.status_code == 413
    assert many.get_json()["error"] == "too_many_logs"
    big = client.post(LOG, json={"logs": ["y" * 900] * 40})  # 40 entries, ~36 KB
    assert big.status_code == 413
    assert big.get_json() == {
        "error": "log_too_large",
        "message": f"A log request carries at most {wallet.MAX_LOG_BODY} bytes",
    }
    assert _log_rows(app) == 0
    ok = client.post(LOG, json={"logs": ["z" * 5000] * 5})
    assert ok.status_code == 200
    with app.app_context():
        lengths = db.session.scalars(select(func.length(DeviceLog.message))).all()
    assert lengths == [wallet.MAX_LOG_LENGTH] * 5


def test_the_log_has_its_own_rate_limit(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    app.config["RATELIMIT_WALLET_LOG"] = "2 per minute"
    statuses = [client.post(LOG, json={"logs": ["a"]}).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    limited = client.post(LOG, json={"logs": ["a"]})
    assert limited.get_json()["error"] == "too_many_requests"
    assert _log_rows(app) == 2
    # The rest of the web service is not affected.
    listed = client.get(f"/wallet/v1/devices/dev1/registrations/{demo.pass_type}")
    assert listed.status_code == 204


def test_log_rows_older_than_30_days_are_deleted_by_a_job(app: Flask) -> None:
    now = datetime.now(UTC)
    with app.app_context():
        for age in (31, 29, 0):
            db.session.add(
                DeviceLog(
                    message=f"{age} days",
                    client_address="203.0.113.9",
                    created_at=now - timedelta(days=age),
                )
            )
        db.session.commit()
        assert scheduler.run_due(now)["device_logs"] == "ok"
        kept = db.session.scalars(select(DeviceLog.message).order_by(DeviceLog.id))
        assert kept.all() == ["29 days", "0 days"]


def test_the_wallet_service_reads_json_without_a_content_type(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    p = demo.passes[0]
    body = json.dumps({"pushToken": "abc123"})
    for content_type, device in ((None, "dev-none"), ("text/plain", "dev-text")):
        headers = auth(p) | ({"Content-Type": content_type} if content_type else {})
        response = client.post(reg_url(demo, p, device), data=body, headers=headers)
        assert response.status_code == 201, (content_type, response.data)
    logged = client.post(LOG, data=json.dumps({"logs": ["from android"]}))
    assert logged.status_code == 200
    assert _log_rows(app) == 1


# -- registrations -----------------------------------------------------------------


def test_a_pass_keeps_at_most_10_devices_the_oldest_goes(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    p, other = demo.passes[0], demo.passes[1]
    # dev-0 is also registered for another pass: it stays as a device.
    assert (
        client.post(
            reg_url(demo, other, "dev-0"), json={"pushToken": "t0"}, headers=auth(other)
        ).status_code
        == 201
    )
    for n in range(wallet.MAX_DEVICES_PER_PASS + 2):
        response = client.post(
            reg_url(demo, p, f"dev-{n}"), json={"pushToken": f"t{n}"}, headers=auth(p)
        )
        assert response.status_code == 201
    with app.app_context():
        devices = db.session.scalars(
            select(Device.device_library_identifier)
            .join(Registration, Registration.device_id == Device.id)
            .join(Pass, Pass.id == Registration.pass_id)
            .where(Pass.serial_number == p.serial)
            .order_by(Registration.id)
        ).all()
        assert devices == [f"dev-{n}" for n in range(2, 12)]
        known = set(db.session.scalars(select(Device.device_library_identifier)))
        assert "dev-1" not in known  # no registration left: the device went too
        assert "dev-0" in known  # still registered for the other pass
        kinds = db.session.scalars(select(WalletEvent.kind)).all()
        assert kinds.count("install") == 13
        assert kinds.count("uninstall") == 2
    # The evicted device asks again: a registration again (and another goes).
    again = client.post(
        reg_url(demo, p, "dev-1"), json={"pushToken": "t1"}, headers=auth(p)
    )
    assert again.status_code == 201
    with app.app_context():
        count = db.session.scalar(
            select(func.count())
            .select_from(Registration)
            .where(Registration.pass_.has(serial_number=p.serial))
        )
        assert count == wallet.MAX_DEVICES_PER_PASS


# -- per-device rate limits ----------------------------------------------------------


def test_the_wallet_service_counts_per_device_not_per_address(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    """Phones behind one carrier NAT each get their own allowance."""
    app.config["RATELIMIT_WALLET"] = "2 per minute"
    one = f"/wallet/v1/devices/phone-1/registrations/{demo.pass_type}"
    two = f"/wallet/v1/devices/phone-2/registrations/{demo.pass_type}"
    assert [client.get(one).status_code for _ in range(3)] == [204, 204, 429]
    assert client.get(two).status_code == 204
    # A pass's own requests count per pass.
    p = demo.passes[0]
    url = f"/wallet/v1/passes/{demo.pass_type}/{p.serial}"
    assert [client.get(url, headers=auth(p)).status_code for _ in range(3)] == [
        200,
        200,
        429,
    ]
    other = demo.passes[1]
    other_url = f"/wallet/v1/passes/{demo.pass_type}/{other.serial}"
    assert client.get(other_url, headers=auth(other)).status_code == 200


def test_made_up_devices_still_meet_the_per_address_limit(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    app.config["RATELIMIT_WALLET_ADDRESS"] = "3 per minute"
    statuses = [
        client.get(
            f"/wallet/v1/devices/made-up-{n}/registrations/{demo.pass_type}"
        ).status_code
        for n in range(4)
    ]
    assert statuses == [204, 204, 204, 429]
    elsewhere = client.get(
        f"/wallet/v1/devices/made-up-9/registrations/{demo.pass_type}",
        environ_base={"REMOTE_ADDR": "10.1.2.3"},
    )
    assert elsewhere.status_code == 204


# -- Google callbacks --------------------------------------------------------------


def _object_id(client: FlaskClient, app: Flask, demo: Demo) -> str:
    from app.models import GoogleObject

    assert client.get(f"/c/{demo.passes[0].card_token}/google").status_code == 303
    with app.app_context():
        return str(db.session.scalar(select(GoogleObject.object_id)))


def test_callbacks_with_many_signatures_are_refused_before_any_verification(
    google_app: Flask,
    client: FlaskClient,
    demo: Demo,
    callback_signer: CallbackSigner,
) -> None:
    object_id = _object_id(client, google_app, demo)
    good = callback_signer.body(GOOGLE_ISSUER, object_id)
    signature = good["intermediateSigningKey"]["signatures"][0]
    # Many wrong signatures (the real one last): refused by count alone.
    flood = json.loads(json.dumps(good))
    flood["intermediateSigningKey"]["signatures"] = ["MEUCIQ" + "A" * 90] * 100 + [
        signature
    ]
    response = client.post("/google/callbacks", json=flood)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_callback"
    # A few are fine (Google signs with one or two root keys).
    few = json.loads(json.dumps(good))
    few["intermediateSigningKey"]["signatures"] = ["MEUCIQ" + "A" * 90, signature]
    assert client.post("/google/callbacks", json=few).status_code == 200
    with google_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(GoogleCallback)) == 1


def test_oversized_callbacks_are_413_before_parsing(
    google_app: Flask, client: FlaskClient, demo: Demo
) -> None:
    response = client.post(
        "/google/callbacks",
        data=b"{" + b" " * (20 * 1024) + b"}",
        content_type="application/json",
    )
    assert response.status_code == 413
    assert response.get_json()["error"] == "callback_too_large"


def test_callbacks_are_rate_limited(
    google_app: Flask, client: FlaskClient, demo: Demo
) -> None:
    google_app.config["RATELIMIT_GOOGLE_CALLBACKS"] = "2 per minute"
    statuses = [
        client.post("/google/callbacks", json={"protocolVersion": "x"}).status_code
        for _ in range(3)
    ]
    assert statuses == [400, 400, 429]
