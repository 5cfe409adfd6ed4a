"""Card numbers with a Luhn check digit, and barcode payloads that carry a MAC.

A typed card number identifies a member; only the barcode (number + MAC keyed by the
server secret) proves the customer holds the real card, so redemptions can ask for it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

CARD_DIGITS = 12  # 11 random digits and a Luhn check digit
MAC_CHARS = 10  # base32: 50 bits
_SEPARATOR = "-"


def luhn_check_digit(digits: str) -> str:
    """The digit that makes `digits` + it pass the Luhn check."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 0:  # these get doubled once the check digit is appended
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return str((10 - total % 10) % 10)


def is_valid_card_number(number: str) -> bool:
    return (
        len(number) == CARD_DIGITS
        and number.isascii()
        and number.isdigit()
        and luhn_check_digit(number[:-1]) == number[-1]
    )


def new_card_number() -> str:
    """A random card number; the first digit is never 0 so it reads as a number."""
    body = str(secrets.randbelow(9) + 1) + "".join(
        str(secrets.randbelow(10)) for _ in range(CARD_DIGITS - 2)
    )
    return body + luhn_check_digit(body)


def normalize_card_number(text: str) -> str | None:
    """A typed number ('1234 5678 9012', '1234-5678-9012') if its check digit holds."""
    digits = "".join(ch for ch in text if ch not in " -\u00a0")
    return digits if is_valid_card_number(digits) else None


def format_card_number(number: str) -> str:
    """'123456789012' -> '1234 5678 9012' for people."""
    return " ".join(number[i : i + 4] for i in range(0, len(number), 4))


def _mac(card_number: str, secret: bytes) -> str:
    digest = hmac.new(secret, card_number.encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode()[:MAC_CHARS]


def barcode_payload(card_number: str, secret: bytes) -> str:
    """'123456789012-ABCDEFGHIJ': upper-case only, so QR codes use alphanumeric mode."""
    return f"{card_number}{_SEPARATOR}{_mac(card_number, secret)}"


def parse_barcode_payload(payload: str, secret: bytes) -> str | None:
    """The card number if `payload` is a genuine barcode, else None (constant time)."""
    number, separator, mac = payload.strip().partition(_SEPARATOR)
    if not separator or not is_valid_card_number(number):
        return None
    expected = _mac(number, secret)
    # Bytes: compare_digest refuses non-ASCII text (a TypeError, not a mismatch).
    matches = hmac.compare_digest(expected.encode(), mac.upper().encode())
    return number if matches else None
