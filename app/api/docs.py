"""`/api/openapi.json` (the OpenAPI 3.1 document) and `/api/docs` (for people)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, render_template

from app.api.openapi import document

bp = Blueprint("api_docs", __name__)

METHODS = ("get", "put", "post", "delete", "patch")


@bp.get("/openapi.json")
def openapi_json() -> Response:
    return jsonify(current_app.extensions["openapi"])


def _resolve(doc: dict[str, Any], node: Any) -> Any:
    """Follow a local `$ref` (the page shows the referenced thing)."""
    while isinstance(node, dict) and "$ref" in node:
        target: Any = doc
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def _operations(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Operations grouped as the page lists them: one entry per path and method."""
    operations = []
    for path, item in doc["paths"].items():
        shared = [_resolve(doc, p) for p in item.get("parameters", [])]
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            parameters = shared + [
                _resolve(doc, p) for p in operation.get("parameters", [])
            ]
            responses = {
                status: _resolve(doc, response).get("description", "")
                for status, response in operation.get("responses", {}).items()
            }
            body = operation.get("requestBody", {}).get("content", {})
            operations.append(
                {
                    "path": path,
                    "method": method.upper(),
                    "id": operation.get("operationId", ""),
                    "tag": (operation.get("tags") or ["other"])[0],
                    "summary": operation.get("summary", ""),
                    "description": operation.get("description", ""),
                    "security": [
                        name
                        for requirement in operation.get("security", [])
                        for name in requirement
                    ],
                    "parameters": parameters,
                    "body": {
                        media: content.get("schema", {})
                        for media, content in body.items()
                    },
                    "responses": responses,
                }
            )
    return operations


@bp.get("/docs")
def docs() -> str:
    doc = current_app.extensions["openapi"]
    return render_template(
        "api/docs.html",
        doc=doc,
        operations=_operations(doc),
        schemas=doc.get("components", {}).get("schemas", {}),
    )


def init_app(app: Any) -> None:
    """Build the document at start-up: a broken fragment fails here, not later."""
    app.extensions["openapi"] = document()
