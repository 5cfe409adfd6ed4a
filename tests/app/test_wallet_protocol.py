"""Apple's pass web service, exercised the way a device does it."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.extensions import db
from app.models import Device, DeviceLog, Pass, Registration
from app.services.ledger import lock_member, post
from app.services.passes import refresh_pass
from tests.conftest import Demo, DemoPass

DEVICE = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
TOKEN = "f" * 64


def reg_url(demo: Demo, p: DemoPass, device: str = DEVICE) -> str:
    return f"/wallet/v1/devices/{device}/registrations/{demo.pass_type}/{p.serial}"


def list_url(demo: Demo, device: str = DEVICE) -> str:
    return f"/wallet/v1/devices/{device}/registrations/{demo.pass_type}"


def pass_url(demo: Demo, p: DemoPass) -> str:
    return f"/wallet/v1/passes/{demo.pass_type}/{p.serial}"


def auth(p: DemoPass, scheme: str = "ApplePass") -> dict[str, str]:
    return {"Authorization": f"{scheme} {p.token}"}


def register(client: FlaskClient, demo: Demo, p: DemoPass, **kw: object):
    return client.post(
        reg_url(demo, p, kw.pop("device", DEVICE)),  # type: ignore[arg-type]
        json={"pushToken": kw.pop("push_token", TOKEN)},
        headers=auth(p, kw.pop("scheme", "ApplePass")),  # type: ignore[arg-type]
    )


def counts(app: Flask) -> tuple[int, int, int]:
    with app.app_context():
        return tuple(  # type: ignore[return-value]
            db.session.scalar(select(func.count()).select_from(model))
            for model in (Device, Registration, DeviceLog)
        )


def change_points(app: Flask, member_id: int, points: int) -> None:
    with app.app_context():
        # Through the ledger, which keeps Member.points equal to its sum.
        member = lock_member(member_id)
        post(member, "adjustment", points - member.points)
        pass_ = db.session.scalar(select(Pass).where(Pass.member_id == member_id))
        refresh_pass(pass_)
        db.session.commit()


def test_register_new_then_existing_updates_push_token(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    p = demo.passes[0]
    assert register(client, demo, p).status_code == 201
    assert register(client, demo, p, push_token="e" * 64).status_code == 200
    with app.app_context():
        device = db.session.scalar(select(Device))
        assert device.push_token == "e" * 64
        assert device.platform == "apple"
    assert counts(app)[:2] == (1, 1)


def test_android_pass_scheme_works_the_same(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    p = demo.passes[1]
    assert register(client, demo, p, scheme="AndroidPass").status_code == 201
    response = client.get(pass_url(demo, p), headers=auth(p, "AndroidPass"))
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.apple.pkpass"
    with app.app_context():
        assert db.session.scalar(select(Device.platform)) == "android"


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "ApplePass",
        "ApplePass wrong-token-0000000000",
        "Bearer {token}",
        "applepass {token}",
        "ApplePass {other}",
    ],
)
def test_register_with_bad_token_is_401_and_changes_nothing(
    app: Flask, client: FlaskClient, demo: Demo, header: str | None
) -> None:
    p, other = demo.passes[0], demo.passes[1]
    headers = {}
    if header is not None:
        headers["Authorization"] = header.format(token=p.token, other=other.token)
    response = client.post(reg_url(demo, p), json={"pushToken": TOKEN}, headers=headers)
    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthorized"
    assert counts(app)[:2] == (0, 0)


def test_unknown_serial_and_wrong_token_answer_identically(
    client: FlaskClient, demo: Demo
) -> None:
    p = demo.passes[0]
    unknown = client.post(
        f"/wallet/v1/devices/{DEVICE}/registrations/{demo.pass_type}/nope",
        json={"pushToken": TOKEN},
        headers=auth(p),
    )
    wrong = client.post(
        reg_url(demo, p),
        json={"pushToken": TOKEN},
        headers={"Authorization": "ApplePass " + "x" * len(p.token)},
    )
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.get_json() == wrong.get_json()


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("not json", "application/json"),
        ("{}", "application/json"),
        ('{"pushToken": 5}', "application/json"),
        ('{"pushToken": ""}', "application/json"),
        ('{"pushToken": "has space"}', "application/json"),
        ("[1, 2]", "application/json"),
    ],
)
def test_register_with_bad_body_is_400(
    app: Flask, client: FlaskClient, demo: Demo, body: str, content_type: str
) -> None:
    p = demo.passes[0]
    response = client.post(
        reg_url(demo, p), data=body, content_type=content_type, headers=auth(p)
    )
    assert response.status_code == 400
    assert set(response.get_json()) == {"error", "message"}
    assert counts(app)[:2] == (0, 0)


def test_malformed_device_identifier_is_400(client: FlaskClient, demo: Demo) -> None:
    p = demo.passes[0]
    response = client.post(
        reg_url(demo, p, device="bad%20device"),
        json={"pushToken": TOKEN},
        headers=auth(p),
    )
    assert response.status_code == 400


def test_oversize_body_is_413_json(app: Flask, client: FlaskClient, demo: Demo) -> None:
    p = demo.passes[0]
    response = client.post(
        reg_url(demo, p),
        data="x" * (300 * 1024),
        content_type="application/json",
        headers=auth(p),
    )
    assert response.status_code == 413
    assert response.get_json()["error"]
    assert counts(app)[:2] == (0, 0)


def test_list_serials_without_tag_returns_all_then_by_tag(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    first, second, third = demo.passes
    for p in (first, second):
        assert register(client, demo, p).status_code == 201

    everything = client.get(list_url(demo))
    assert everything.status_code == 200
    body = everything.get_json()
    assert sorted(body["serialNumbers"]) == sorted([first.serial, second.serial])
    tag = body["lastUpdated"]
    assert isinstance(tag, str)
    assert tag.isdigit()

    assert (
        client.get(list_url(demo), query_string={"passesUpdatedSince": tag}).status_code
        == 204
    )

    change_points(app, second.member_id, 1250)
    change_points(app, third.member_id, 99)  # not registered on this device
    changed = client.get(list_url(demo), query_string={"passesUpdatedSince": tag})
    assert changed.status_code == 200
    assert changed.get_json()["serialNumbers"] == [second.serial]
    newer = changed.get_json()["lastUpdated"]
    assert int(newer) > int(tag)
    assert (
        client.get(
            list_url(demo), query_string={"passesUpdatedSince": newer}
        ).status_code
        == 204
    )


def test_every_changed_serial_is_listed_with_the_newest_tag(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    for p in demo.passes:
        register(client, demo, p)
    tag = client.get(list_url(demo)).get_json()["lastUpdated"]
    for i, p in enumerate(demo.passes):
        change_points(app, p.member_id, 200 + i)
    body = client.get(
        list_url(demo), query_string={"passesUpdatedSince": tag}
    ).get_json()
    assert sorted(body["serialNumbers"]) == sorted(p.serial for p in demo.passes)
    with app.app_context():
        newest = db.session.scalar(select(func.max(Pass.update_tag)))
    assert body["lastUpdated"] == str(newest)


def test_unchanged_content_does_not_move_the_tag(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    p = demo.passes[0]
    register(client, demo, p)
    tag = client.get(list_url(demo)).get_json()["lastUpdated"]
    with app.app_context():
        pass_ = db.session.scalar(select(Pass).where(Pass.serial_number == p.serial))
        assert refresh_pass(pass_) is False
        db.session.commit()
    assert (
        client.get(list_url(demo), query_string={"passesUpdatedSince": tag}).status_code
        == 204
    )


@pytest.mark.parametrize("tag", ["abc", "-1", "1.5", "9" * 40])
def test_non_integer_tag_is_400(client: FlaskClient, demo: Demo, tag: str) -> None:
    register(client, demo, demo.passes[0])
    response = client.get(list_url(demo), query_string={"passesUpdatedSince": tag})
    assert response.status_code == 400
    assert response.get_json()["error"] == "bad_tag"


def test_list_for_unknown_device_is_204_and_unknown_type_404(
    client: FlaskClient, demo: Demo
) -> None:
    assert client.get(list_url(demo, device="someone-else")).status_code == 204
    response = client.get(f"/wallet/v1/devices/{DEVICE}/registrations/pass.unknown")
    assert response.status_code == 404
    assert response.get_json()["error"] == "unknown_pass_type"


def test_latest_pass_with_last_modified_and_304(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    p = demo.passes[0]
    response = client.get(pass_url(demo, p), headers=auth(p))
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.apple.pkpass"
    modified = response.last_modified
    assert modified is not None
    pass_json = json.loads(zipfile.ZipFile(io.BytesIO(response.data)).read("pass.json"))
    assert pass_json["serialNumber"] == p.serial
    assert pass_json["authenticationToken"] == p.token
    assert pass_json["webServiceURL"] == "https://wallet.test/wallet"

    since = {"If-Modified-Since": response.headers["Last-Modified"], **auth(p)}
    not_modified = client.get(pass_url(demo, p), headers=since)
    assert not_modified.status_code == 304
    assert not_modified.data == b""

    change_points(app, p.member_id, 1250)
    updated = client.get(pass_url(demo, p), headers=since)
    assert updated.status_code == 200
    assert updated.last_modified > modified
    new_json = json.loads(zipfile.ZipFile(io.BytesIO(updated.data)).read("pass.json"))
    assert new_json["storeCard"]["headerFields"][0]["value"] == 1250


def test_two_changes_within_one_second_still_move_last_modified(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    p = demo.passes[0]
    first = client.get(pass_url(demo, p), headers=auth(p))
    change_points(app, p.member_id, 10)
    second = client.get(pass_url(demo, p), headers=auth(p))
    change_points(app, p.member_id, 20)
    third = client.get(
        pass_url(demo, p),
        headers={"If-Modified-Since": second.headers["Last-Modified"], **auth(p)},
    )
    assert first.last_modified < second.last_modified
    assert third.status_code == 200


def test_latest_pass_bad_token_is_401(client: FlaskClient, demo: Demo) -> None:
    p = demo.passes[0]
    assert client.get(pass_url(demo, p)).status_code == 401
    other = demo.passes[1]
    assert client.get(pass_url(demo, p), headers=auth(other)).status_code == 401
    old = format_datetime(datetime(2000, 1, 1, tzinfo=UTC), usegmt=True)
    assert (
        client.get(pass_url(demo, p), headers={"If-Modified-Since": old}).status_code
        == 401
    )


def test_unregister_removes_registration_then_device(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    first, second = demo.passes[0], demo.passes[1]
    register(client, demo, first)
    register(client, demo, second)
    assert client.delete(reg_url(demo, first), headers=auth(first)).status_code == 200
    assert counts(app)[:2] == (1, 1)
    assert client.delete(reg_url(demo, second), headers=auth(second)).status_code == 200
    assert counts(app)[:2] == (0, 0)
    assert client.get(list_url(demo)).status_code == 204


def test_unregister_with_bad_token_is_401(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    p = demo.passes[0]
    register(client, demo, p)
    response = client.delete(reg_url(demo, p), headers=auth(demo.passes[1]))
    assert response.status_code == 401
    assert counts(app)[:2] == (1, 1)


def test_log_endpoint_stores_messages(app: Flask, client: FlaskClient) -> None:
    logs = ["Web service error for pass.test: 401", "x" * 5000]
    assert client.post("/wallet/v1/log", json={"logs": logs}).status_code == 200
    with app.app_context():
        stored = db.session.scalars(
            select(DeviceLog.message).order_by(DeviceLog.id)
        ).all()
    assert stored[0] == logs[0]
    assert len(stored[1]) == 1000  # wallet.MAX_LOG_LENGTH


@pytest.mark.parametrize(
    "body", ['{"logs": "text"}', '{"logs": [1]}', "{}", "nonsense"]
)
def test_log_endpoint_rejects_bad_bodies(
    app: Flask, client: FlaskClient, body: str
) -> None:
    response = client.post("/wallet/v1/log", data=body, content_type="application/json")
    assert response.status_code == 400
    assert counts(app)[2] == 0


def test_trailing_slash_in_base_url_is_tolerated(
    client: FlaskClient, demo: Demo
) -> None:
    p = demo.passes[0]
    response = client.post(
        f"/wallet//v1/devices/{DEVICE}/registrations/{demo.pass_type}/{p.serial}",
        json={"pushToken": TOKEN},
        headers=auth(p),
    )
    assert response.status_code == 201
