"""Languages: the page's language, Russian plurals in pages and page scripts,
Babel's money, numbers and dates, and the old ru/en tables still working."""

from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db
from app.i18n import (
    N_,
    catalogue,
    date_text,
    day_month,
    money,
    number,
    plural,
    points_text,
    text_in,
)
from app.models import Member
from tests.app.test_admin import issue, sign_in
from tests.conftest import Demo

PLURALS = {
    1: "балл",
    2: "балла",
    5: "баллов",
    11: "баллов",
    21: "балл",
    22: "балла",
    25: "баллов",
    101: "балл",
}
CYRILLIC = re.compile("[а-яё]", re.IGNORECASE)
# Words a Russian page may show in Latin letters: names, formats, placeholders.
LATIN_OK = re.compile(
    r"^[\s\d\W]*$|Apple|Android|Google|JSON|CSV|API|SKU|IANA|PNG|JPEG|VoiceOver|\{"
)


def set_points(app: Flask, member_id: int, points: int) -> None:
    with app.app_context():
        db.session.get(Member, member_id).points = points
        db.session.commit()


def page_i18n(html: str) -> dict:
    found = re.search(
        r'<script type="application/json" id="page-i18n">(.*?)</script>', html, re.S
    )
    assert found is not None
    return json.loads(found[1])


def test_money_numbers_and_dates_by_babel() -> None:
    # Babel writes Russian group and currency spaces as no-break spaces (U+00A0).
    assert money(Decimal("2499.90"), "ru") == "2\u00a0499,90\u00a0₽"
    assert money("2499.9", "en") == "RUB2,499.90"
    assert number(1250, "ru") == "1\u00a0250"
    assert number(1250, "en") == "1,250"
    assert day_month(date(2026, 3, 21), "ru") == "21.03"
    assert day_month(date(2026, 3, 21), "en") == "3/21"
    assert date_text(date(2026, 3, 14), "ru") == "14.03.2026"
    assert date_text(date(2026, 3, 14), "ru", "long") == "14 марта 2026\u202fг."


@pytest.mark.parametrize(("count", "word"), PLURALS.items())
def test_points_text_plurals(count: int, word: str) -> None:
    assert points_text(count, "ru") == f"{count} {word}"
    assert plural("ru", "point", "points", count) == word
    assert points_text(count, "en") == f"{count} point" + ("" if count == 1 else "s")


def test_old_ru_en_dict_entries_still_work() -> None:
    """Branches that still add {"ru", "en"} dicts to a table keep working."""
    table = {"new": {"ru": "Новое", "en": "New"}, "till": N_("Till")}
    assert catalogue(table, "ru") == {"new": "Новое", "till": "Касса"}
    assert catalogue(table, "en") == {"new": "New", "till": "Till"}
    assert text_in("ru", "Till") == "Касса"


@pytest.mark.parametrize(("count", "word"), PLURALS.items())
def test_card_page_shows_the_balance_with_its_plural(
    app: Flask, client: FlaskClient, demo: Demo, count: int, word: str
) -> None:
    member = demo.passes[0]
    set_points(app, member.member_id, count)
    html = client.get(f"/c/{member.card_token}?lang=ru").text
    assert f'<b id="points">{count}</b> <small id="points-word">{word}</small>' in html


def test_card_page_big_balance_english_and_consent_date(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    member = demo.passes[0]
    set_points(app, member.member_id, 1250)
    ru = client.get(f"/c/{member.card_token}?lang=ru").text
    assert '<b id="points">1\u00a0250</b> <small id="points-word">баллов</small>' in ru
    # The consent date, long (no consent version shown).
    assert re.search(r"данных \d{1,2} [а-я]+ \d{4}\u202fг\.", ru)
    en = client.get(f"/c/{member.card_token}?lang=en").text
    assert '<b id="points">1,250</b> <small id="points-word">points</small>' in en


def test_the_language_follows_query_then_accept_language(
    client: FlaskClient, demo: Demo
) -> None:
    assert 'lang="en"' in client.get("/join?lang=en").text
    english = client.get("/join", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert 'lang="en"' in english.text
    assert "Get my card" in english.text
    russian = client.get("/join", headers={"Accept-Language": "de, ru;q=0.5"})
    assert "Получить карту" in russian.text
    assert "Получить карту" in client.get("/join").text  # the default


def test_pos_page_script_gets_russian_texts_and_plurals(
    client: FlaskClient, demo: Demo
) -> None:
    data = page_i18n(client.get("/pos?lang=ru").text)
    assert data["lang"] == "ru"
    english = {
        key: text
        for key, text in data["texts"].items()
        if not CYRILLIC.search(text) and not LATIN_OK.search(text)
    }
    assert english == {}
    assert data["plurals"]["points"] == {
        "one": "{n} балл",
        "few": "{n} балла",
        "many": "{n} баллов",
        "other": "{n} балла",
    }
    en = page_i18n(client.get("/pos?lang=en").text)
    assert en["texts"]["title"] == "Till"
    assert en["plurals"]["points"]["one"] == "{n} point"
    assert en["plurals"]["points"]["other"] == "{n} points"


def test_admin_pages_in_russian_show_plurals_and_no_english(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    member = demo.passes[0]
    set_points(app, member.member_id, 21)
    sign_in(client, issue(app, demo))
    html = client.get("/admin/members?q=Анна&lang=ru").text
    assert "21 балл" in html
    assert " pts" not in html
    data = page_i18n(client.get("/admin/campaigns").text)
    assert data["plurals"]["members"]["few"] == "{n} участника"
    english = {
        key: text
        for key, text in data["texts"].items()
        if not CYRILLIC.search(text) and not LATIN_OK.search(text)
    }
    assert english == {}


def test_error_pages_in_the_visitors_language(client: FlaskClient) -> None:
    russian = client.get("/no-such-page")
    assert russian.status_code == 404
    assert "Такой страницы нет. Проверьте ссылку." in russian.text
    english = client.get("/no-such-page", headers={"Accept-Language": "en"})
    assert "There is no such page. Please check the link." in english.text
    assert 'lang="en"' in english.text
    assert "Get a card" in client.get("/no-such-page?lang=en").text


def test_admin_language_kept_in_the_session_also_formats_numbers(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    set_points(app, demo.passes[0].member_id, 1250)
    sign_in(client, issue(app, demo))
    client.get("/admin/?lang=en")
    html = client.get("/admin/members?q=Анна", headers={"Accept-Language": "ru"}).text
    assert "1,250 points" in html
    assert "Points history" in html
