"""Finding English on a Russian page: its visible text, the texts of its
attributes people read, and the JSON texts handed to its scripts."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from typing import Any

# Names and codes that stay as they are in Russian texts.
ALLOWED = {
    "apple",
    "wallet",
    "google",
    "android",
    "iphone",
    "ipad",
    "walletpasses",
    "pass2u",
    "severnaya",
    "moda",
    "pkpass",
    "qr",
    "sms",
    "json",
    "csv",
    "api",
    "url",
    "png",
    "jpeg",
    "jpg",
    "utc",
    "rub",
    "openapi",
    "redoc",
    "wlk",
    "pos",
    # The language switch names English in English; the till's key is Enter.
    "english",
    "enter",
    "voiceover",
}
WORD = re.compile(r"[A-Za-z]{3,}")
# Codes, keys, addresses, placeholders: not words people read.
CODE = re.compile(r"[_/@=\\.#]|[A-Za-z]-|-[A-Za-z]|\d|^[A-Z]{2,6}$")
PLACEHOLDER = re.compile(r"\{[a-z_]+\}")
PEOPLE_ATTRIBUTES = {"placeholder", "title", "aria-label", "alt", "label"}
STRIP = "«»()[],;:!?\"'…·—–*%+"


def english_words(text: str) -> list[str]:
    """The English words in `text` (ASCII words of 3+ letters, not codes or names)."""
    found = []
    for token in PLACEHOLDER.sub(" ", text).split():
        token = token.strip(STRIP)
        if not token or CODE.search(token):
            continue
        for word in WORD.findall(token):
            if word.lower() not in ALLOWED:
                found.append(word)
    return found


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []
        self.scripts: list[str] = []
        self._skip = 0
        self._json = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        # textarea: what the program typed (its English texts too, or a segment's
        # JSON); code and pre: codes.
        if tag in ("style", "script", "code", "pre", "textarea"):
            if tag == "script" and values.get("type") == "application/json":
                self._json = True
            else:
                self._skip += 1
        for name, value in attrs:
            if value and (
                name in PEOPLE_ATTRIBUTES
                or (name.startswith("data-") and " " in value.strip())
                or (name == "value" and values.get("type") in ("submit", "button"))
            ):
                self.texts.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._json:
            self._json = False
        elif tag in ("style", "script", "code", "pre", "textarea") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if self._json:
            self.scripts.append(data)
        elif not self._skip:
            self.texts.append(data)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for key, v in value.items() if key != "lang" for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def page_english(html: str) -> list[str]:
    """Every English word of a page, with the text it was found in."""
    parser = _Page()
    parser.feed(html)
    texts = list(parser.texts)
    for script in parser.scripts:
        texts += _strings(json.loads(script))
    return [
        f"{word!r} in {text.strip()[:80]!r}"
        for text in texts
        for word in english_words(text)
    ]
