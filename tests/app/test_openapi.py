"""The OpenAPI document: valid 3.1, in step with the app's routes, served and shown."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from app.api.openapi import OpenApiError, build_document, merge

# Every route is in the document unless it is a page for people. Pages are named
# here (by endpoint, or a whole blueprint of pages), so that a new route of any kind
# fails the sync test until someone documents it or says it is a page. (Deciding by
# path prefix alone let `/c/<token>/data.json` through: a JSON route outside the
# API prefixes.)
PAGE_BLUEPRINTS = {"admin", "pos_page"}
PAGE_ENDPOINTS = {
    "static",
    "api_docs.docs",
    "public.index",
    "public.join",
    "public.card",
    "public.card_erase",
    "public.card_new_link",
    "public.lost_card",
    "public.card_google",
    "public.card_pkpass",
    "public.card_subscribe",
    "public.card_unsubscribe",
    "public.erased",
    "public.program_logo",
    "public.card_profile",
    "public.program_terms",
    "public.program_privacy",
    "public.feedback_page",
    "public.feedback_answer",
}
# Whatever a route's blueprint, these are JSON interfaces and must be documented.
JSON_PREFIXES = ("/api/", "/wallet/", "/google/")
IGNORED_METHODS = {"HEAD", "OPTIONS"}


def _openapi_path(rule: str) -> str:
    """'/x/<int:id>/<name>' -> '/x/{id}/{name}'."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def _shape(path: str) -> str:
    """A path with its parameter names blanked: the app and the document name the
    wallet's parameters differently (device_id vs deviceLibraryIdentifier)."""
    return re.sub(r"\{[^}]+\}", "{}", path)


def _is_page(endpoint: str, path: str) -> bool:
    if path.startswith(JSON_PREFIXES) and endpoint != "api_docs.docs":
        return False
    if path.endswith(".json"):
        return False
    blueprint = endpoint.rpartition(".")[0]
    return endpoint in PAGE_ENDPOINTS or blueprint in PAGE_BLUEPRINTS


def _app_operations(app: Flask) -> set[tuple[str, str]]:
    operations = set()
    for rule in app.url_map.iter_rules():
        path = _openapi_path(rule.rule)
        if _is_page(rule.endpoint, path):
            continue
        for method in (rule.methods or set()) - IGNORED_METHODS:
            operations.add((_shape(path), method.lower()))
    return operations


def _documented_operations(document: dict) -> set[tuple[str, str]]:
    return {
        (_shape(path), method)
        for path, item in document["paths"].items()
        for method in ("get", "put", "post", "delete", "patch")
        if method in item
    }


def test_document_is_valid_openapi_3_1() -> None:
    document = build_document()
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_every_json_route_is_documented_and_every_operation_exists(
    app: Flask,
) -> None:
    in_app = _app_operations(app)
    documented = _documented_operations(build_document())
    assert in_app - documented == set(), "routes missing from the OpenAPI document"
    assert documented - in_app == set(), "documented operations the app lacks"


def test_sync_check_notices_a_missing_route(app: Flask) -> None:
    document = build_document()
    del document["paths"]["/api/v1/pos/scan"]
    assert ("/api/v1/pos/scan", "post") in _app_operations(app) - (
        _documented_operations(document)
    )


@pytest.mark.parametrize(
    ("rule", "endpoint"),
    [
        # A JSON route outside the API prefixes (how data.json once slipped by).
        ("/c/<card_token>/export.json", "public.export"),
        # A new page-less route in a blueprint of pages for people... is a page,
        # unless it speaks JSON by its path.
        ("/admin/progress.json", "admin.progress"),
        ("/api/v1/things", "admin.things"),
        # A route in a blueprint nobody classified.
        ("/reports/<int:id>", "reports.show"),
    ],
)
def test_sync_check_notices_an_unclassified_route(
    app: Flask, rule: str, endpoint: str
) -> None:
    app.add_url_rule(rule, endpoint, lambda **kwargs: "")
    missing = _app_operations(app) - _documented_operations(build_document())
    assert missing == {(_shape(_openapi_path(rule)), "get")}


def test_page_endpoints_exist(app: Flask) -> None:
    """A page removed from the app must leave the list too (no stale exemptions)."""
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert PAGE_ENDPOINTS - endpoints == set()


def test_every_operation_has_an_id_and_its_auth_answers() -> None:
    """operationIds are unique; an operation behind credentials documents 401, and
    403 too when it takes API keys (a key of another role is refused with 403)."""
    document = build_document()
    schemes = document["components"]["securitySchemes"]
    ids: list[str] = []
    for path, item in document["paths"].items():
        for method in ("get", "put", "post", "delete", "patch"):
            if method not in item:
                continue
            operation = item[method]
            ids.append(operation["operationId"])
            security = operation.get("security", document.get("security", []))
            names = {name for requirement in security for name in requirement}
            if not names or {} in security:
                continue
            where = f"{method.upper()} {path}"
            assert "401" in operation["responses"], where
            if any(schemes[name].get("scheme") == "bearer" for name in names):
                assert "403" in operation["responses"], where
    assert len(ids) == len(set(ids))


def test_served_document_is_the_assembled_one(client: FlaskClient) -> None:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == build_document()


def test_docs_page_is_redoc_served_locally(client: FlaskClient) -> None:
    response = client.get("/api/docs")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    # Only the site's own scripts and styles: the page must work offline.
    assert "http://" not in page
    assert "https://" not in page
    scripts = re.findall(r'<script src="([^"]+)"', page)
    redoc = "/static/vendor/redoc/redoc.standalone.js"
    assert scripts == [redoc, "/static/api-docs.js"]
    assert 'data-spec="/api/openapi.json"' in page
    for path in (*scripts, "/static/vendor/redoc/LICENSE"):
        served = client.get(path)
        assert served.status_code == 200
        served.close()


def _write(directory: Path, name: str, text: str) -> None:
    (directory / name).write_text(text, encoding="utf-8")


BASE = """
openapi: 3.1.0
info: {title: t, version: "1"}
paths: {}
components:
  schemas:
    Error: {type: object}
"""


def test_fragments_merge_in_name_order(tmp_path: Path) -> None:
    _write(tmp_path, "base.yaml", BASE)
    _write(
        tmp_path,
        "b.yaml",
        "paths:\n  /b: {get: {responses: {'200': {description: ok}}}}\n",
    )
    _write(
        tmp_path,
        "a.yaml",
        "paths:\n  /a: {}\ncomponents:\n  schemas:\n    A: {type: string}\n",
    )
    document = build_document(tmp_path)
    assert list(document["paths"]) == ["/a", "/b"]
    assert set(document["components"]["schemas"]) == {"Error", "A"}


@pytest.mark.parametrize(
    ("fragment", "message"),
    [
        ("paths:\n  /a: {}\n", "path /a is already defined"),
        ("components:\n  schemas:\n    Error: {}\n", "components.schemas.Error"),
        ("info: {title: x}\n", "only 'paths' and 'components'"),
    ],
)
def test_fragment_collisions_are_errors(
    tmp_path: Path, fragment: str, message: str
) -> None:
    _write(tmp_path, "base.yaml", BASE.replace("paths: {}", "paths:\n  /a: {}"))
    _write(tmp_path, "marketer.yaml", fragment)
    with pytest.raises(OpenApiError, match=re.escape(message)):
        build_document(tmp_path)


def test_merge_refuses_a_duplicate_path() -> None:
    document = {"paths": {"/x": {}}}
    with pytest.raises(OpenApiError):
        merge(document, {"paths": {"/x": {}}}, "x.yaml")


def test_an_invalid_document_is_refused() -> None:
    document = build_document()
    document["paths"]["/healthz"]["get"]["responses"]["200"] = {"content": {}}
    with pytest.raises(OpenAPIValidationError):
        validate(document)
