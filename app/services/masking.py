"""Masked personal data for people who need to recognise a member, not copy them:
cashiers, marketers and the dashboard. One format everywhere."""

from __future__ import annotations

import phonenumbers


def mask_phone(phone: str) -> str:
    """'+79161234567' -> '+7 *** ***-45-67': the country and the last four digits.

    Anything that is not a phone number (an erased member's placeholder) is '***'.
    """
    if not phone:
        return ""
    try:
        country = phonenumbers.parse(phone).country_code
    except phonenumbers.NumberParseException:
        return "***"
    return f"+{country} *** ***-{phone[-4:-2]}-{phone[-2:]}"


def mask_name(name: str) -> str:
    """'Иван Петров' -> 'И*** П*****': initials and (at most five) stars per word."""
    words = [w for w in name.split() if w]
    return " ".join(w[0] + "*" * min(len(w) - 1, 5) for w in words) or "—"
