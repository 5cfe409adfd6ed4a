"""Property-based fuzzing of the JSON APIs against their OpenAPI document.

schemathesis generates requests from the document and sends them to the WSGI app
in-process; every answer must be a documented status with a documented content
type and body schema, and never a 500. Bounded (few examples per operation) and
derandomized so the suite stays fast and a failure reproduces.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.api.openapi import build_document
from tests.app.pos_support import make_key
from tests.conftest import Demo

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
OPERATIONS = [
    (path, method)
    for path, item in build_document()["paths"].items()
    for method in ("get", "post", "delete")
    if method in item
]
NEGATIVE_CHECKS = [
    not_a_server_error,
    content_type_conformance,
    response_schema_conformance,
]
MAX_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))


CARD_BODIES = {"/api/v1/pos/scan", "/api/v1/pos/transactions"}


def _card_code(app: Flask, demo: Demo) -> str:
    from tests.app.pos_support import card

    return card(app, demo.passes[0].member_id).barcode


def _with_code(case: schemathesis.Case, code: str) -> schemathesis.Case:
    if isinstance(case.body, dict):
        case.body["code"] = code
    return case


def _fixed(
    path: str, key: str, demo: Demo, authenticated: bool
) -> tuple[dict[str, str], dict[str, str]]:
    """(path parameters, headers) that make the request authentic, or nothing."""
    if not authenticated:
        return {}, {}
    if path.startswith("/api/v1/pos/"):
        return {}, {"Authorization": f"Bearer {key}"}
    if "{serialNumber}" in path:
        card = demo.passes[0]
        return (
            {"passTypeIdentifier": demo.pass_type, "serialNumber": card.serial},
            {"Authorization": f"ApplePass {card.token}"},
        )
    return {}, {}


@pytest.mark.parametrize(
    "mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"]
)
@pytest.mark.parametrize("authenticated", [True, False], ids=["auth", "noauth"])
@pytest.mark.parametrize(("path", "method"), OPERATIONS)
def test_operation_conforms(
    app: Flask,
    demo: Demo,
    path: str,
    method: str,
    authenticated: bool,
    mode: GenerationMode,
) -> None:
    if not authenticated and path.startswith(("/healthz", "/readyz", "/api/openapi")):
        pytest.skip("no authentication to leave out")
    # Fuzzers are one client address: rate limits would answer 429 (documented, but
    # hiding every other answer).
    # (Limits are read per request; the limiter itself is shared by every app.)
    app.config["RATELIMIT_WALLET"] = "100000 per minute"
    key = make_key(app)
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    operation = schema[path][method.upper()]
    path_parameters, headers = _fixed(path, key, demo, authenticated)
    strategy = operation.as_strategy(
        mode, path_parameters=path_parameters or None, headers=headers or None
    )
    card_code = _card_code(app, demo)
    if mode is GenerationMode.POSITIVE and authenticated and path in CARD_BODIES:
        # Random codes find no card: put a real barcode in, so that purchases are
        # recorded and their answers checked too.
        strategy = strategy.map(lambda case: _with_code(case, card_code))
    statuses: list[int] = []
    # Invalid requests are only documented as "some 4xx" by the error statuses.
    checks = CHECKS if mode is GenerationMode.POSITIVE else NEGATIVE_CHECKS

    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def check(case: schemathesis.Case) -> None:
        statuses.append(case.call_and_validate(checks=checks).status_code)

    try:
        check()
    except Unsatisfiable:
        # Every parameter is fixed or accepts any string: nothing can be invalid.
        assert mode is GenerationMode.NEGATIVE
        pytest.skip("no invalid request can be generated")
    if mode is GenerationMode.POSITIVE and authenticated and path in CARD_BODIES:
        assert any(200 <= status < 300 for status in statuses), statuses


# -- what the fuzzer found, pinned as plain tests --------------------------------


def test_refund_of_an_impossible_id_is_404(app: Flask, demo: Demo) -> None:
    key = make_key(app)
    client = app.test_client()
    for transaction_id in (2**31, 10**20):
        response = client.post(
            f"/api/v1/pos/transactions/{transaction_id}/refund",
            headers={"Authorization": f"Bearer {key}"},
        )
        assert response.status_code == 404
        assert response.get_json()["error"] == "unknown_transaction"


def test_nul_in_device_logs_is_dropped_not_a_500(app: Flask) -> None:
    from sqlalchemy import select

    from app.extensions import db
    from app.models import DeviceLog

    response = app.test_client().post(
        "/wallet/v1/log", json={"logs": ["before\x00after"]}
    )
    assert response.status_code == 200
    with app.app_context():
        assert db.session.scalars(select(DeviceLog.message)).all() == ["beforeafter"]


def test_receipt_id_with_control_characters_is_422(app: Flask, demo: Demo) -> None:
    from tests.app.pos_support import card

    key = make_key(app)
    c = card(app, demo.passes[0].member_id)
    response = app.test_client().post(
        "/api/v1/pos/transactions",
        json={"code": c.barcode, "amount": "100", "receipt_id": "R\x001"},
        headers={"Authorization": f"Bearer {key}", "Idempotency-Key": "nul-receipt"},
    )
    assert response.status_code == 422
    assert response.get_json()["error"] == "invalid_receipt_id"


def test_nul_in_a_path_is_404(app: Flask, demo: Demo) -> None:
    p = demo.passes[0]
    response = app.test_client().get(
        f"/wallet/v1/passes/{demo.pass_type}/{p.serial}%00",
        headers={"Authorization": f"ApplePass {p.token}"},
    )
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"
