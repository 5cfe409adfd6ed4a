"""Checking request input: one function per kind of value.

Every service that takes a JSON body (settings, automations, campaigns, catalog,
stores, the marketer's members) checks its values here, so the same kind of value
is refused the same way everywhere: `Invalid` (422) with the caller's error code
and a message that names the field (`texts.en: at most 150 characters`).

`json_object` reads a request body. The one rule for every JSON API using it: an
empty body is the empty object `{}` (no fields given); bytes that are not JSON
(including NaN/Infinity, invalid UTF-8 and nesting too deep to parse) are 400
`invalid_json`; JSON that is not an object is 422 `invalid_body`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, NoReturn, TypeGuard

from app.services.errors import Invalid, Malformed

# The languages texts come in; Russian is the one every program has.
LANGUAGES = ("ru", "en")
# Control characters never belong in texts people read (PostgreSQL refuses NUL);
# tab and newline are allowed where several lines are (`multiline=True`).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_CONTROL_OR_NEWLINE = re.compile(r"[\x00-\x1f\x7f]")


def fail(code: str, message: str, **extra: Any) -> NoReturn:
    """Refuse the input: 422 with `code` and `message`."""
    raise Invalid(code, message, **extra)


def _refuse(_: str) -> NoReturn:
    raise ValueError("not JSON")


def json_object(
    data: bytes, *, parse_float: Callable[[str], Any] | None = None
) -> dict[str, Any]:
    """The body as a JSON object (see the module docstring for the rules)."""
    if not data.strip():
        return {}
    try:
        value = json.loads(data, parse_float=parse_float, parse_constant=_refuse)
    except (ValueError, RecursionError):
        raise Malformed("invalid_json", "The body is not valid JSON.") from None
    if not isinstance(value, dict):
        fail("invalid_body", "The body must be a JSON object.")
    return value


def known_keys(
    value: Mapping[Any, Any],
    allowed: Iterable[str],
    *,
    code: str = "unknown_field",
    field: str = "",
) -> None:
    """Refuse keys outside `allowed`, naming them and the known ones."""
    known = tuple(allowed)
    unknown = set(value) - set(known)
    if unknown:
        where = f"{field}: " if field else ""
        fail(
            code,
            f"{where}unknown {', '.join(sorted(map(str, unknown)))} "
            f"(known: {', '.join(known)})",
        )


def mapping(value: Any, field: str, code: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        fail(code, f"{field} must be an object")
    return value


def is_whole(value: object, low: int, high: int) -> TypeGuard[int]:
    """An integer (JSON number without fraction, not true/false) in low..high."""
    return (
        not isinstance(value, bool) and isinstance(value, int) and low <= value <= high
    )


def whole(value: Any, field: str, low: int, high: int, code: str) -> int:
    """`value` if `is_whole`, else 422 naming the field and the range."""
    if not is_whole(value, low, high):
        fail(code, f"{field} must be a whole number from {low} to {high}")
    return value


def number(value: Any, field: str, low: float, high: float, code: str) -> float:
    """A finite number (int or float, not true/false) in low..high."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not low <= value <= high  # also False for NaN
    ):
        fail(code, f"{field} must be a number from {low:g} to {high:g}")
    return float(value)


def flag(value: Any, field: str, code: str) -> bool:
    if not isinstance(value, bool):
        fail(code, f"{field} must be true or false")
    return value


def one_of(value: Any, field: str, choices: Collection[str], code: str) -> str:
    if not isinstance(value, str) or value not in choices:
        fail(code, f"{field} must be one of {', '.join(choices)}")
    return value


def text(
    value: Any,
    field: str,
    code: str,
    *,
    longest: int,
    shortest: int = 1,
    multiline: bool = False,
) -> str:
    """A string without control characters (tab and newline allowed when
    `multiline`; CRLF becomes LF), stripped, of shortest..longest characters."""
    if not isinstance(value, str):
        fail(code, f"{field} must be text")
    given: str = value.replace("\r\n", "\n") if multiline else value
    if (_CONTROL if multiline else _CONTROL_OR_NEWLINE).search(given):
        what = (
            "control characters" if multiline else "line breaks or control characters"
        )
        fail(code, f"{field} must not contain {what}")
    result = given.strip()
    if not shortest <= len(result) <= longest:
        fail(code, f"{field}: {shortest}-{longest} characters")
    return result


def localized(
    value: Any,
    field: str,
    code: str,
    *,
    longest: int,
    required: bool = True,
    multiline: bool = True,
) -> dict[str, str]:
    """Texts by language, {"ru": ..., "en": ...}: known languages only, each
    checked by `text`; empty (or null) ones are left out. Russian is needed
    whenever any text is given, and always when `required`."""
    if not isinstance(value, dict):
        fail(code, f'{field} must be {{"ru": ..., "en": ...}}')
    known_keys(value, LANGUAGES, code=code, field=f"{field} languages")
    result: dict[str, str] = {}
    for language, item in value.items():
        if item is None or (isinstance(item, str) and not item.strip()):
            continue
        result[language] = text(
            item,
            f"{field}.{language}",
            code,
            longest=longest,
            multiline=multiline,
        )
    if (required or result) and "ru" not in result:
        fail(code, f"{field}.ru (the Russian text) is required")
    return {language: result[language] for language in LANGUAGES if language in result}


def decimal(value: Any, field: str, code: str) -> Decimal:
    """A finite number given as a JSON number or a string ("0.3")."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        fail(code, f"{field} must be a number")
    try:
        result = Decimal(str(value).strip())
    except InvalidOperation:
        fail(code, f"{field} must be a number")
    if not result.is_finite():
        fail(code, f"{field} must be a number")
    return result


def places(value: Decimal) -> int:
    """Decimal places of a finite number ('0.25' -> 2, '3' -> 0)."""
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 99


def money(
    value: Any,
    field: str,
    code: str,
    *,
    low: Decimal = Decimal(0),
    high: Decimal = Decimal(10**9),
) -> Decimal:
    """Roubles in whole kopecks (at most 2 decimals), low..high."""
    amount = decimal(value, field, code)
    if not low <= amount <= high or places(amount) > 2:
        fail(code, f"{field}: roubles from {low} to {high}, at most 2 decimals")
    return amount


def form_int(value: str, longest: int = 18) -> int | None:
    """A form field's whole number: ASCII digits only ("²" passes `isdigit()` but
    `int()` refuses it), at most `longest` of them; None otherwise."""
    value = value.strip()
    if value.isascii() and value.isdigit() and len(value) <= longest:
        return int(value)
    return None
