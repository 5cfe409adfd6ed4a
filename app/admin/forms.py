"""The /admin catalogue pages' forms: form fields -> the JSON bodies the services
take, and the services' error codes -> friendly ru/en messages."""

from __future__ import annotations

from typing import Any

from werkzeug.datastructures import MultiDict

from app.services import automations, checks, stores
from app.services.errors import DomainError

STORE_FIELDS: tuple[str, ...] = (
    "code",
    "name",
    "city",
    "address",
    "latitude",
    "longitude",
)
STORE_FIELDS += ("relevant_text",)
COORDINATES = {"latitude": 90, "longitude": 180}


class FormError(Exception):
    """Bad input found while reading a form: a text key and its values."""

    def __init__(self, key: str, **values: Any) -> None:
        super().__init__(key)
        self.key = key
        self.values = values


def whole_or_text(value: str | None, default: str = "") -> int | str:
    """A form field as a whole number when it is one (ASCII digits), else its text
    as typed, so that the service's own check names it in the page's 422."""
    text = (value or default).strip()
    number = checks.form_int(text)
    return text if number is None else number


def _number(raw: str | None) -> float | str:
    """'55,75' or '55.75' -> 55.75; anything else is left for the service to
    refuse (with its own error code)."""
    text = (raw or "").strip().replace(",", ".")
    try:
        return float(text)
    except ValueError:
        return text


def store_body(form: MultiDict[str, str], creating: bool) -> dict[str, Any]:
    fields = STORE_FIELDS if creating else STORE_FIELDS[1:]
    body: dict[str, Any] = {f: form.get(f, "").strip() for f in fields}
    for key in COORDINATES:
        body[key] = _number(form.get(key))
    return body


def product_body(form: MultiDict[str, str]) -> dict[str, Any]:
    name = {"ru": form.get("name_ru", "").strip()}
    if form.get("name_en", "").strip():
        name["en"] = form.get("name_en", "").strip()
    sizes = [s.strip() for s in form.get("sizes", "").split(",") if s.strip()]
    try:
        store_ids = [int(v) for v in form.getlist("store_ids")]
    except ValueError:
        raise FormError("error.unknown_store") from None
    return {
        "sku": form.get("sku", "").strip(),
        "name": name,
        "sizes": sizes,
        "store_ids": store_ids,
    }


def restock_choice(form: MultiDict[str, str]) -> tuple[str | None, int | None]:
    size = form.get("size", "").strip() or None
    store = form.get("store_id", "").strip()
    try:
        store_id = int(store) if store else None
    except ValueError:
        raise FormError("error.unknown_store") from None
    return size, store_id


def automation_settings(
    name: str, form: MultiDict[str, str], labels: dict[str, str]
) -> dict[str, Any]:
    """The settings of automation `name` from its form; FormError on a number
    out of its range (the service checks again)."""
    settings: dict[str, Any] = {}
    for key in automations.DEFAULTS[name]:
        if key == "texts":
            texts = {"ru": form.get("texts_ru", "").strip()}
            if form.get("texts_en", "").strip():
                texts["en"] = form.get("texts_en", "").strip()
            settings["texts"] = texts
            continue
        if key in automations.RESULTS_SETTINGS and key not in form:
            continue  # (results, issue 16) a form without them keeps them
        if key in automations.FLAGS:
            settings[key] = key in form  # a checkbox
            continue
        limits = automations.limits(key)
        assert limits is not None, key
        kind, low, high = limits
        raw = form.get(key, "").strip().replace(",", ".")
        try:
            value = kind(raw)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            shown = (int(low), int(high)) if kind is int else (low, high)
            raise FormError(
                "error.whole" if kind is int else "error.number",
                field=labels[f"setting.{key}"],
                low=shown[0],
                high=shown[1],
            )
        settings[key] = value
    return settings


def friendly(error: DomainError | FormError, t: dict[str, str], page: str) -> str:
    """A message for people, in the page's language."""
    if isinstance(error, FormError):
        return t[error.key].format(**error.values)
    code = error.code
    field = code.removeprefix("invalid_")
    if page == "stores" and field in stores.TEXT_FIELDS:
        return t["error.text"].format(
            field=t[f"store.{field}"], limit=stores.TEXT_FIELDS[field]
        )
    if page == "stores" and field in COORDINATES:
        limit = COORDINATES[field]
        return t["error.number"].format(
            field=t[f"store.{field}"], low=-limit, high=limit
        )
    if page == "products" and code == "invalid_name":
        return t["error.invalid_product_name"]
    if code == "invalid_stores":
        code = "unknown_store"
    if code == "invalid_placeholder":
        return t["error.invalid_placeholder"].format(
            placeholder=error.extra.get("placeholder", "{"),
            allowed=error.extra.get("allowed") or t["error.no_placeholders"],
        )
    if f"error.{code}" in t:
        return t[f"error.{code}"]
    return t["error.other"].format(message=error.message)
