"""passes.i18n: gettext by explicit language without Flask, Russian plurals for
pass texts, and catalogs that work compiled or not."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from passes.i18n import (
    HERE,
    N_,
    NC_,
    all_languages,
    gettext_in,
    points_forms,
    points_text,
    translations,
)
from passes.passjson import LABELS

PLURALS = {
    1: "1 балл",
    2: "2 балла",
    5: "5 баллов",
    11: "11 баллов",
    21: "21 балл",
    22: "22 балла",
    25: "25 баллов",
    101: "101 балл",
    1250: "1\u00a0250 баллов",
}


@pytest.mark.parametrize(("count", "text"), PLURALS.items())
def test_points_text_in_russian(count: int, text: str) -> None:
    assert points_text(count, "ru") == text


def test_points_text_in_english() -> None:
    assert points_text(1, "en") == "1 point"
    assert points_text(21, "en") == "21 points"
    assert points_forms("en") == {
        "one": "{n} point",
        "few": "{n} points",
        "many": "{n} points",
        "other": "{n} points",
    }


def test_pass_labels_come_from_the_catalog() -> None:
    assert LABELS["points"] == {"ru": "Баллы", "en": "Points"}
    assert all_languages(N_("Stores nearby")) == {
        "ru": "Магазины рядом",
        "en": "Stores nearby",
    }
    # The balance's change message ends with the number Wallet fills in, so no
    # noun follows a count and no plural form is needed there.
    assert LABELS["points_changed"] == {
        "ru": "Баланс баллов: %@",
        "en": "Points balance: %@",
    }


def test_unknown_texts_and_languages_stay_english() -> None:
    assert gettext_in("ru", "No such text") == "No such text"
    assert gettext_in("de", "Points") == "Points"
    assert gettext_in("ru", NC_("nowhere", "Points")) == "Points"


def _copy_catalog(tmp_path: Path) -> Path:
    target = tmp_path / "ru" / "LC_MESSAGES"
    target.mkdir(parents=True)
    shutil.copy(HERE / "ru" / "LC_MESSAGES" / "passes.po", target / "passes.po")
    return target


def test_a_catalog_without_mo_is_compiled_in_memory(tmp_path: Path) -> None:
    target = _copy_catalog(tmp_path)
    catalog = translations("ru", tmp_path, "passes")
    assert catalog.gettext("Points") == "Баллы"
    assert not (target / "passes.mo").exists()


def test_a_stale_mo_is_not_used(tmp_path: Path) -> None:
    target = _copy_catalog(tmp_path)
    (target / "passes.mo").write_bytes(b"not a catalog")
    po = target / "passes.po"
    os.utime(target / "passes.mo", (0, 0))  # older than the .po
    assert po.stat().st_mtime > (target / "passes.mo").stat().st_mtime
    assert translations("ru", tmp_path, "passes").gettext("Points") == "Баллы"
