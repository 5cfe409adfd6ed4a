"""Texts of /admin/settings: key -> English msgid (Russian in the catalog)."""

from __future__ import annotations

from app.i18n import N_, NC_, TextSource, catalogue

TEXTS: dict[str, TextSource] = {
    "nav": N_("Settings"),
    "choose": N_("Choose a program"),
    "brand": N_("Brand"),
    "name": N_("Program name"),
    "organization_name": N_("Organization"),
    "description": N_("Card description (for VoiceOver)"),
    "logo_text": N_("Text next to the logo"),
    "brand_name": N_("Brand in Latin letters (icon letter, Google)"),
    "colors": N_("Colours"),
    "color.background": N_("Background"),
    "color.foreground": N_("Text"),
    "color.label": N_("Labels"),
    "color.accent": N_("Accent (drawn images)"),
    "images": N_("Images"),
    "images.help": N_(
        "PNG or JPEG up to 4 MB. Icon: a square of 58 px or more (best 660); logo: "
        "100 px high or more (best 480×150, transparent background); strip: 750×246 "
        "or more (best 1125×369). A chosen image shows in the sample card at once "
        "and goes onto the cards when you save; without one the image is drawn from "
        "the colours."
    ),
    "image.icon": N_("Icon"),
    "image.logo": N_("Logo"),
    "image.strip": N_("Strip"),
    "image.drawn": N_("drawn from the colours"),
    "image.uploaded": N_("uploaded"),
    "image.remove": NC_("image.remove", "Remove"),
    "image.pending": N_("chosen, not saved yet:"),
    "image.chosen": N_("The chosen image"),
    "image.discard": N_("Discard"),
    "image.not_image": N_("this is not a PNG or JPEG image."),
    "image.too_big": N_("the file is larger than {mb} MB."),
    "image.too_wide": N_("the image is larger than {px} px on a side."),
    "texts": N_("Texts on the back"),
    "terms_ru": N_("Terms (Russian)"),
    "terms_en": N_("Terms (English)"),
    "contacts_ru": N_("Contacts (Russian)"),
    "contacts_en": N_("Contacts (English)"),
    "rules": N_("Points rules"),
    "max_redeem_percent": N_("Points may pay up to, % per receipt"),
    "point_value": N_("1 point = RUB"),
    "welcome_bonus": N_("Sign-up bonus points"),
    "profile_points": N_("Points for a completed profile"),
    "profile_points.hint": N_(
        "Granted once when the customer fills in name, e-mail, birthday and home "
        "store on the card page; 0 switches it off."
    ),
    "rounding": N_("Rounding of earned points to whole points"),
    "rounding.down": N_("down (9.9 → 9)"),
    "rounding.nearest": N_("to the nearest (9.5 → 10, 9.4 → 9)"),
    "rounding.up": N_("up (9.1 → 10)"),
    "time": N_("Time"),
    "timezone": N_("Time zone (IANA)"),
    "quiet_from": N_("Quiet hours from"),
    "quiet_until": N_("until"),
    "tiers": N_("Tiers"),
    "tier.code": N_("Code"),
    "tier.name_ru": NC_("tier.name_ru", "Name (Russian)"),
    "tier.name_en": NC_("tier.name_en", "Name (English)"),
    "tier.min_spend": N_("From, RUB in 12 months"),
    "tier.earn_percent": N_("Earn, %"),
    "tier.add": N_("Add a tier"),
    "tier.remove": NC_("tier.remove", "Remove"),
    "preview": N_("How the card looks"),
    "preview.note": N_("A sample member; the QR code is a placeholder."),
    "save": N_("Save"),
    "saved": N_("Saved."),
    "unchanged": N_("Nothing to save."),
    "refresh": N_("Updating cards"),
    "refresh.retiered": N_("changed tier:"),
    "refresh.help": N_(
        "Cards are updated in batches by the worker; devices are pushed. After new "
        "tier thresholds every member's tier is recalculated from their 12-month "
        "spend in the same batches."
    ),
    "signup_otp": N_("Confirm the phone with an SMS code at sign-up"),
}

# --- fallback channels: members without a card in a wallet --------------------
TEXTS |= {
    "fallback": N_("Members without a card in a wallet get campaigns"),
    "fallback.none": N_("only on the card page"),
    "fallback.sms": N_("by SMS"),
    "fallback.email": N_("by e-mail"),
    "fallback.email_then_sms": N_("by e-mail, or by SMS when there is no address"),
    "fallback.sms_then_email": N_("by SMS, or by e-mail when there is no phone"),
    "fallback.help": N_(
        "The wallet goes first; only members it cannot reach who agreed to offers "
        "get an SMS or e-mail with the text and their card link. Quiet hours and "
        "the message limit apply. SMS are paid: the campaign shows the cost before "
        "it starts."
    ),
}

# --- ux: the privacy policy, shown from the card page and /join ----------------
TEXTS |= {
    "privacy_ru": N_("Privacy policy (Russian)"),
    "privacy_en": N_("Privacy policy (English)"),
    "country": N_("Country (two letters: RU, KZ…)"),
}


def texts(language: str) -> dict[str, str]:
    return catalogue(TEXTS, language)
