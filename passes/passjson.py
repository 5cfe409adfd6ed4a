"""pass.json for a store card, and the pass.strings that localise it.

pass.json carries its texts in the member's language, so apps that ignore `.lproj`
folders still show the card in the language the member chose. Each `.lproj/pass.strings`
maps those texts (Wallet looks strings up by their literal value) to its language.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from passes.cardnumber import format_card_number
from passes.i18n import N_, all_languages
from passes.model import LANGUAGES, Member, Program, Store, Text, pick

FORMAT_VERSION = 1

# Static labels and messages, by key, in every language (the English msgids are
# translated by passes/translations). `%@` is where Wallet puts the new value.
LABELS: dict[str, Text] = {
    "points": all_languages(N_("Points")),
    "points_changed": all_languages(N_("Points balance: %@")),
    "member": all_languages(N_("Member")),
    "tier": all_languages(N_("Tier")),
    "tier_changed": all_languages(N_("Your tier: %@")),
    "offer": all_languages(N_("Offer")),
    "offer_changed": dict.fromkeys(LANGUAGES, "%@"),
    "no_offer": all_languages(N_("Your offers will appear here")),
    "card_number": all_languages(N_("Card number")),
    "terms": all_languages(N_("Program terms")),
    "stores": all_languages(N_("Stores nearby")),
    "contacts": all_languages(N_("Contacts")),
    "card_page": all_languages(N_("Card online")),
    "privacy": all_languages(N_("Your data: download or delete")),
    # -- offers ---
    "offers": all_languages(N_("Your offers")),
    "offers_changed": dict.fromkeys(LANGUAGES, "%@"),
    "offers_more": all_languages(N_("{n} more")),
    "offer_until": all_languages(N_("Valid until {date}")),
    # -- stamp cards ---
    "stamps": all_languages(N_("Stamps")),
    "stamps_value": all_languages(N_("{dots} {n} of {total}")),
    "stamps_last": all_languages(N_("One more stamp for your gift: %@")),
    # -- paid membership ---
    "membership": all_languages(N_("Membership")),
    "membership_until": all_languages(N_("until {date}")),
    # -- feedback ---
    "feedback": all_languages(N_("How was your visit?")),
    "feedback_link": all_languages(N_("Rate us: 0 to 10")),
    # -- the pass in another language than the program's (English) ---
    "description_other": all_languages(N_("{name} loyalty card")),
    "store_nearby": all_languages(N_("{store} is nearby: show your card")),
}
# The language programs write their own texts in (names, store texts).
PROGRAM_LANGUAGE = "ru"


def rgb(hex_colour: str) -> str:
    """'#1b2a41' -> 'rgb(27, 42, 65)' (the only colour form Apple documents)."""
    value = hex_colour.lstrip("#")
    if len(value) != 6:
        raise ValueError(f"colour must be #rrggbb, not {hex_colour!r}")
    r, g, b = (int(value[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgb({r}, {g}, {b})"


def _store_lines(stores: Sequence[Store]) -> str:
    return "\n".join(f"{s.name}: {s.city}, {s.address}" for s in stores)


def _texts(program: Program, member: Member) -> dict[str, Text]:
    """Every localisable text of this pass, by field key. (What it reads, with the
    member's language, is `_strings_key`: keep the two in step.)"""
    return {
        **LABELS,
        "tier_value": member.tier,
        "terms_value": program.terms,
        "contacts_value": program.contacts,
    }


def build_pass_json(
    program: Program, member: Member, stores: Sequence[Store]
) -> dict[str, Any]:
    """The pass.json of a member's store card (stores: nearest first, up to 10)."""
    texts = _texts(program, member)

    def t(key: str) -> str:
        return pick(texts[key], member.language)

    back_fields: list[dict[str, Any]] = [
        {
            "key": "card_number",
            "label": t("card_number"),
            "value": format_card_number(member.card_number),
        },
        {
            "key": "card_page",
            "label": t("card_page"),
            "value": member.card_url,
            "attributedValue": f'<a href="{member.card_url}">{member.card_url}</a>',
        },
    ]
    if member.feedback_url:
        # First on the back after the card: the rating page (feedback).
        back_fields.append(
            {
                "key": "feedback",
                "label": t("feedback"),
                "value": member.feedback_url,
                "attributedValue": (
                    f'<a href="{member.feedback_url}">{t("feedback_link")}</a>'
                ),
            }
        )
    if stores:
        back_fields.append(
            {"key": "stores", "label": t("stores"), "value": _store_lines(stores)}
        )
    if program.terms:
        back_fields.append(
            {"key": "terms", "label": t("terms"), "value": t("terms_value")}
        )
    if program.contacts:
        back_fields.append(
            {
                "key": "contacts",
                "label": t("contacts"),
                "value": t("contacts_value"),
                "dataDetectorTypes": [
                    "PKDataDetectorTypePhoneNumber",
                    "PKDataDetectorTypeLink",
                ],
            }
        )
    back_fields.append(
        {
            "key": "privacy",
            "label": t("privacy"),
            "value": member.privacy_url,
            "attributedValue": f'<a href="{member.privacy_url}">{t("privacy")}</a>',
        }
    )

    design = program.design
    pass_json: dict[str, Any] = {
        "formatVersion": FORMAT_VERSION,
        "passTypeIdentifier": program.pass_type_identifier,
        "serialNumber": member.serial_number,
        "teamIdentifier": program.team_identifier,
        "organizationName": _organization(program, member.language),
        "description": _description(program, member.language, t),
        "logoText": program.logo_text,
        "foregroundColor": rgb(design.foreground),
        "backgroundColor": rgb(design.background),
        "labelColor": rgb(design.label),
        "webServiceURL": program.web_service_url,
        "authenticationToken": member.authentication_token,
        "sharingProhibited": True,
        "barcodes": [
            {
                "format": "PKBarcodeFormatQR",
                "message": member.barcode_message,
                "messageEncoding": "iso-8859-1",
                "altText": format_card_number(member.card_number),
            }
        ],
        "storeCard": {
            # Header fields stay visible when passes are stacked: the balance.
            "headerFields": [
                {
                    "key": "points",
                    "label": t("points"),
                    "value": member.points,
                    "numberStyle": "PKNumberStyleDecimal",
                    "changeMessage": t("points_changed"),
                    "textAlignment": "PKTextAlignmentRight",
                }
            ],
            "primaryFields": _stamps_field(member, t),
            # Store cards show at most four secondary + auxiliary fields together.
            "secondaryFields": [
                {"key": "member", "label": t("member"), "value": member.name},
                {
                    "key": "tier",
                    "label": t("tier"),
                    "value": t("tier_value"),
                    "changeMessage": t("tier_changed"),
                },
            ],
            # The placeholder carries no changeMessage: an offer that ends
            # (cleared back to the placeholder) updates the pass silently.
            "auxiliaryFields": [
                {
                    "key": "offer",
                    "label": t("offer"),
                    "value": member.offer or t("no_offer"),
                    **({"changeMessage": t("offer_changed")} if member.offer else {}),
                },
                *_offers_field(member, t),
            ],
            "backFields": _membership_back_fields(member, t)
            + _offer_back_fields(member, t)
            + back_fields,
        },
        # A voided card never asks for the lock screen.
        "locations": []
        if member.voided
        else [
            {
                "latitude": s.latitude,
                "longitude": s.longitude,
                "relevantText": s.relevant_text
                if member.language == PROGRAM_LANGUAGE
                else t("store_nearby").format(store=s.name),
            }
            for s in stores[:10]
        ],
    }
    if member.voided:
        pass_json["voided"] = True
    return pass_json


def _organization(program: Program, language: str) -> str:
    if language == PROGRAM_LANGUAGE:
        return program.organization_name
    return program.organization_names.get(language) or program.organization_name


def _description(program: Program, language: str, t: Any) -> str:
    """The pass's description (VoiceOver, the lock screen) in the member's
    language: the program's own, or "<organisation> loyalty card"."""
    if language == PROGRAM_LANGUAGE:
        return program.description
    return program.descriptions.get(language) or t("description_other").format(
        name=_organization(program, language)
    )


def stamps_text(member: Member, t: Any) -> str:
    """«●●●●○○ 4 из 6» (the Apple front field and the Google text module)."""
    target = member.stamps_target
    count = max(0, min(member.stamps, target))
    dots = "●" * count + "○" * (target - count)
    return str(t("stamps_value").format(dots=dots, n=count, total=target))


def _stamps_field(member: Member, t: Any) -> list[dict[str, Any]]:
    """«●●●●○○ 4 из 6»; the phone is told only of the last stamp before the gift
    (the gift itself arrives as a new offer, which notifies)."""
    target = member.stamps_target
    if target <= 0:
        return []
    count = max(0, min(member.stamps, target))
    field: dict[str, Any] = {
        "key": "stamps",
        "label": t("stamps"),
        "value": stamps_text(member, t),
    }
    if count == target - 1:
        field["changeMessage"] = t("stamps_last")
    return [field]


def membership_text(member: Member, t: Any) -> str:
    """«Клуб до 5 января 2027» and the perks, one a line ("" without one)."""
    held = member.membership
    if held is None:
        return ""
    lines = [f"{held.title} {t('membership_until').format(date=held.until)}"]
    lines += [f"• {perk}" for perk in held.perks]
    return "\n".join(lines)


def _membership_back_fields(member: Member, t: Any) -> list[dict[str, Any]]:
    """The membership and its end, first on the back (it changes quietly: a
    renewal or the end is not worth a lock-screen message)."""
    if member.membership is None:
        return []
    return [
        {
            "key": "membership",
            "label": t("membership"),
            "value": membership_text(member, t),
        }
    ]


def _offers_field(member: Member, t: Any) -> list[dict[str, Any]]:
    """The front's offers field: the best offer's title, «· ещё 2» for the rest.
    It notifies only when a new offer arrived (a redemption or an expiry changes
    it silently)."""
    if not member.offers:
        return []
    value = member.offers[0].title
    if len(member.offers) > 1:
        value += " · " + t("offers_more").format(n=len(member.offers) - 1)
    field: dict[str, Any] = {"key": "offers", "label": t("offers"), "value": value}
    if member.offers_new:
        field["changeMessage"] = t("offers_changed")
    return [field]


def _offer_back_fields(member: Member, t: Any) -> list[dict[str, Any]]:
    """Every active offer in full on the back: title, terms, expiry."""
    fields = []
    for i, offer in enumerate(member.offers):
        lines = [offer.terms] if offer.terms else []
        if offer.until:
            lines.append(t("offer_until").format(date=offer.until))
        fields.append(
            {
                "key": f"offer_{i}",
                "label": offer.title,
                "value": "\n".join(lines) or offer.title,
            }
        )
    return fields


def build_strings(program: Program, member: Member) -> dict[str, dict[str, str]]:
    """language -> {text as it stands in pass.json: text in that language}."""
    texts = _texts(program, member)
    strings: dict[str, dict[str, str]] = {}
    for language in LANGUAGES:
        table: dict[str, str] = {}
        for text in texts.values():
            source, target = pick(text, member.language), pick(text, language)
            if source and target and source != "%@":
                table[source] = target
        strings[language] = table
    return strings


def _frozen(text: Text) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(text.items()))


def _strings_key(program: Program, member: Member) -> tuple[Any, ...]:
    """Everything `build_strings` reads (through `_texts`): the program's terms
    and contacts, the member's tier and language."""
    return (
        _frozen(program.terms),
        _frozen(program.contacts),
        _frozen(member.tier),
        member.language,
    )


# _strings_key -> the pass.strings files; a program's members share a few
# (tiers x languages), so a campaign's passes rebuild none (bounded: emptied
# when full).
_STRINGS_FILES: dict[tuple[Any, ...], tuple[tuple[str, bytes], ...]] = {}
_STRINGS_FILES_MAX = 256


def strings_files(program: Program, member: Member) -> tuple[tuple[str, bytes], ...]:
    """(path in the archive, pass.strings) of every language: `build_strings`
    encoded, remembered by what it depends on (~15 % of a pass's build)."""
    key = _strings_key(program, member)
    found = _STRINGS_FILES.get(key)
    if found is None:
        found = tuple(
            (f"{language}.lproj/pass.strings", encode_strings(table))
            for language, table in build_strings(program, member).items()
        )
        if len(_STRINGS_FILES) >= _STRINGS_FILES_MAX:
            _STRINGS_FILES.clear()
        _STRINGS_FILES[key] = found
    return found


def _escape(text: str) -> str:
    return (
        text.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\r", "\\r")
    )


def encode_strings(table: dict[str, str]) -> bytes:
    """A pass.strings file (UTF-8): `"key" = "value";` lines."""
    return _encode_strings(tuple(table.items()))


# The tables repeat across a program's members (they hold program texts and the
# tier), and a bulk refresh encodes thousands of them: remember recent ones.
@lru_cache(maxsize=256)
def _encode_strings(items: tuple[tuple[str, str], ...]) -> bytes:
    lines = [f'"{_escape(key)}" = "{_escape(value)}";' for key, value in items]
    return ("\n".join(lines) + "\n").encode("utf-8")
