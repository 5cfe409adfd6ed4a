"""Property-based fuzzing of the JSON APIs against their OpenAPI document.

schemathesis generates requests from the document and sends them to the WSGI app
in-process; every answer must be a documented status with a documented content
type and body schema, never a 500, and an error answer (4xx) must change nothing in
the database. Each operation runs with the credentials its security scheme names
(a pos key bound to a store, a marketer key of the demo program, the pass's own
ApplePass token), with an admin key where admins are allowed, with a key of the
wrong role, and with none. Path parameters and ids in bodies are, for part of the
examples, real ones (a draft campaign, a product, a member...), so that the
authorized paths are exercised, not only their 404s. Bounded (few examples per
operation) and derandomized so the suite stays fast and a failure reproduces.

A third mode, "hostile", takes valid requests and puts one value of a class that
has caused 500s (Unicode digits such as "²", huge exponents such as "1e999999",
JSON nested far deeper than anything legitimate, NUL, over-long strings, barcodes
with non-ASCII after the dash) in one place: a path parameter, a query parameter
(including the undocumented ones views read, like `program_id`), a body field, or
the whole body. The public forms (/join, the card page's) get the same values in
their fields (`test_forms_survive_hostile_values`).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import event, select
from sqlalchemy.engine import Engine

from app.api.openapi import build_document
from app.extensions import db
from tests.app.pos_support import card, make_key
from tests.conftest import Demo

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
# Invalid requests are only documented as "some 4xx" by the error statuses.
NEGATIVE_CHECKS = [
    not_a_server_error,
    content_type_conformance,
    response_schema_conformance,
]
DOCUMENT = build_document()
METHODS = ("get", "put", "post", "delete", "patch")
OPERATIONS = [
    (path, method)
    for path, item in DOCUMENT["paths"].items()
    for method in METHODS
    if method in item
]
# Examples per operation and run. FUZZ_EXAMPLES (25) sets the run with the right
# credentials; the others scale with it (FUZZ_EXAMPLES=400 for a deeper hunt).
SCALE = int(os.environ.get("FUZZ_EXAMPLES", "25")) / 25
EXAMPLES = {"key": 25, "admin": 10, "wrong": 3, "none": 5}


# -- hostile values: the input classes that have caused 500s ----------------------


def _nested(depth: int, kind: str) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value] if kind == "list" else {"a": value}
    return value


_UNICODE_DIGITS = st.text(
    st.characters(categories=("Nd", "No"), exclude_characters="0123456789"),
    min_size=1,
    max_size=4,
)
# One strategy per class; every place of a request gets every class (HOSTILE).
HOSTILE_CLASSES: list[st.SearchStrategy[Any]] = [
    _UNICODE_DIGITS,  # "²" passes str.isdigit(); int() refuses it
    st.builds(
        str.__add__, st.from_regex(r"[0-9]{1,6}", fullmatch=True), _UNICODE_DIGITS
    ),
    st.builds(  # Decimal accepts them; arithmetic on them overflows
        "{}e{}{}".format,
        st.integers(1, 9),
        st.sampled_from(["", "+", "-"]),
        st.integers(300, 10**9),
    ),
    st.builds("{}\x00{}".format, st.text(max_size=5), st.text(max_size=5)),
    st.builds(  # over-long
        str.__mul__,
        st.sampled_from(["x", "9", "я", "²", "[", "%"]),
        st.sampled_from([300, 5_000, 70_000]),
    ),
    st.builds(  # a card number, then non-ASCII where the MAC goes
        "{}-{}".format,
        st.from_regex(r"[0-9]{12}", fullmatch=True),
        st.text(min_size=1, max_size=12),
    ),
    # Nested past the limit (app.bodies): a structure in JSON, its text elsewhere.
    st.builds(_nested, st.integers(65, 400), st.sampled_from(["list", "dict"])),
    st.sampled_from([1e308, -1e308, 10**30, -(2**63), 2**64, "NaN", "-0"]),
]
# Valid requests per operation made hostile, each in every place with every class.
HOSTILE_EXAMPLES = 1
# Query parameters views read that the document does not list everywhere.
EXTRA_QUERY = ("program_id", "program", "page", "passesUpdatedSince", "lang")

Spot = tuple[str, str | None]


def _spots(case: schemathesis.Case) -> list[Spot]:
    """Every place of a request a value can go: path and query parameters, body
    fields, the whole (JSON) body."""
    spots: list[Spot] = [("path", name) for name in sorted(case.path_parameters)]
    names = sorted(set(case.query or {}) | set(EXTRA_QUERY))
    spots += [("query", name) for name in names]
    if isinstance(case.body, dict):
        spots += [("body", name) for name in sorted(case.body)]
    if "json" in (case.media_type or ""):
        spots.append(("body", None))
    return spots


def _put(case: schemathesis.Case, spot: Spot, value: Any) -> Callable[[], None]:
    """Put `value` at `spot` of the case; returns what puts the case back."""
    where, name = spot
    text = value if isinstance(value, str) else json.dumps(value)
    if where == "path" and name is not None:
        old_path = case.path_parameters[name]
        case.path_parameters[name] = text
        return lambda: case.path_parameters.__setitem__(name, old_path)
    if where == "query" and name is not None:
        old_query = dict(case.query or {})
        case.query = {**old_query, name: text}
        return lambda: setattr(case, "query", old_query)
    old_body = case.body
    if name is None:
        case.body = value
        return lambda: setattr(case, "body", old_body)
    assert isinstance(old_body, dict)  # (_spots names fields of dict bodies only)
    field = dict(old_body)
    field[name] = value if "json" in (case.media_type or "") else text
    case.body = field
    return lambda: setattr(case, "body", old_body)


# Which credential satisfies a security scheme of the document. A scheme missing
# here fails the run: a new one needs a credential (or an explicit None: schemes
# the fuzzer cannot present, such as the /admin session cookie).
SCHEMES: dict[str, str | None] = {
    "posKey": "pos",
    "MarketerBearer": "marketer",
    "CampaignBearer": "marketer",
    "CampaignAdminSession": None,
    "applePass": "pass",
    "metricsToken": "metrics",
}
# Another role's key, refused with 403.
WRONG_ROLE = {"pos": "marketer", "marketer": "pos"}
METRICS_TOKEN = "fuzz-metrics-token"  # noqa: S105 (a test value)


def _role(path: str, method: str) -> str | None:
    """The credential kind the operation needs (None: a public operation)."""
    operation = DOCUMENT["paths"][path][method]
    requirements = operation.get("security", DOCUMENT.get("security", []))
    if not requirements or {} in requirements:
        return None
    for requirement in requirements:
        unknown = set(requirement) - set(SCHEMES)
        assert not unknown, f"no fuzzing credential for {unknown}: add it to SCHEMES"
        roles = {SCHEMES[name] for name in requirement}
        if None not in roles and len(roles) == 1:
            return roles.pop()
    raise AssertionError(f"{method.upper()} {path}: no security scheme to present")


def _runs(role: str | None, mode: str) -> list[str]:
    """The credentials an operation is fuzzed with, in one test (one setup)."""
    if mode == "hostile":  # past the door: the values reach the views
        # (The admin key reaches the program choice: ?program_id=, ?program=.)
        return ["key", "admin"] if role == "marketer" else ["key"]
    runs = ["key"]
    if role == "marketer":
        runs.append("admin")
    if role in WRONG_ROLE and mode == "valid":
        runs.append("wrong")
    if role is not None:
        runs.append("none")
    return runs


# -- real resources, so that ids in paths and bodies can be found ----------------


@dataclass
class Keys:
    pos: str
    marketer: str
    admin: str


@dataclass
class Known:
    """Real ids and values of the demo program, by parameter or field name."""

    values: dict[str, Any]
    path_parameters: dict[str, Any]


def _seed(app: Flask, demo: Demo, keys: Keys, path: str) -> Known:
    """Create what the operation's path can point at, through the API itself."""
    client = app.test_client()
    marketer = {"Authorization": f"Bearer {keys.marketer}"}
    member = demo.passes[2]  # marketer runs may erase it; the till uses passes[0]
    till_card = card(app, demo.passes[0].member_id)
    from app.models import Store

    with app.app_context():
        store_id = db.session.scalar(select(Store.id).where(Store.code == "msk-atrium"))
    values: dict[str, Any] = {
        "member_id": member.member_id,
        "store_id": store_id,
        "code": till_card.barcode,
        "program_id": demo.program_id,
    }
    parameters: dict[str, Any] = {}
    if "{sku}" in path or path == "/api/v1/pos/subscriptions":
        product = client.post(
            "/api/v1/products",
            json={"sku": "FUZZ-1", "name": {"ru": "Товар"}, "sizes": ["M"]},
            headers=marketer,
        )
        assert product.status_code == 201, product.get_json()
        values["sku"] = parameters["sku"] = "FUZZ-1"
        subscription = client.post(
            "/api/v1/products/FUZZ-1/subscriptions",
            json={"member_id": member.member_id, "size": "M"},
            headers=marketer,
        )
        assert subscription.status_code == 201, subscription.get_json()
        if path.endswith("{id}"):
            parameters["id"] = subscription.get_json()["id"]
    if "{campaign_id}" in path:
        campaign = client.post(
            "/api/v1/campaigns",
            json={"texts": {"ru": "Скидка"}, "segment": {"all": {}}},
            headers=marketer,
        )
        assert campaign.status_code == 201, campaign.get_json()
        parameters["campaign_id"] = campaign.get_json()["id"]
    if "{offer_id}" in path:
        offer = client.post(
            "/api/v1/offers",
            json={"kind": "gift", "title": {"ru": "Кофе"}, "valid_days": 7},
            headers=marketer,
        )
        assert offer.status_code == 201, offer.get_json()
        parameters["offer_id"] = offer.get_json()["id"]
    if path.startswith("/api/v1/stores/refreshes/"):
        moved = client.patch(
            f"/api/v1/stores/{store_id}",
            json={"relevant_text": "Мы рядом"},
            headers=marketer,
        )
        assert moved.status_code == 200, moved.get_json()
        parameters["id"] = moved.get_json()["refresh"]["id"]
    elif path.startswith("/api/v1/stores/{id}"):
        parameters["id"] = store_id
    if path.startswith("/api/v1/members/{id}"):
        parameters["id"] = member.member_id
    if "{transaction_id}" in path:
        sale = client.post(
            "/api/v1/pos/transactions",
            json={"code": till_card.barcode, "amount": "1000", "receipt_id": "F-1"},
            headers={
                "Authorization": f"Bearer {keys.pos}",
                "Idempotency-Key": "fuzz-seed-1",
            },
        )
        assert sale.status_code == 201, sale.get_json()
        parameters["transaction_id"] = sale.get_json()["transaction_id"]
    if "membership" in path:
        plan = client.post(
            "/api/v1/membership-plans",
            json={
                "code": "club",
                "name": {"ru": "Клуб"},
                "price": "990",
                "period_days": 30,
            },
            headers=marketer,
        )
        assert plan.status_code == 201, plan.get_json()
        values["plan"] = "club"
        parameters["plan_id"] = plan.get_json()["id"]
        parameters["member_id"] = member.member_id
    if "{sale_id}" in path:
        sold = client.post(
            "/api/v1/pos/memberships",
            json={"code": till_card.barcode, "plan": "club"},
            headers={
                "Authorization": f"Bearer {keys.pos}",
                "Idempotency-Key": "fuzz-seed-membership",
            },
        )
        assert sold.status_code == 201, sold.get_json()
        parameters["sale_id"] = sold.get_json()["sale_id"]
    if "{name}" in path:
        parameters["name"] = "birthday"
    if "{card_token}" in path:
        parameters["card_token"] = demo.passes[1].card_token
    if "{serialNumber}" in path:
        parameters |= {
            "passTypeIdentifier": demo.pass_type,
            "serialNumber": demo.passes[0].serial,
        }
    return Known(values, parameters)


def _fill_known(values: dict[str, Any]) -> Callable[[Any], Any]:
    """Put real ids in a generated body wherever it has a field of that name."""

    def fill(case: schemathesis.Case) -> schemathesis.Case:
        if isinstance(case.body, dict):
            for name in set(case.body) & set(values):
                case.body[name] = values[name]
        return case

    return fill


# -- "bad input changes nothing" -----------------------------------------------

# Written by a request that is then refused? Only the key's last use (kept apart:
# the check itself would otherwise see it).
VOLATILE_COLUMNS = {("api_key", "last_used_at")}


class _Writes:
    """Whether any statement since `reset()` may have changed a row.

    Computing `_fingerprint` reads every table; most refused requests run no
    writing statement at all, and for those the state is unchanged without reading
    it. Anything that is not a plain read (DML that touched a row, DDL, a CTE)
    counts as a write, and then the fingerprint decides.
    """

    READS = ("SELECT", "PRAGMA", "SAVEPOINT", "RELEASE", "ROLLBACK", "BEGIN", "SET")

    def __init__(self) -> None:
        self.seen = False
        event.listen(Engine, "after_cursor_execute", self._executed)

    def _executed(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        verb = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else ""
        if verb in self.READS or verb == "COMMIT":
            return
        if verb in ("INSERT", "UPDATE", "DELETE") and cursor.rowcount == 0:
            return
        self.seen = True

    def reset(self) -> None:
        self.seen = False

    def close(self) -> None:
        event.remove(Engine, "after_cursor_execute", self._executed)


def _fingerprint(app: Flask) -> str:
    """A digest of every row of every table."""
    digest = hashlib.sha256()
    with app.app_context(), db.engine.connect() as connection:
        for table in db.metadata.sorted_tables:
            columns = [
                c for c in table.columns if (table.name, c.name) not in VOLATILE_COLUMNS
            ]
            order = list(table.primary_key.columns) or columns
            for row in connection.execute(select(*columns).order_by(*order)):
                digest.update(repr((table.name, tuple(row))).encode())
    return digest.hexdigest()


def _headers(
    credentials: str, role: str | None, keys: Keys, demo: Demo
) -> dict[str, str]:
    if credentials == "none" or role is None:
        return {}
    if credentials == "admin":
        return {"Authorization": f"Bearer {keys.admin}"}
    if credentials == "wrong":
        role = WRONG_ROLE[role]
    if role == "pass":
        return {"Authorization": f"ApplePass {demo.passes[0].token}"}
    if role == "metrics":
        return {"Authorization": f"Bearer {METRICS_TOKEN}"}
    return {"Authorization": f"Bearer {getattr(keys, role)}"}


RATE_LIMITS = (
    "RATELIMIT_WALLET",
    "RATELIMIT_WALLET_ADDRESS",
    "RATELIMIT_WALLET_LOG",
    "RATELIMIT_GOOGLE_CALLBACKS",
    "RATELIMIT_PAGES",
    "RATELIMIT_SIGNUP",
)


def _unlimited(app: Flask) -> None:
    # Fuzzers are one client address: rate limits would answer 429 (documented, but
    # hiding every other answer). Limits are read per request.
    for name in RATE_LIMITS:
        app.config[name] = "100000 per minute"


def _google_callbacks_on(app: Flask, pki_dir: Path, directory: Path) -> None:
    """Google Wallet configured, its callback root keys from a local file (no
    network): so that /google/callbacks verifies instead of answering 404."""
    from tests.conftest import GOOGLE_ISSUER
    from tests.support.google_callbacks import CallbackSigner

    keys = directory / "google-root-keys.json"
    keys.write_text(json.dumps(CallbackSigner().root_keys()))
    app.config.update(
        GOOGLE_ISSUER_ID=GOOGLE_ISSUER,
        GOOGLE_SERVICE_ACCOUNT_FILE=str(pki_dir / "google-service-account.json"),
        GOOGLE_CALLBACK_KEYS_FILE=str(keys),
    )


@pytest.mark.parametrize("mode", ["valid", "invalid", "hostile"])
@pytest.mark.parametrize(
    ("path", "method"),
    [pytest.param(p, m, id=f"{m.upper()} {p}") for p, m in OPERATIONS],
)
def test_operation_conforms(
    app: Flask,
    demo: Demo,
    pki_dir: Path,
    tmp_path: Path,
    path: str,
    method: str,
    mode: str,
) -> None:
    _unlimited(app)
    app.config["METRICS_TOKEN"] = METRICS_TOKEN
    if path.startswith("/google/"):
        _google_callbacks_on(app, pki_dir, tmp_path)
    keys = Keys(
        pos=make_key(app, "pos"),
        marketer=make_key(app, "marketer"),
        admin=_admin_key(app),
    )
    role = _role(path, method)
    known = _seed(app, demo, keys, path)
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    operation = schema[path][method.upper()]
    target = Target(app, operation, path, method, role, keys, demo, known)
    ran = False
    for credentials in _runs(role, mode):
        try:
            _fuzz(target, credentials, mode)
            ran = True
        except Unsatisfiable:
            # Every parameter is fixed or accepts any string: nothing is invalid.
            assert mode == "invalid"
    if not ran:
        pytest.skip("no invalid request can be generated")


@dataclass
class Target:
    """One operation and what its runs need."""

    app: Flask
    operation: Any
    path: str
    method: str
    role: str | None
    keys: Keys
    demo: Demo
    known: Known


def _fuzz(target: Target, credentials: str, mode: str) -> None:
    """One bounded hypothesis run of one operation with one kind of credentials."""
    app, operation, path, method, role, known = (
        target.app,
        target.operation,
        target.path,
        target.method,
        target.role,
        target.known,
    )
    generation = (
        GenerationMode.NEGATIVE if mode == "invalid" else GenerationMode.POSITIVE
    )
    headers = _headers(credentials, role, target.keys, target.demo)
    free = operation.as_strategy(generation, headers=headers or None)
    strategy = free
    if credentials != "none":
        # Part of the examples point at real things: the paths behind the 404s.
        parameters = {
            name: value
            for name, value in known.path_parameters.items()
            if "{" + name + "}" in path
        }
        pointed = operation.as_strategy(
            generation, path_parameters=parameters or None, headers=headers or None
        )
        if mode != "invalid":
            pointed = pointed.map(_fill_known(known.values))
        strategy = st.one_of(free, pointed) if parameters or mode != "invalid" else free
    statuses: list[int] = []
    checks = CHECKS if mode == "valid" else NEGATIVE_CHECKS
    # Refused requests must leave the data alone. Checked where a write can happen
    # (authorized, not GET); the state after one example is the next one's before.
    watch = method != "get" and credentials in ("key", "admin")
    state = [_fingerprint(app)] if watch else []
    writes = _Writes()

    def send(case: schemathesis.Case) -> None:
        writes.reset()
        status = case.call_and_validate(checks=checks).status_code
        statuses.append(status)
        if watch and writes.seen:  # (no write: the state is the one before)
            before, state[0] = state[0], _fingerprint(app)
            if 400 <= status < 500:
                assert state[0] == before, f"{status} answer changed the data"

    @settings(
        max_examples=max(
            1,
            round(
                (HOSTILE_EXAMPLES if mode == "hostile" else EXAMPLES[credentials])
                * SCALE
            ),
        ),
        derandomize=True,
        database=None,
        deadline=None,
        # (A hostile example is many requests; its report names each value.)
        phases=[Phase.explicit, Phase.generate]
        + ([] if mode == "hostile" else [Phase.shrink]),
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy, data=st.data())
    def check(case: schemathesis.Case, data: st.DataObject) -> None:
        if mode != "hostile":
            send(case)
            return
        # Every place of the request gets a value of every class.
        for spot in _spots(case):
            for kind in HOSTILE_CLASSES:
                restore = _put(case, spot, data.draw(kind, label=str(spot)))
                try:
                    send(case)
                finally:
                    restore()

    try:
        check()
    finally:
        writes.close()
    where = f"{credentials} credentials: {statuses}"
    if credentials == "wrong":
        # (An id past any row's is a 404 before the key is looked at.)
        assert 403 in statuses, where
        assert set(statuses) <= {403, 404}, where
    elif credentials == "none" and mode == "valid":
        assert set(statuses) <= {401, 404}, where
    elif credentials in ("key", "admin") and mode == "valid" and role is not None:
        # The credentials open the door at least once.
        assert any(status not in (401, 403) for status in statuses), where


def _admin_key(app: Flask) -> str:
    from app.services.auth import create_key

    with app.app_context():
        issued = create_key("admin")
        db.session.commit()
        return issued.key


# -- what the fuzzer found, pinned as plain tests --------------------------------


def test_refund_of_an_impossible_id_is_404(app: Flask, demo: Demo) -> None:
    key = make_key(app)
    client = app.test_client()
    for transaction_id in (2**31, 10**20):
        response = client.post(
            f"/api/v1/pos/transactions/{transaction_id}/refund",
            headers={"Authorization": f"Bearer {key}"},
        )
        # Past the id column's range: the route does not match (app.ids).
        assert response.status_code == 404
        assert response.get_json()["error"] == "not_found"


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


def _marketer(app: Flask) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_key(app, 'marketer')}"}


def test_an_admin_key_naming_no_program_is_a_documented_422(
    app: Flask, demo: Demo
) -> None:
    headers = {"Authorization": f"Bearer {_admin_key(app)}"}
    client = app.test_client()
    for url in ("/api/v1/stores?program=nope", "/api/v1/automations?program=nope"):
        response = client.get(url, headers=headers)
        assert response.status_code == 422
        assert response.get_json()["error"] == "program_required"
    # The document says so for every operation that takes ?program=.
    for path, item in DOCUMENT["paths"].items():
        for method in METHODS:
            parameters = str(item.get(method, {}).get("parameters", []))
            if "MarketerProgram" in parameters:
                assert "422" in item[method]["responses"], f"{method} {path}"


def test_ids_too_large_for_the_database_are_refused_not_a_500(
    app: Flask, demo: Demo
) -> None:
    headers = _marketer(app)
    client = app.test_client()
    before = _fingerprint(app)
    product = client.post(
        "/api/v1/products",
        json={"sku": "BIG-1", "name": {"ru": "Товар"}, "store_ids": [2**70]},
        headers=headers,
    )
    assert product.status_code == 422
    assert product.get_json()["error"] == "invalid_stores"
    assert _fingerprint(app) == before
    # (The fuzzer's "nothing changed" check does see a change.)
    made = client.post(
        "/api/v1/products", json={"sku": "BIG-2", "name": {"ru": "Т"}}, headers=headers
    )
    assert made.status_code == 201
    assert _fingerprint(app) != before
    before = _fingerprint(app)
    # Path ids past the column type do not match the route at all.
    for url in ("/api/v1/campaigns/2147483648", f"/api/v1/members/{2**64}"):
        # Not 405 for the second method of a path either (werkzeug would say so
        # if the URL converter refused the value).
        for method in ("GET", "DELETE"):
            response = client.open(url, method=method, headers=headers)
            assert response.status_code == 404, (method, url)
            assert response.get_json()["error"] == "not_found"
    assert _fingerprint(app) == before


def test_a_page_number_past_any_offset_is_422(app: Flask, demo: Demo) -> None:
    response = app.test_client().get(
        f"/api/v1/members?page={10**25}", headers=_marketer(app)
    )
    assert response.status_code == 422
    assert response.get_json()["error"] == "invalid_page"


def test_subscribing_a_member_id_past_any_id_is_404(app: Flask, demo: Demo) -> None:
    headers = _marketer(app)
    client = app.test_client()
    created = client.post(
        "/api/v1/products", json={"sku": "SUB-1", "name": {"ru": "Т"}}, headers=headers
    )
    assert created.status_code == 201
    response = client.post(
        "/api/v1/products/SUB-1/subscriptions",
        json={"member_id": 2**64},
        headers=headers,
    )
    assert response.status_code == 404


def test_stores_answer_with_their_id_as_documented(app: Flask, demo: Demo) -> None:
    from jsonschema import Draft202012Validator

    response = app.test_client().get("/api/v1/stores", headers=_marketer(app))
    assert response.status_code == 200
    store = response.get_json()["stores"][0]
    assert isinstance(store["id"], int)
    schema = {**DOCUMENT["components"]["schemas"]["Store"], "components": {}}
    assert list(Draft202012Validator(schema).iter_errors(store)) == []


# -- the public forms, which the document does not describe -----------------------


def test_forms_survive_hostile_values(app: Flask, demo: Demo) -> None:
    """Every field of the public forms (and an unexpected one, and ?lang=) gets a
    value of every hostile class: never a 500, and a refusal changes nothing."""
    _unlimited(app)
    app.config["RATELIMIT_ADMIN_LOGIN"] = "100000 per minute"
    client = app.test_client()
    marketer = {"Authorization": f"Bearer {make_key(app, 'marketer')}"}
    product = client.post(
        "/api/v1/products",
        json={"sku": "FORM-1", "name": {"ru": "Товар"}, "sizes": ["M"]},
        headers=marketer,
    )
    assert product.status_code == 201, product.get_json()
    from app.models import Store

    with app.app_context():
        store = db.session.scalar(select(Store.id).where(Store.code == "msk-atrium"))
    card_token = demo.passes[1].card_token
    signup = {
        "name": "Мария Петрова",
        "phone": "+7 912 345-67-89",
        "email": "maria@example.ru",
        "birthday": "1992-05-17",
        "store": str(store),
        "city": "",
        "language": "ru",
        "consent": "on",
    }
    forms: list[tuple[str, str, dict[str, str]]] = [
        ("POST", "/join", signup),
        ("POST", f"/join/{demo.slug}", signup),
        (
            "POST",
            f"/c/{card_token}/subscriptions",
            {"sku": "FORM-1", "size": "M", "store_id": str(store)},
        ),
        ("POST", f"/c/{card_token}/erase", {"confirm": "no"}),
        ("POST", "/admin/login", {"key": "not-a-key"}),
        ("GET", "/join", {"lang": "ru"}),
        ("GET", f"/join/{demo.slug}", {"lang": "en"}),
        ("GET", f"/c/{card_token}", {"lang": "ru", "welcome": "back"}),
        ("GET", "/erased", {"lang": "ru"}),
    ]
    statuses: list[int] = []

    @settings(
        max_examples=max(1, round(HOSTILE_EXAMPLES * SCALE)),
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        for method, url, fields in forms:
            for name in [*fields, "unexpected"]:
                for kind in HOSTILE_CLASSES:
                    value = data.draw(kind, label=f"{method} {url} {name}")
                    sent = {
                        **fields,
                        name: value if isinstance(value, str) else (json.dumps(value)),
                    }
                    before = _fingerprint(app) if method == "POST" else ""
                    if method == "POST":
                        response = client.post(url, data=sent)
                    else:
                        response = client.get(url, query_string=sent)
                    statuses.append(response.status_code)
                    assert response.status_code < 500, (method, url, name, value)
                    if method == "POST" and 400 <= response.status_code < 500:
                        assert _fingerprint(app) == before, (url, name, value)

    check()
    # The forms were really exercised: refusals and successes both happened.
    assert {200, 303, 422} <= set(statuses), sorted(set(statuses))
