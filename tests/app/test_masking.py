"""One masked-phone format for the till, the marketer API, segments and /admin."""

from __future__ import annotations

import pytest

from app.services.masking import mask_name, mask_phone


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("+79161234567", "+7 *** ***-45-67"),
        ("+442079460958", "+44 *** ***-09-58"),
        ("+380501234567", "+380 *** ***-45-67"),
        # An erased member's placeholder is not a number: nothing of it shows.
        ("erased:42", "***"),
        ("", ""),
    ],
)
def test_mask_phone(phone: str, masked: str) -> None:
    assert mask_phone(phone) == masked


def test_mask_name() -> None:
    assert mask_name("Иван Петров") == "И*** П*****"
    assert mask_name("Александра") == "А*****"
    assert mask_name("  ") == "—"
