"""No 500 on any input (issue 14 §6): each input class the fuzzing found, pinned.

Unicode digits ("²" passes str.isdigit(), int() refuses it), huge exponents,
non-ASCII where bytes are compared, and JSON nested deeper than the parser
recurses: each is a clear 4xx, and nothing changes.
"""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.bodies import MAX_JSON_DEPTH
from app.extensions import db
from app.models import DeviceLog, Member, Store
from tests.app.pos_support import card, make_key
from tests.conftest import Demo

DEEP = "[" * 100_000 + "]" * 100_000
DEEP_OBJECT = '{"a":' * 30_000 + "1" + "}" * 30_000  # within MAX_CONTENT_LENGTH


def _members(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Member)) or 0


def test_unicode_digits_in_passes_updated_since_are_400(
    client: FlaskClient, demo: Demo
) -> None:
    for tag in ("²", "١٢", "1²"):
        response = client.get(
            f"/wallet/v1/devices/dev1/registrations/{demo.pass_type}",
            query_string={"passesUpdatedSince": tag},
        )
        assert response.status_code == 400, tag
        assert response.get_json()["error"] == "bad_tag"


def test_unicode_digits_as_the_sign_up_store_show_the_form_again(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    with app.app_context():
        store = db.session.scalar(select(Store.id).where(Store.code == "msk-atrium"))
    before = _members(app)
    for value in ("²", "١", f"{store}²"):
        response = client.post(
            "/join",
            data={
                "name": "Мария",
                "phone": "+7 912 345-67-89",
                "store": value,
                "city": "",
                "language": "ru",
                "consent": "on",
            },
        )
        assert response.status_code == 422, value
        assert "Выберите магазин или город" in response.text
    assert _members(app) == before


def test_unicode_digits_as_program_id_with_an_admin_key_are_422(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    from app.services.auth import create_key

    with app.app_context():
        key = create_key("admin").key
        db.session.commit()
    for value in ("²", "١"):
        response = client.get(
            "/api/v1/stores",
            query_string={"program_id": value},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert response.status_code == 422, value
        assert response.get_json()["error"] == "program_required"


@pytest.mark.parametrize("code", ["123456789012-ÄÖÜ", "123456789012-ß", "x-\u00a0"])
def test_a_barcode_with_non_ascii_after_the_dash_is_not_found(
    app: Flask, client: FlaskClient, demo: Demo, code: str
) -> None:
    real = card(app, demo.passes[0].member_id)
    for candidate in (code, real.number + "-ÄÖÜÄÖÜÄÖÜÄ"):
        response = client.post(
            "/api/v1/pos/scan",
            json={"code": candidate},
            headers={"Authorization": f"Bearer {make_key(app)}"},
        )
        assert response.status_code in (404, 422), (candidate, response.get_json())
        assert set(response.get_json()) >= {"error", "message"}


@pytest.mark.parametrize(
    "amount",
    ["1e999999", "1E+999999", "-1e999999", "1e-999999", "9" * 5000, 1e308],
)
def test_absurd_amounts_are_422(
    app: Flask, client: FlaskClient, demo: Demo, amount: object
) -> None:
    real = card(app, demo.passes[0].member_id)
    response = client.post(
        "/api/v1/pos/transactions",
        json={"code": real.barcode, "amount": amount, "receipt_id": "R-1"},
        headers={
            "Authorization": f"Bearer {make_key(app)}",
            "Idempotency-Key": f"absurd-{str(amount)[:20]}",
        },
    )
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["error"] == "invalid_amount"


def test_a_huge_exponent_as_a_json_number_is_422(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    real = card(app, demo.passes[0].member_id)
    response = client.post(
        "/api/v1/pos/transactions",
        data=f'{{"code": "{real.barcode}", "amount": 1e999999, "receipt_id": "R-2"}}',
        content_type="application/json",
        headers={
            "Authorization": f"Bearer {make_key(app)}",
            "Idempotency-Key": "absurd-number",
        },
    )
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["error"] == "invalid_amount"


@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT], ids=["array", "object"])
def test_deeply_nested_json_is_400_everywhere(
    app: Flask, client: FlaskClient, demo: Demo, body: str
) -> None:
    p = demo.passes[0]
    pos = {"Authorization": f"Bearer {make_key(app)}", "Idempotency-Key": "deep"}
    marketer = {"Authorization": f"Bearer {make_key(app, 'marketer')}"}
    targets = [
        ("/wallet/v1/log", {}),
        (
            f"/wallet/v1/devices/dev1/registrations/{demo.pass_type}/{p.serial}",
            {"Authorization": f"ApplePass {p.token}"},
        ),
        ("/api/v1/pos/scan", pos),
        ("/api/v1/pos/transactions", pos),
        ("/api/v1/campaigns", marketer),
        ("/api/v1/products", marketer),
        ("/api/v1/segments/preview", marketer),
    ]
    for url, headers in targets:
        for content_type in ("application/json", None):
            response = client.post(
                url, data=body, headers=headers, content_type=content_type
            )
            assert response.status_code == 400, (url, response.status_code)
            assert response.get_json() == {
                "error": "json_too_deep",
                "message": f"JSON nested deeper than {MAX_JSON_DEPTH} levels",
            }
    response = client.patch("/api/v1/program", data=body, headers=marketer)
    assert response.status_code == 400
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(DeviceLog)) == 0


def test_deeply_nested_json_to_google_callbacks_is_400(
    google_app: Flask, client: FlaskClient, demo: Demo
) -> None:
    # 16 KB of brackets: within the callback size limit, far past the depth limit.
    response = client.post(
        "/google/callbacks",
        data="[" * 8000 + "]" * 8000,
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "json_too_deep"


def test_nesting_within_the_limit_still_parses(client: FlaskClient) -> None:
    nested: object = "message"
    for _ in range(MAX_JSON_DEPTH - 2):
        nested = [nested]
    # A valid document of the allowed depth reaches the view (which refuses its
    # shape, not its depth); brackets inside strings do not count.
    response = client.post("/wallet/v1/log", json={"logs": nested})
    assert response.get_json()["error"] == "bad_logs"
    text = client.post("/wallet/v1/log", json={"logs": ["[" * 500]})
    assert text.status_code == 200


def test_deeply_nested_form_posts_are_not_json(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    """Form bodies are left to the form (brackets in a field are just text)."""
    response = client.post(
        "/join", data={"name": "[" * 1000, "phone": "1", "language": "ru"}
    )
    assert response.status_code == 422


def test_nul_in_the_program_slug_with_an_admin_key_is_422(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    """Found by the fuzzer on PostgreSQL (which refuses NUL in text): a 400 that
    these operations do not document; it names no program."""
    from app.services.auth import create_key

    with app.app_context():
        key = create_key("admin").key
        db.session.commit()
    for url in ("/api/v1/stores", "/api/v1/products", "/api/v1/automations"):
        response = client.get(
            url,
            query_string={"program": "demo\x00"},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert response.status_code == 422, url
        assert response.get_json()["error"] == "program_required"


@pytest.mark.parametrize("path", ["/api/v1/pos/scan", "/api/v1/pos/subscriptions"])
def test_a_code_with_control_characters_names_no_card(
    app: Flask, client: FlaskClient, demo: Demo, path: str
) -> None:
    key = make_key(app)
    answer = client.post(
        path,
        json={"code": "1234\x00-ABC", "sku": "X", "size": "M"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert answer.status_code == 404, answer.get_json()
    assert answer.get_json()["error"] == "unknown_card"
