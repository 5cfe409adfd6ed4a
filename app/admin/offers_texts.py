"""Texts of the /admin offers page: key -> English msgid, translated by the
catalog (merged into app.admin.texts.TEXTS)."""

from __future__ import annotations

from app.i18n import N_, NC_, TextSource

TEXTS: dict[str, TextSource] = {
    "nav.offers": N_("Offers"),
    "offer.none": N_("No offers yet."),
    "offer.new": N_("New offer"),
    "offer.create": N_("Create offer"),
    "offer.kind": N_("Kind"),
    "offer.kind.percent_off": N_("Percent off"),
    "offer.kind.amount_off": N_("Amount off"),
    "offer.kind.points_multiplier": N_("Points multiplier"),
    "offer.kind.bonus_points": N_("Bonus points"),
    "offer.kind.gift": N_("Gift"),
    "offer.value": NC_("offer.value", "Value"),
    "offer.value_hint": N_(
        "Percent (1–100), roubles, a multiplier (2–10) or points; empty for a gift."
    ),
    "offer.cap": N_("Cap, roubles (percent off only)"),
    "offer.min_amount": N_("Minimum purchase, roubles"),
    "offer.combinable": N_("Can be combined with other offers"),
    "offer.valid_days": N_("Valid for days after issue"),
    "offer.valid_until": N_("Valid until (date)"),
    "offer.title_ru": N_("Title (Russian)"),
    "offer.title_en": N_("Title (English)"),
    "offer.terms_ru": N_("Terms (Russian)"),
    "offer.terms_en": N_("Terms (English)"),
    "offer.title": NC_("offer.title", "Offer"),
    "offer.validity": N_("Validity"),
    "offer.days": N_("{n} days after issue"),
    "offer.until": N_("until {date}"),
    "offer.issued": N_("Issued"),
    "offer.redeemed": N_("Redeemed"),
    "offer.rate": N_("Redemption rate"),
    "offer.discount": N_("Discount given"),
    "offer.revenue": N_("Revenue of redeeming purchases"),
    "offer.bad_fields": N_("check these fields: {fields}"),
    "offer.archive": N_("Archive"),
    "offer.archived": N_("Archived."),
}


# --- ux: counts per source, the back-in-stock offer ------------------------------
TEXTS |= {
    "offer.by_source": N_("By source"),
    "offer.by_source.hint": N_(
        "Each offer by where it was issued: a campaign, an automation or by hand."
    ),
    "offer.by_source.none": N_("No offers issued yet."),
    "offer.source": N_("Source"),
    "offer.source.campaign": N_("Campaign No. {id} «{name}»"),
    "offer.source.automation": N_("Automation: {name}"),
    "offer.source.manual": N_("Issued by hand"),
    "offer.source.referral": N_("Referrals"),
    "offer.source.stamps": N_("Stamp card"),
    "offer.back_in_stock": N_("Offer with back-in-stock messages"),
    "offer.back_in_stock.label": NC_("offer.title", "Offer"),
    "offer.back_in_stock.none": N_("No offer"),
    "offer.back_in_stock.hint": N_(
        "Everyone who gets a back-in-stock message also gets this offer, once per "
        "subscription."
    ),
    "offer.back_in_stock.bad": N_("This offer cannot be issued: choose another."),
    "auto.back_in_stock": N_("back in stock"),
}
