"""gettext catalogs by explicit language (no Flask, no request).

Texts are written in English in the code (the msgids) and translated by the
`.po` catalogs under a `translations/<lang>/LC_MESSAGES/<domain>.po` folder;
English needs no catalog. `make setup` compiles the `.mo` files; where one is
missing or older than its `.po` (a fresh checkout run straight by pytest), the
`.po` is compiled in memory instead, so texts never silently fall back to English.
"""

from __future__ import annotations

import gettext as _gettext
from functools import lru_cache
from io import BytesIO
from pathlib import Path
from typing import NamedTuple

from babel.messages import mofile, pofile
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations

from passes.model import LANGUAGES

SOURCE_LANGUAGE = "en"
HERE = Path(__file__).resolve().parent / "translations"
DOMAIN = "passes"


class Msg(NamedTuple):
    """A msgid with a context: the same English in two places, two Russian texts."""

    context: str
    msgid: str


def N_(msgid: str) -> str:  # noqa: N802 - the usual gettext marker name
    """Mark `msgid` for extraction; it is translated where it is shown."""
    return msgid


def NC_(context: str, msgid: str) -> Msg:  # noqa: N802
    """Mark `msgid` in `context` for extraction (pgettext)."""
    return Msg(context, msgid)


def compile_catalog(po_path: Path) -> bytes:
    """The `.mo` bytes of a `.po` file (fuzzy entries are left out, as msgfmt does)."""
    with po_path.open("rb") as handle:
        catalog = pofile.read_po(handle)
    out = BytesIO()
    mofile.write_mo(out, catalog)
    return out.getvalue()


def _po_path(directory: Path, domain: str, language: str) -> Path:
    return directory / language / "LC_MESSAGES" / f"{domain}.po"


@lru_cache(maxsize=32)
def translations(
    language: str, directory: Path = HERE, domain: str = DOMAIN
) -> NullTranslations:
    """The catalog of `language` (identity for English and unknown languages)."""
    po = _po_path(directory, domain, language)
    if language == SOURCE_LANGUAGE or not po.exists():
        return NullTranslations()
    mo = po.with_suffix(".mo")
    if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
        with mo.open("rb") as handle:
            return Translations(handle, domain=domain)
    return Translations(BytesIO(compile_catalog(po)), domain=domain)


def gettext_in(
    language: str, text: str | Msg, directory: Path = HERE, domain: str = DOMAIN
) -> str:
    """`text` (a msgid or a `Msg`) in `language`."""
    catalog: _gettext.NullTranslations = translations(language, directory, domain)
    if isinstance(text, Msg):
        return catalog.pgettext(text.context, text.msgid)
    return catalog.gettext(text)


def all_languages(text: str | Msg) -> dict[str, str]:
    """{"ru": ..., "en": ...} of a marked text (the shape `passes.model.Text` has)."""
    return {language: gettext_in(language, text) for language in LANGUAGES}


def plural_forms(
    language: str,
    singular: str,
    plurals: str,
    directory: Path = HERE,
    domain: str = DOMAIN,
) -> dict[str, str]:
    """The forms of a plural text by CLDR category (one, few, many, other), for
    page scripts that pick one with `Intl.PluralRules`."""
    catalog = translations(language, directory, domain)
    # A count of each category; Russian "other" is fractions: "1,5 балла".
    samples = {"one": 1, "few": 2, "many": 5, "other": 2}
    return {
        category: catalog.ngettext(singular, plurals, count)
        for category, count in samples.items()
    }


def points_forms(language: str) -> dict[str, str]:
    """'{n} балл', '{n} балла', '{n} баллов' by CLDR category (page scripts)."""
    return plural_forms(language, "{n} point", "{n} points")


def points_text(count: int, language: str) -> str:
    """'1 балл', '2 балла', '5 баллов', '1 250 баллов' / '1 point', '5 points'."""
    template = translations(language).ngettext("{n} point", "{n} points", count)
    return template.format(n=format_decimal(count, locale=language))
