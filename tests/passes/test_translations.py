"""The gettext catalogs: every entry translated (none empty, none fuzzy), the
placeholders kept, and every text the code marks present in its catalog."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
# (catalog folder, domain, source folders): as the Makefile's `messages` target.
CATALOGS = (
    (ROOT / "app" / "translations", "messages", ("app", "templates")),
    (ROOT / "passes" / "translations", "passes", ("passes",)),
)
KEYWORDS = {
    "_": None,
    "gettext": None,
    "ngettext": (1, 2),
    "pgettext": ((1, "c"), 2),
    "N_": None,
    "NC_": ((1, "c"), 2),
    "plural": (2, 3),
    "plural_forms": (2, 3),
}
METHODS = [("**.py", "python"), ("**.html", "jinja2")]
PLACEHOLDER = re.compile(r"\{[a-z_]*\}|%@")


def po_files() -> list[Path]:
    found = [
        path
        for directory, domain, _ in CATALOGS
        for path in sorted(directory.glob(f"*/LC_MESSAGES/{domain}.po"))
    ]
    assert found, "no catalogs found"
    return found


def problems(po_path: Path) -> list[str]:
    """Why the catalog is not ready: untranslated, fuzzy, broken placeholders."""
    with po_path.open("rb") as handle:
        catalog = read_po(handle)
    found = []
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = (
            message.string if isinstance(message.string, tuple) else (message.string,)
        )
        where = f"{po_path.name}: {ids[0]!r}"
        if message.fuzzy:
            found.append(f"{where} is fuzzy")
        if not all(strings) or len(strings) < (
            catalog.num_plurals if len(ids) > 1 else 1
        ):
            found.append(f"{where} is not translated")
            continue
        wanted = set(PLACEHOLDER.findall(ids[-1]))
        for string in strings:
            if set(PLACEHOLDER.findall(string)) != wanted:
                found.append(f"{where}: placeholders {sorted(wanted)} in {string!r}")
        for error in message.check(catalog):
            found.append(f"{where}: {error}")
    return found


@pytest.mark.parametrize("po_path", po_files(), ids=lambda p: p.parent.parent.name)
def test_catalog_fully_translated(po_path: Path) -> None:
    assert problems(po_path) == []


@pytest.mark.parametrize(("directory", "domain", "sources"), CATALOGS)
def test_every_marked_text_is_in_its_catalog(
    directory: Path, domain: str, sources: tuple[str, ...]
) -> None:
    """A text added in code without `make messages` would show in English."""
    marked = {
        (context, message if isinstance(message, str) else message[0])
        for source in sources
        for _, _, message, _, context in extract_from_dir(
            ROOT / source, METHODS, keywords=KEYWORDS
        )
    }
    assert marked
    for po_path in sorted(directory.glob(f"*/LC_MESSAGES/{domain}.po")):
        with po_path.open("rb") as handle:
            catalog = read_po(handle)
        known = {
            (m.context, m.id if isinstance(m.id, str) else m.id[0])
            for m in catalog
            if m.id
        }
        assert sorted(marked - known, key=str) == [], f"run `make messages`: {po_path}"


def _po(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "messages.po"
    header = (
        'msgid ""\nmsgstr ""\n"Language: ru\\n"\n'
        '"Plural-Forms: nplurals=3; plural=(n%10==1 && n%100!=11 ? 0 : '
        'n%10>=2 && n%10<=4 && (n%100<10 || n%100>=20) ? 1 : 2);\\n"\n\n'
    )
    path.write_text(header + body, encoding="utf-8")
    return path


def test_the_check_sees_an_untranslated_entry(tmp_path: Path) -> None:
    path = _po(tmp_path, 'msgid "Points"\nmsgstr "Баллы"\n\nmsgid "Till"\nmsgstr ""\n')
    assert problems(path) == ["messages.po: 'Till' is not translated"]


def test_the_check_sees_a_fuzzy_entry(tmp_path: Path) -> None:
    path = _po(tmp_path, '#, fuzzy\nmsgid "Till"\nmsgstr "Касса"\n')
    assert problems(path) == ["messages.po: 'Till' is fuzzy"]


def test_the_check_sees_a_missing_plural_form(tmp_path: Path) -> None:
    path = _po(
        tmp_path,
        'msgid "{n} point"\nmsgid_plural "{n} points"\n'
        'msgstr[0] "{n} балл"\nmsgstr[1] "{n} балла"\nmsgstr[2] ""\n',
    )
    assert problems(path) == ["messages.po: '{n} point' is not translated"]


def test_the_check_sees_a_lost_placeholder(tmp_path: Path) -> None:
    path = _po(tmp_path, 'msgid "Store {code}"\nmsgstr "Магазин"\n')
    assert problems(path) == [
        "messages.po: 'Store {code}': placeholders ['{code}'] in 'Магазин'"
    ]
