"""Card numbers (Luhn) and barcode payloads (MAC)."""

from __future__ import annotations

import pytest

import passes

SECRET = b"k" * 32


def test_luhn_check_digit_matches_the_standard_example() -> None:
    assert passes.luhn_check_digit("7992739871") == "3"
    assert passes.is_valid_card_number("123456789015")


def test_new_card_numbers_are_valid_and_distinct() -> None:
    numbers = {passes.new_card_number() for _ in range(500)}
    assert len(numbers) == 500
    assert all(passes.is_valid_card_number(n) and n[0] != "0" for n in numbers)


@pytest.mark.parametrize("typo", ["123456789016", "123456789051", "213456789015"])
def test_a_mistyped_digit_or_swap_is_rejected(typo: str) -> None:
    assert passes.normalize_card_number(typo) is None


@pytest.mark.parametrize(
    "typed", ["1234 5678 9015", "1234-5678-9015", " 123456789015 "]
)
def test_typed_numbers_are_normalised(typed: str) -> None:
    assert passes.normalize_card_number(typed) == "123456789015"


@pytest.mark.parametrize("junk", ["", "abc", "１２３４５６７８９０１５", "12345678901"])
def test_junk_is_not_a_card_number(junk: str) -> None:
    assert passes.normalize_card_number(junk) is None


def test_format_card_number() -> None:
    assert passes.format_card_number("123456789015") == "1234 5678 9015"


def test_barcode_payload_round_trip_and_forgery() -> None:
    payload = passes.barcode_payload("123456789015", SECRET)
    assert payload.startswith("123456789015-")
    assert payload == payload.upper()  # QR alphanumeric mode
    assert passes.parse_barcode_payload(payload, SECRET) == "123456789015"
    assert passes.parse_barcode_payload(payload, b"other secret") is None
    # A code made up from the card number alone is not a genuine barcode.
    assert passes.parse_barcode_payload("123456789015", SECRET) is None
    assert passes.parse_barcode_payload("123456789015-AAAAAAAAAA", SECRET) is None
    other = passes.barcode_payload("123456789023", SECRET)
    forged = "123456789015-" + other.split("-")[1]
    assert passes.parse_barcode_payload(forged, SECRET) is None


def test_distance_between_moscow_and_st_petersburg() -> None:
    km = passes.distance_km(55.7558, 37.6173, 59.9343, 30.3351)
    assert 630 < km < 640


def test_non_ascii_after_the_dash_is_no_barcode() -> None:
    """compare_digest refuses non-ASCII text; such a payload is simply not ours."""
    from passes.cardnumber import barcode_payload, parse_barcode_payload

    number = passes.cardnumber.new_card_number()
    assert parse_barcode_payload(barcode_payload(number, b"secret"), b"secret")
    for payload in (f"{number}-ÄÖÜÄÖÜÄÖÜÄ", f"{number}-ß", f"{number}-\u00a0"):
        assert parse_barcode_payload(payload, b"secret") is None
