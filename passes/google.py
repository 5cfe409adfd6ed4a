"""Google Wallet: the loyalty class and object, and the Save-to-Google-Wallet link.

Built from the same `passes.model` values as the Apple pass, so both wallets show the
same balance, tier, barcode, offer and nearest stores. The class and object are
inserted over REST first; the Save JWT then only references the object by id, which
keeps the link far under the 1,800 characters browsers tolerate.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from google.auth import crypt
from google.auth import jwt as google_jwt

from passes.cardnumber import format_card_number
from passes.errors import (  # also importable here
    GoogleConfigurationError as GoogleConfigurationError,
)
from passes.geo import MAX_LOCATIONS
from passes.i18n import N_, all_languages
from passes.model import LANGUAGES, GoogleProgram, Member, Program, Store, Text, pick
from passes.passjson import LABELS, membership_text, stamps_text

SAVE_URL_PREFIX = "https://pay.google.com/gp/v/save/"
MAX_SAVE_URL_LENGTH = 1800
INT32_MAX = 2**31 - 1
# Google's identifier alphabet after the issuer id: letters, digits, '.', '_', '-'.
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")

# Rewards labels: 9 characters at most.
GOOGLE_LABELS: dict[str, Text] = {
    "tier_short": all_languages(N_("Tier")),
    "member_short": all_languages(N_("Member")),
    "program": all_languages(N_("About the program")),
}


def safe_suffix(text: str) -> str:
    """`text` reduced to Google's identifier alphabet (anything else becomes '_')."""
    return _UNSAFE.sub("_", text)


def _google(program: Program) -> GoogleProgram:
    if program.google is None:
        raise GoogleConfigurationError("program has no Google Wallet settings")
    return program.google


def class_id(program: Program) -> str:
    """'<issuer id>.<program>': one loyalty class per program."""
    google = _google(program)
    return f"{google.issuer_id}.{safe_suffix(google.class_suffix)}"


def object_id(program: Program, member: Member) -> str:
    """'<issuer id>.<program>.<serial>': one loyalty object per member's card."""
    return f"{class_id(program)}.{safe_suffix(member.serial_number)}"


def localized(text: Text, default_language: str = "ru") -> dict[str, Any]:
    """A LocalizedString: `default_language` first, the other languages translated."""
    first = default_language if text.get(default_language) else "ru"
    value = pick(text, first)
    translated = [
        {"language": language, "value": text[language]}
        for language in LANGUAGES
        if language != first and text.get(language)
    ]
    result: dict[str, Any] = {"defaultValue": {"language": first, "value": value}}
    if translated:
        result["translatedValues"] = translated
    return result


def _label(key: str) -> Text:
    return GOOGLE_LABELS.get(key) or LABELS[key]


def build_loyalty_class(program: Program) -> dict[str, Any]:
    """The program's LoyaltyClass (insert body; also the full PATCH body)."""
    google = _google(program)
    names = google.program_name or {"ru": program.logo_text}
    loyalty_class: dict[str, Any] = {
        "id": class_id(program),
        "issuerName": program.organization_name,
        "programName": pick(names, "ru"),
        "localizedProgramName": localized(names),
        "programLogo": {
            "sourceUri": {"uri": google.logo_url},
            "contentDescription": localized(names),
        },
        "hexBackgroundColor": program.design.background,
        # Objects can only be saved once the class is approved; UNDER_REVIEW is
        # approved at once and must be sent again on every later PATCH.
        "reviewStatus": "UNDER_REVIEW",
        "localizedAccountIdLabel": localized(LABELS["card_number"]),
        "localizedAccountNameLabel": localized(_label("member_short")),
        # Like Apple's sharingProhibited: the card stays with its holder.
        "multipleDevicesAndHoldersAllowedStatus": "ONE_USER_ALL_DEVICES",
    }
    modules = []
    if program.terms:
        modules.append(
            {
                "id": "terms",
                "header": pick(LABELS["terms"], "ru"),
                "body": pick(program.terms, "ru"),
                "localizedHeader": localized(LABELS["terms"]),
                "localizedBody": localized(program.terms),
            }
        )
    if program.contacts:
        modules.append(
            {
                "id": "contacts",
                "header": pick(LABELS["contacts"], "ru"),
                "body": pick(program.contacts, "ru"),
                "localizedHeader": localized(LABELS["contacts"]),
                "localizedBody": localized(program.contacts),
            }
        )
    if modules:
        loyalty_class["textModulesData"] = modules
    if google.homepage_url:
        loyalty_class["homepageUri"] = {
            "uri": google.homepage_url,
            "localizedDescription": localized(_label("program")),
        }
    if google.callback_url:
        loyalty_class["callbackOptions"] = {"url": google.callback_url}
    return loyalty_class


def _balance(points: int) -> dict[str, Any]:
    # `int` is int32 in Google's schema; anything larger goes as a string.
    if -INT32_MAX <= points <= INT32_MAX:
        return {"int": points}
    return {"string": str(points)}


def _store_lines(stores: Sequence[Store]) -> str:
    return "\n".join(f"{s.name}: {s.city}, {s.address}" for s in stores)


def build_loyalty_object(
    program: Program, member: Member, stores: Sequence[Store]
) -> dict[str, Any]:
    """The member's LoyaltyObject (stores: nearest first; the first 10 are used)."""
    language = member.language

    def t(text: Text) -> str:
        return pick(text, language)

    def loc(text: Text) -> dict[str, Any]:
        return localized(text, language)

    nearest = list(stores[:MAX_LOCATIONS])
    offer_text = {language: member.offer} if member.offer else LABELS["no_offer"]
    modules: list[dict[str, Any]] = [
        {
            "id": "offer",
            "header": t(LABELS["offer"]),
            "body": t(offer_text),
            "localizedHeader": loc(LABELS["offer"]),
            "localizedBody": loc(offer_text),
        }
    ]
    if member.stamps_target > 0:
        # Like the Apple pass's front: «●●●●○○ 4 из 6», after the offer.
        modules.append(
            {
                "id": "stamps",
                "header": t(LABELS["stamps"]),
                "body": stamps_text(member, lambda key: t(LABELS[key])),
                "localizedHeader": loc(LABELS["stamps"]),
            }
        )
    if member.membership is not None:
        modules.append(
            {
                "id": "membership",
                "header": t(LABELS["membership"]),
                "body": membership_text(member, lambda key: t(LABELS[key])),
                "localizedHeader": loc(LABELS["membership"]),
            }
        )
    if nearest:
        modules.append(
            {
                "id": "stores",
                "header": t(LABELS["stores"]),
                "body": _store_lines(nearest),
                "localizedHeader": loc(LABELS["stores"]),
            }
        )
    card_number = format_card_number(member.card_number)
    return {
        "id": object_id(program, member),
        "classId": class_id(program),
        "state": "EXPIRED" if member.voided else "ACTIVE",
        "accountId": card_number,
        "accountName": member.name,
        "loyaltyPoints": {
            "label": t(LABELS["points"]),
            "localizedLabel": loc(LABELS["points"]),
            "balance": _balance(member.points),
        },
        # Loyalty objects have no tier field of their own (rewardsTier is per
        # class): the tier is the secondary balance, a short text.
        "secondaryLoyaltyPoints": {
            "label": t(_label("tier_short")),
            "localizedLabel": loc(_label("tier_short")),
            "balance": {"string": t(member.tier)},
        },
        "barcode": {
            "type": "QR_CODE",
            "value": member.barcode_message,
            "alternateText": card_number,
            "renderEncoding": "UTF_8",
        },
        "textModulesData": modules,
        "linksModuleData": {
            "uris": [
                {
                    "id": "card_page",
                    "uri": member.card_url,
                    "description": t(LABELS["card_page"]),
                    "localizedDescription": loc(LABELS["card_page"]),
                },
                {
                    "id": "privacy",
                    "uri": member.privacy_url,
                    "description": t(LABELS["privacy"]),
                    "localizedDescription": loc(LABELS["privacy"]),
                },
            ]
            + feedback_links(member)
        },
        # merchantLocations, not the deprecated `locations` (no geo notifications).
        "merchantLocations": [
            {"latitude": s.latitude, "longitude": s.longitude} for s in nearest
        ],
    }


def feedback_links(member: Member) -> list[dict[str, Any]]:
    """The rating page while a request is open (feedback)."""
    if not member.feedback_url:
        return []
    return [
        {
            "id": "feedback",
            "uri": member.feedback_url,
            "description": pick(LABELS["feedback_link"], member.language),
            "localizedDescription": localized(LABELS["feedback_link"], member.language),
        }
    ]


# Messages the pass's state decides (active offers, an open rating request):
# replaced on every sync, so one that ended disappears.
OFFER_MESSAGE_PREFIX = "offer-"
FEEDBACK_MESSAGE_ID = f"{OFFER_MESSAGE_PREFIX}feedback"


def offer_messages(member: Member) -> list[dict[str, Any]]:
    """Each active offer as an object message shown until the offer expires
    (a redeemed or expired offer is left out, so a sync removes it)."""
    messages = []
    for offer in member.offers:
        lines = [offer.terms] if offer.terms else []
        if offer.until:
            lines.append(
                pick(LABELS["offer_until"], member.language).format(date=offer.until)
            )
        message: dict[str, Any] = {
            "id": f"{OFFER_MESSAGE_PREFIX}{safe_suffix(offer.key)}",
            "header": offer.title,
            "body": "\n".join(lines) or offer.title,
            "messageType": "TEXT",
        }
        if offer.ends:
            message["displayInterval"] = {"end": {"date": offer.ends}}
        messages.append(message)
    if member.feedback_url:
        messages.append(
            {
                "id": FEEDBACK_MESSAGE_ID,
                "header": pick(LABELS["feedback"], member.language),
                "body": (
                    f"{pick(LABELS['feedback_link'], member.language)}: "
                    f"{member.feedback_url}"
                ),
                "messageType": "TEXT",
            }
        )
    return messages


def origin(url: str) -> str:
    """'https://shop.example/c/x' -> 'https://shop.example' (for `origins`)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def save_jwt_claims(
    issuer_email: str,
    loyalty_object_id: str,
    loyalty_class_id: str,
    origins: Sequence[str],
    issued_at: int | None = None,
) -> dict[str, Any]:
    """Claims of a Save JWT that references an object already inserted over REST."""
    return {
        "iss": issuer_email,
        "aud": "google",
        "typ": "savetowallet",
        "iat": int(time.time()) if issued_at is None else issued_at,
        "origins": list(origins),
        "payload": {
            "loyaltyObjects": [{"id": loyalty_object_id, "classId": loyalty_class_id}]
        },
    }


def save_url(signer: crypt.Signer, claims: dict[str, Any]) -> str:
    """'https://pay.google.com/gp/v/save/<JWT>', signed RS256 by `signer`.

    :param signer: the service account's signer (its key id goes in the header).
    :raises ValueError: if the link would pass 1,800 characters.
    """
    token: str = google_jwt.encode(signer, claims).decode("ascii")
    url = SAVE_URL_PREFIX + token
    if len(url) > MAX_SAVE_URL_LENGTH:
        raise ValueError(f"Save link is {len(url)} characters, over 1,800")
    return url
