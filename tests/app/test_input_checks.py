"""One way to check input (app.services.checks) and one way to read a JSON body
(app.api.body) for the marketer and admin APIs: the same kind of bad value gets
the same clear 422 everywhere, and a body is read by one documented rule."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.extensions import db
from app.models import Campaign, Product, Store
from app.services import checks
from app.services.errors import Invalid, Malformed
from tests.app.marketing_support import auth, marketer_key
from tests.conftest import Demo

# -- the module ----------------------------------------------------------------


def test_json_object_rules() -> None:
    assert checks.json_object(b"") == {}
    assert checks.json_object(b"  \n") == {}
    assert checks.json_object(b'{"a": 1}') == {"a": 1}
    assert checks.json_object(b'{"a": 1.5}', parse_float=Decimal) == {
        "a": Decimal("1.5")
    }
    for not_json in (b"{", b"NaN", b'{"a": Infinity}', b"\xff\xfe", b"[" * 100_000):
        with pytest.raises(Malformed) as raised:
            checks.json_object(not_json)
        assert raised.value.code == "invalid_json"
    for not_object in (b"[]", b"null", b"1", b'"x"'):
        with pytest.raises(Invalid) as raised:
            checks.json_object(not_object)
        assert raised.value.code == "invalid_body"


def test_whole_numbers_and_numbers() -> None:
    assert checks.whole(5, "hour", 0, 23, "bad") == 5
    for value in (True, 5.0, "5", None, 24, -1, 2**70):
        with pytest.raises(Invalid) as raised:
            checks.whole(value, "hour", 0, 23, "bad")
        assert raised.value.message == "hour must be a whole number from 0 to 23"
    assert checks.number(2, "factor", 1, 20, "bad") == 2.0
    for value in (False, float("nan"), float("inf"), 0.5, "2"):
        with pytest.raises(Invalid):
            checks.number(value, "factor", 1, 20, "bad")


def test_one_text_check_refuses_control_characters_everywhere() -> None:
    assert checks.text("  Кафе  ", "name", "bad", longest=10) == "Кафе"
    assert checks.text("a\r\nb", "terms", "bad", longest=10, multiline=True) == "a\nb"
    for value in ("bell\x07", "nul\x00", "esc\x1b[31m", "del\x7f", "two\nlines"):
        with pytest.raises(Invalid) as raised:
            checks.text(value, "name", "bad", longest=50)
        assert raised.value.message.startswith("name must not contain")
    with pytest.raises(Invalid):
        checks.text("tab\x0b", "terms", "bad", longest=50, multiline=True)


def test_localized_texts() -> None:
    assert checks.localized({"en": " Hi ", "ru": "Привет"}, "t", "bad", longest=9) == {
        "ru": "Привет",
        "en": "Hi",
    }
    # Empty or null languages are left out; Russian is needed when any is given.
    assert (
        checks.localized({"ru": "", "en": None}, "t", "bad", longest=9, required=False)
        == {}
    )
    cases = [
        ("text", 't must be {"ru": ..., "en": ...}'),
        ({"en": "Hi"}, "t.ru (the Russian text) is required"),
        ({"ru": "a", "de": "b"}, "t languages: unknown de (known: ru, en)"),
        ({"ru": "x" * 10}, "t.ru: 1-9 characters"),
        ({"ru": 5}, "t.ru must be text"),
        ({"ru": "ok", "en": "bad\x00"}, "t.en must not contain control characters"),
    ]
    for value, message in cases:
        with pytest.raises(Invalid) as raised:
            checks.localized(value, "t", "bad", longest=9)
        assert raised.value.message == message


def test_money_and_one_of() -> None:
    assert checks.money("2499.90", "amount", "bad") == Decimal("2499.90")
    for value in ("1e999999", "0.001", "-1", "NaN", True, [1]):
        with pytest.raises(Invalid):
            checks.money(value, "amount", "bad")
    assert checks.one_of("down", "rounding", ("down", "up"), "bad") == "down"
    with pytest.raises(Invalid):
        checks.one_of("sideways", "rounding", ("down", "up"), "bad")


# -- the APIs ------------------------------------------------------------------

JSON_ENDPOINTS = [
    ("post", "/api/v1/segments/preview"),
    ("post", "/api/v1/campaigns"),
    ("patch", "/api/v1/automations"),
    ("post", "/api/v1/automations/welcome/run"),
    ("post", "/api/v1/products"),
    ("post", "/api/v1/stores"),
    ("patch", "/api/v1/program"),
    ("post", "/api/v1/program/preview"),
]


def _send(client: FlaskClient, method: str, path: str, key: str, data: bytes) -> object:
    return client.open(
        path,
        method=method.upper(),
        data=data,
        headers={**auth(key), "Content-Type": "application/json"},
    )


@pytest.mark.parametrize(("method", "path"), JSON_ENDPOINTS)
def test_every_json_api_reads_a_body_the_same_way(
    app: Flask, client: FlaskClient, demo: Demo, method: str, path: str
) -> None:
    key = marketer_key(app, demo.program_id)
    for not_json in (b"{", b'{"a": NaN}', b"\xff", b"[" * 100_000):
        answer = _send(client, method, path, key, not_json)
        assert answer.status_code == 400, (not_json[:10], answer.get_json())  # type: ignore[attr-defined]
        # Too deep is refused before parsing (app/bodies.py), with its own code.
        expected = "json_too_deep" if not_json.startswith(b"[[") else "invalid_json"
        assert answer.get_json()["error"] == expected  # type: ignore[attr-defined]
    answer = _send(client, method, path, key, b"[]")
    assert answer.status_code == 422  # type: ignore[attr-defined]
    assert answer.get_json()["error"] == "invalid_body"  # type: ignore[attr-defined]
    # An empty body is {}: never "not JSON"; what it lacks is named instead.
    empty = _send(client, method, path, key, b"")
    assert empty.status_code in (200, 422), empty.get_json()  # type: ignore[attr-defined]
    # ... and the Content-Type is not needed.
    bare = client.open(path, method=method.upper(), data=b"[]", headers=auth(key))
    assert bare.get_json()["error"] == "invalid_body"


def test_an_empty_body_means_no_fields(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    key = marketer_key(app, demo.program_id)
    preview = client.post("/api/v1/segments/preview", data=b"", headers=auth(key))
    assert preview.status_code == 422
    assert preview.get_json()["error"] == "invalid_segment"
    unchanged = client.patch("/api/v1/program", data=b"", headers=auth(key))
    assert unchanged.status_code == 200
    assert unchanged.get_json()["changed"] == []
    product = client.post("/api/v1/products", data=b"", headers=auth(key))
    assert product.status_code == 422
    assert product.get_json()["error"] == "invalid_sku"


def _count(app: Flask, model: type) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model)) or 0


def test_control_characters_are_refused_in_every_text(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    key = marketer_key(app, demo.program_id)
    store = {
        "code": "msk-ctl",
        "name": "Магазин\x07",
        "city": "Москва",
        "address": "ул. Новая, 1",
        "latitude": 55.7,
        "longitude": 37.6,
        "relevant_text": "Рядом",
    }
    stores_before = _count(app, Store)
    answer = client.post("/api/v1/stores", json=store, headers=auth(key))
    assert answer.status_code == 422
    assert answer.get_json() == {
        "error": "invalid_name",
        "message": "name must not contain line breaks or control characters",
    }
    assert _count(app, Store) == stores_before
    answer = client.post(
        "/api/v1/products",
        json={"sku": "CTL-1", "name": {"ru": "Товар\x1b[31m"}},
        headers=auth(key),
    )
    assert answer.status_code == 422
    assert answer.get_json()["error"] == "invalid_name"
    assert "name.ru" in answer.get_json()["message"]
    assert _count(app, Product) == 0
    answer = client.post(
        "/api/v1/campaigns",
        json={"texts": {"ru": "Скидка\x00"}, "segment": {"all": {}}},
        headers=auth(key),
    )
    assert answer.status_code == 422
    assert answer.get_json()["error"] == "invalid_campaign"
    assert _count(app, Campaign) == 0
    answer = client.patch(
        "/api/v1/automations",
        json={"welcome": {"settings": {"texts": {"ru": "Привет\x08"}}}},
        headers=auth(key),
    )
    assert answer.status_code == 422
    assert answer.get_json()["error"] == "invalid_texts"
    answer = client.post(
        f"/api/v1/members/{demo.passes[0].member_id}/points",
        json={"points": 10, "reason": "bonus\x07"},
        headers=auth(key),
    )
    assert answer.status_code == 422
    assert answer.get_json()["error"] == "invalid_reason"


def test_unicode_digits_in_program_id_are_a_clear_422(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    key = marketer_key(app, demo.program_id, role="admin")
    for raw in ("²", "١", "9" * 5000):
        answer = client.get(
            "/api/v1/automations", query_string={"program_id": raw}, headers=auth(key)
        )
        assert answer.status_code == 422, raw[:5]
        assert answer.get_json()["error"] == "program_required"
    # A slug with NUL (PostgreSQL refuses it in a query: was a 400 invalid_data).
    for slug in ("\x00", "demo\x00", "x" * 1000):
        answer = client.get(
            "/api/v1/members", query_string={"program": slug}, headers=auth(key)
        )
        assert answer.status_code == 422, slug[:5]
        assert answer.get_json()["error"] == "program_required"
    answer = client.get(
        "/api/v1/stats?days=²", headers=auth(marketer_key(app, demo.program_id))
    )
    assert answer.status_code == 422
    assert answer.get_json()["error"] == "invalid_days"
    assert (
        json.loads(answer.get_data())["message"]
        == "days must be a whole number from 1 to 366"
    )
