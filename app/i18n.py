"""Languages: the gettext catalogs, the page's language, and Babel formatting.

Texts are written in English in the code and translated by the `messages`
catalog under app/translations (Russian; English is the source language and
needs no catalog). Pages keep their texts as tables `key -> msgid` (MESSAGES
here, app/admin/texts.py, app/pos/texts.py ...) and hand them to templates and
scripts in one language with `catalogue()`. A table entry may still be an old
`{"ru": ..., "en": ...}` dict: it is shown as it stands until it is moved to the
catalog. Texts built outside a request (pushes, automation messages) use the
explicit-language helpers here or in passes.i18n, never the request-bound
`flask_babel.gettext`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import flask_babel
from babel.dates import format_date, format_datetime, format_skeleton
from babel.numbers import format_currency, format_decimal
from flask import Flask, g, has_request_context, request
from flask_babel import Babel

from passes.i18n import (
    N_,
    NC_,
    Msg,
    gettext_in,
    points_forms,
    points_text,
    translations,
)
from passes.i18n import plural_forms as _plural_forms

LANGUAGES = ("ru", "en")
DEFAULT_LANGUAGE = "ru"
CURRENCY = "RUB"
DIRECTORY = Path(__file__).resolve().parent / "translations"
DOMAIN = "messages"

# A table entry: a msgid, a msgid with a context, or an old ru/en dict.
TextSource = str | Msg | dict[str, str]

__all__ = ["N_", "NC_", "Msg", "points_text"]

MESSAGES: dict[str, TextSource] = {
    "join.title": N_("Loyalty card"),
    "join.lead": N_(
        "A card in your phone in 30 seconds: your balance always in view, no plastic "
        "and no app to install."
    ),
    "field.name": NC_("field.name", "Name"),
    "field.phone": N_("Phone"),
    "field.email": N_("E-mail"),
    "field.birthday": N_("Birthday"),
    "field.store": N_("Favourite store"),
    "field.city": N_("or city"),
    "field.language": N_("Card language"),
    "field.consent": N_(
        "I agree to the processing of my personal data for the loyalty program and "
        "to notifications on my card."
    ),
    "field.optional": N_("optional"),
    "choose": N_("— choose —"),
    "join.submit": N_("Get my card"),
    "join.errors": N_("Please check the form."),
    "error.name": N_("Enter your name (up to 120 characters)."),
    "error.phone": N_("Enter a phone number, e.g. +7 912 345-67-89."),
    "error.email": N_("That e-mail address does not look right."),
    "error.birthday": N_("Enter a real date of birth."),
    "error.location": N_("Choose a store or a city."),
    "error.language": N_("Choose a language."),
    "error.consent": N_("We cannot issue a card without your consent."),
    "error.csrf": N_("The page has expired, please submit the form again."),
    "card.title": N_("Your card"),
    "stock.title": N_("Back in stock alerts"),
    "stock.size": N_("size"),
    "stock.store": N_("Store"),
    "stock.any_store": N_("Any store"),
    "stock.subscribe": N_("Notify me"),
    "stock.unsubscribe": N_("Unsubscribe"),
    "stock.none": N_("You are not waiting for anything yet: pick a product below."),
    "stock.invalid": N_("This product, size or store is not available."),
    "card.tier": N_("Tier"),
    "card.number": N_("Card number"),
    "card.apple": N_("Add to Apple Wallet"),
    "card.google": N_("Save to Google Wallet"),
    "google.error_title": N_("Google Wallet is not available right now"),
    "google.error_text": N_(
        "We could not prepare your card for Google Wallet. Please try again in a few "
        "minutes — your card and points are fine."
    ),
    "google.back": N_("Back to my card"),
    "card.android": N_(
        "On Android: open the .pkpass file in WalletPasses or a similar app."
    ),
    "card.qr": N_("Open this page on your phone: point its camera at the code."),
    "card.offers": N_("Offers"),
    "card.no_offers": N_("No offers yet — they will appear on your card."),
    "card.privacy": N_("Your data"),
    "card.privacy_text": N_(
        "We keep your name, phone, e-mail and birthday only for the loyalty program. "
        "Consent version {version} given on {date}."
    ),
    "card.download": N_("Download my data"),
    "card.erase_title": N_("Delete my data"),
    "card.erase_text": N_(
        "Your name, phone, e-mail and birthday will be deleted, the card on your "
        "phone becomes void and your points are lost. This cannot be undone."
    ),
    "card.erase_confirm": N_("Yes, delete my data and my card"),
    "card.erase_button": N_("Delete"),
    "card.erase_confirm_needed": N_("Tick the box to confirm the deletion."),
    "erased.title": N_("Your data is deleted"),
    "erased.text": N_(
        "We have deleted your personal data. The card in your wallet is marked void; "
        "you can remove it from your phone."
    ),
    "error.title": N_("Something went wrong"),
    "error.404": N_("There is no such page. Please check the link."),
    "error.other": N_("Please try again a little later."),
    "nav.join": N_("Get a card"),
    "join.lost": N_("Lost your card?"),
    "sent.title": N_("Link sent"),
    "sent.text": N_("We have sent the link to your card to {phone}."),
    "sent.email": N_("If the card has an e-mail address, the link goes there too."),
    "sent.hint": N_(
        "Open the link on your phone to add the card to your wallet. If nothing "
        "arrives within a few minutes, please try again later."
    ),
    "lost.title": N_("Lost your card?"),
    "lost.lead": N_(
        "Enter the phone number the card was issued for: we will send the link to it."
    ),
    "lost.submit": N_("Send me the link"),
    "lost.back": N_("Get a new card"),
    "otp.title": N_("Confirm your number"),
    "otp.lead": N_(
        "We have sent a 6-digit code to {phone}. It is valid for 10 minutes."
    ),
    "otp.code": N_("Code from the SMS"),
    "otp.submit": NC_("otp.submit", "Confirm"),
    "otp.resend": N_("Send a new code"),
    "otp.wrong": N_("That code does not match. Check the digits in the SMS."),
    "otp.expired": N_(
        "The code has expired or no attempts are left: ask for a new one."
    ),
    "card.new_link_title": N_("Link to this card"),
    "card.new_link_text": N_(
        "Anyone with the link to this page sees the card. If you shared it, issue a "
        "new one: the old link stops working and the card in your wallet updates by "
        "itself."
    ),
    "card.new_link_button": N_("Issue a new link"),
    "card.new_link_done": N_(
        "Done: the card has a new link and the old one no longer opens. Bookmark "
        "this page."
    ),
    # --- offers ---
    "card.offer_until": N_("Valid until {date}"),
    # --- mechanics (stamp cards) ---
    "card.stamps": N_("Stamp card"),
    "card.stamps_count": N_("{n} of {total}"),
    "card.stamps_gift": N_("Gift: {title}"),
    # --- mechanics (referrals) ---
    "card.share": N_("Invite a friend"),
    "card.share_hint": N_(
        "Send this link to a friend: after their first purchase you both get a gift."
    ),
    "card.share_button": N_("Share the link"),
    # --- premium (paid membership) ---
    "card.membership": N_("Club membership"),
    "card.membership_until": N_("{plan} until {date}"),
    "card.membership_bonus": N_("+{percent}% points on purchases"),
    # --- feedback: the open rating request, as on the pass's back ---
    "card.feedback": N_("How was your visit?"),
    "card.feedback_link": N_("Rate your visit from 0 to 10"),
}
# Plural texts of the stamp card (mechanics).
STAMPS_LEFT = ("{n} more stamp to your gift", "{n} more stamps to your gift")

# --- ux: the card page (wallet buttons, history, profile), terms and privacy ----
MESSAGES |= {
    "badge.apple.first": N_("Add to"),
    "card.android_step": N_(
        "On Android: install WalletPasses (or another app for .pkpass cards) from "
        "Google Play, then tap the button below: the card opens in it."
    ),
    "card.download_pkpass": N_("Download the card (.pkpass)"),
    "card.history": N_("Purchases and points"),
    "history.earn": N_("purchase"),
    "history.redeem": N_("paid with points"),
    "history.refund": NC_("ledger", "refund"),
    "history.bonus": NC_("ledger", "bonus"),
    "history.adjustment": NC_("ledger", "adjustment"),
    "history.expiry": N_("points expired"),
    "history.forfeit": N_("points written off"),
    "profile.title": N_("My details"),
    "profile.saved": NC_("profile", "Saved."),
    "profile.birthday_once": N_("once: it cannot be changed later"),
    "profile.marketing": N_("Receive offers"),
    "profile.marketing_hint": N_(
        "Campaigns and offers on your card. Balance and tier updates come anyway."
    ),
    "profile.save": NC_("profile", "Save"),
    "card.consent_given": N_("You agreed to the processing of your data on {date}."),
    "text.terms": N_("Programme terms"),
    "text.privacy": N_("Privacy policy"),
    "text.terms_default": N_("The programme terms have not been published yet."),
    "text.privacy_default": N_(
        "We keep your name, phone, e-mail, birthday, favourite store, purchases and "
        "points to run the loyalty programme, and nothing else. You can download your "
        "data or delete your card at any time on your card page."
    ),
    "join.welcome_bonus": N_("{points} as a welcome gift for joining."),
}


def pick_language(explicit: str | None = None) -> str:
    """The visitor's language: explicit choice, then ?lang=, then Accept-Language.

    It becomes the request's locale (Flask-Babel's formatting and `_()`).
    """
    for candidate in (explicit, request.args.get("lang"), request.form.get("language")):
        if candidate in LANGUAGES:
            return _use(candidate)
    best = request.accept_languages.best_match(LANGUAGES, default=DEFAULT_LANGUAGE)
    return _use(best or DEFAULT_LANGUAGE)


def _use(language: str) -> str:
    if g.get("language") != language:
        g.language = language
        from flask_babel import refresh

        refresh()  # the locale Flask-Babel cached for this request, if any
    return language


def _locale() -> str:
    """Flask-Babel's locale selector: the language the view picked, else the
    visitor's ?lang= or Accept-Language (not the form: an error page for a
    too-large body must not read it)."""
    if not has_request_context():
        return DEFAULT_LANGUAGE
    language = g.get("language") or request.args.get("lang")
    if language in LANGUAGES:
        return str(language)
    best = request.accept_languages.best_match(LANGUAGES, default=DEFAULT_LANGUAGE)
    return best or DEFAULT_LANGUAGE


def init_app(app: Flask) -> None:
    """Flask-Babel on the app's catalogs, the helpers templates use."""
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE)
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(DIRECTORY))
    Babel(app, locale_selector=_locale)
    # Templates' _() and ngettext() read the same catalogs as everything else
    # (explicit language, compiled or not); ngettext fills {n} with the number.
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=lambda text: text_in(_locale(), text),
        ngettext=lambda one, many, count: plural(_locale(), one, many, count),
        newstyle=False,
    )
    app.jinja_env.filters["money"] = lambda amount: money(amount, _locale())
    app.jinja_env.filters["number"] = lambda value: number(value, _locale())
    app.jinja_env.filters["date"] = _date_filter
    app.jinja_env.filters["datetime"] = _datetime_filter
    app.jinja_env.globals["page_language"] = _locale
    app.jinja_env.globals["points_text"] = lambda count: points_text(
        int(count), _locale()
    )


def _date_filter(value: date | datetime, width: str = "short") -> str:
    """'04.12.2026' / '12/4/26' (datetimes in the app's time zone, UTC)."""
    return str(flask_babel.format_date(value, width))


def _datetime_filter(value: datetime, width: str = "short") -> str:
    """'04.12.2026, 21:49' / '12/4/26, 9:49 PM'."""
    return str(flask_babel.format_datetime(value, width))


def text_in(language: str, text: TextSource) -> str:
    """One text in `language` (a msgid, a Msg, or an old ru/en dict)."""
    if isinstance(text, dict):
        return in_language(text, language)
    return gettext_in(language, text, DIRECTORY, DOMAIN)


def plural(language: str, singular: str, plurals: str, count: int) -> str:
    """The plural form of `count` in `language`; `{n}` is the formatted count."""
    catalog = translations(language, DIRECTORY, DOMAIN)
    template = catalog.ngettext(singular, plurals, count)
    return template.format(n=number(count, language))


def plural_forms(language: str, singular: str, plurals: str) -> dict[str, str]:
    """A plural text of this catalog by CLDR category, for page scripts."""
    return _plural_forms(language, singular, plurals, DIRECTORY, DOMAIN)


def page_texts(
    language: str,
    texts: Mapping[str, TextSource],
    plurals: dict[str, dict[str, str]] | None = None,
) -> dict[str, object]:
    """What a page's script gets (static/i18n.js reads it): its texts in the
    page's language and its plural texts by CLDR category."""
    return {
        "lang": language,
        "texts": catalogue(texts, language),
        "plurals": {"points": points_forms(language), **(plurals or {})},
    }


def in_language(text: dict[str, str], language: str) -> str:
    """One text of an old ru/en dict in `language`, falling back to Russian."""
    return text.get(language) or text["ru"]


def catalogue(texts: Mapping[str, TextSource], language: str) -> dict[str, str]:
    """A whole table of texts in one language (pages that pass it to templates/JS)."""
    return {key: text_in(language, text) for key, text in texts.items()}


def translate(key: str, language: str, **values: object) -> str:
    text = text_in(language, MESSAGES[key])
    return text.format(**values) if values else text


# -- formatting (Babel, by language) ------------------------------------------


def money(amount: Decimal | float | int | str, language: str) -> str:
    """'2 499,90 ₽' (no-break spaces, U+00A0) in Russian, 'RUB2,499.90' in English."""
    return format_currency(Decimal(str(amount)), CURRENCY, locale=language)


def number(value: Decimal | float | int, language: str) -> str:
    """'1 250' (no-break space) in Russian, '1,250' in English."""
    return format_decimal(value, locale=language)


def day_month(day: date | datetime, language: str) -> str:
    """A short day and month: '04.12' in Russian, '12/4' in English."""
    return format_skeleton("MMdd", day, locale=language)


def date_text(day: date, language: str, width: str = "short") -> str:
    """'14.03.2026' / '3/14/26' ('long': '14 марта 2026 г.')."""
    return format_date(day, width, locale=language)


def datetime_text(moment: datetime, language: str, width: str = "short") -> str:
    """'14.03.2026, 10:00' / '3/14/26, 10:00 AM', in `moment`'s own time zone."""
    return format_datetime(moment, width, tzinfo=moment.tzinfo, locale=language)


def localized(text: TextSource) -> dict[str, str]:
    """{"ru": ..., "en": ...} of one text (services that store both)."""
    return {language: text_in(language, text) for language in LANGUAGES}
