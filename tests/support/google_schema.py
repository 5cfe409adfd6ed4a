"""Google's walletobjects v1 discovery document as JSON Schema (draft 7).

The discovery document ships inside `google-api-python-client` (a test-only
dependency). It is not JSON Schema, so it is converted here:

- `$ref: X` -> `#/definitions/X`; int64/uint64 -> a string of digits (proto-JSON);
  int32/uint32 -> integers in range; `enum` kept (legacy camelCase aliases too);
- every object rejects unknown properties (`additionalProperties: false`), so a
  misspelt field fails instead of being silently dropped by Google;
- `required` from descriptions that start with "Required." (insert bodies only:
  `partial=True` drops it for PATCH bodies);
- rules the document only states in prose: exactly one LoyaltyPointsBalance member,
  at most 10 messages and merchant locations, the `issuerId.identifier` id format,
  `#rrggbb` colours.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

_ID = r"^[0-9]+\.[A-Za-z0-9._-]+$"


def discovery_path() -> Path:
    """walletobjects.v1.json inside the installed google-api-python-client."""
    import googleapiclient

    return (
        Path(googleapiclient.__file__).parent
        / "discovery_cache"
        / "documents"
        / "walletobjects.v1.json"
    )


@cache
def discovery() -> dict[str, Any]:
    return json.loads(discovery_path().read_text())


def _property(spec: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in spec:
        return {"$ref": f"#/definitions/{spec['$ref']}"}
    kind, fmt = spec.get("type"), spec.get("format")
    result: dict[str, Any]
    if kind == "array":
        result = {"type": "array", "items": _property(spec["items"])}
    elif kind == "string" and fmt in ("int64", "uint64"):
        result = {"type": "string", "pattern": r"^-?\d+$"}
    elif kind == "integer":
        low = 0 if fmt == "uint32" else -(2**31)
        high = 2**32 - 1 if fmt == "uint32" else 2**31 - 1
        result = {"type": "integer", "minimum": low, "maximum": high}
    elif kind == "object":
        result = {"type": "object"}
    else:
        result = {"type": kind}
    if "enum" in spec:
        result["enum"] = list(spec["enum"])
    return result


def _schema(spec: dict[str, Any]) -> dict[str, Any]:
    properties = spec.get("properties", {})
    result: dict[str, Any] = {
        "type": "object",
        "properties": {name: _property(p) for name, p in properties.items()},
        "additionalProperties": False,
    }
    required = [
        name
        for name, p in properties.items()
        if p.get("description", "").startswith("Required.")
    ]
    if required:
        result["required"] = required
    return result


@cache
def _definitions() -> dict[str, Any]:
    definitions = {name: _schema(spec) for name, spec in discovery()["schemas"].items()}
    # Prose rules made checkable.
    definitions["LoyaltyPointsBalance"]["minProperties"] = 1
    definitions["LoyaltyPointsBalance"]["maxProperties"] = 1
    for name in ("LoyaltyClass", "LoyaltyObject"):
        props = definitions[name]["properties"]
        props["id"] = {"type": "string", "pattern": _ID}
        props["messages"]["maxItems"] = 10
        props["merchantLocations"]["maxItems"] = 10
    definitions["LoyaltyObject"]["properties"]["classId"] = {
        "type": "string",
        "pattern": _ID,
    }
    definitions["LoyaltyClass"]["properties"]["hexBackgroundColor"] = {
        "type": "string",
        "pattern": r"^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$",
    }
    definitions["TextModuleData"]["properties"]["id"] = {
        "type": "string",
        "pattern": r"^[^.]*$",  # dots separate FieldReference paths
    }
    return definitions


@cache
def validator(name: str, partial: bool = False) -> jsonschema.Draft7Validator:
    """A validator for schema `name` ("LoyaltyObject", ...); `partial` for PATCH."""
    definitions = copy.deepcopy(_definitions())
    if partial:
        for definition in definitions.values():
            definition.pop("required", None)
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "definitions": definitions,
        "$ref": f"#/definitions/{name}",
    }
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def errors(name: str, instance: Any, partial: bool = False) -> list[str]:
    """Every problem with `instance` as `name`, as readable lines (empty if valid)."""
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '<root>'}: {error.message}"
        for error in validator(name, partial).iter_errors(instance)
    ]
