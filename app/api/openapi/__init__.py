"""The OpenAPI 3.1 document, assembled from one YAML fragment per interface.

`base.yaml` holds `openapi`, `info`, `servers`, security schemes and shared
components; every other `*.yaml` here holds only `paths` and `components`. A path or
a component name defined twice is an error, so fragments cannot silently override
each other. Files load in name order, `base.yaml` first.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
FRAGMENTS = Path(__file__).resolve().parent
BASE = "base.yaml"
_FRAGMENT_KEYS = {"paths", "components"}


class OpenApiError(ValueError):
    """A fragment is malformed or collides with another."""


def _load(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        # libyaml's loader when built in: the pure-Python one takes seconds here.
        data = yaml.load(handle, Loader=_LOADER) or {}  # noqa: S506 (a safe loader)
    if not isinstance(data, dict):
        raise OpenApiError(f"{path.name}: not a mapping")
    return data


def merge(base: dict[str, Any], fragment: dict[str, Any], name: str) -> None:
    """Add a fragment's paths and components to `base`; duplicates are errors."""
    extra = set(fragment) - _FRAGMENT_KEYS
    if extra:
        raise OpenApiError(
            f"{name}: only 'paths' and 'components' allowed, got {sorted(extra)}"
        )
    paths = base.setdefault("paths", {})
    for path, item in (fragment.get("paths") or {}).items():
        if path in paths:
            raise OpenApiError(f"{name}: path {path} is already defined")
        paths[path] = item
    components = base.setdefault("components", {})
    for kind, entries in (fragment.get("components") or {}).items():
        section = components.setdefault(kind, {})
        for key, value in (entries or {}).items():
            if key in section:
                raise OpenApiError(f"{name}: components.{kind}.{key} already defined")
            section[key] = value


def build_document(directory: Path = FRAGMENTS) -> dict[str, Any]:
    """The whole document from `directory`'s fragments."""
    document = _load(directory / BASE)
    document.setdefault("paths", {})
    for path in sorted(directory.glob("*.yaml")):
        if path.name != BASE:
            merge(document, _load(path), path.name)
    return document


_cached: dict[str, Any] | None = None


def document() -> dict[str, Any]:
    """The document, built once per process (fragments do not change at run time)."""
    global _cached
    if _cached is None:
        _cached = build_document()
    return copy.deepcopy(_cached)
