"""Texts of the /admin paid membership page: key -> English msgid, translated by
the catalog (merged into app.admin.texts.TEXTS)."""

from __future__ import annotations

from app.i18n import N_, NC_, TextSource

TEXTS: dict[str, TextSource] = {
    # --- premium ---
    "nav.memberships": N_("Paid membership"),
    "memberships.intro": N_(
        "Plans customers buy at the till or in the web shop. While a membership "
        "is active its purchases earn the bonus; the pass shows the plan, its "
        "end and the perks. A renewal extends from the current end."
    ),
    "memberships.stats": N_("Last 30 days"),
    "memberships.active": N_("Active paid members"),
    "memberships.new": N_("New memberships"),
    "memberships.renewed": N_("Renewals"),
    "memberships.changed": N_("Plan changes"),
    "memberships.lapsed": N_("Lapsed"),
    "memberships.revenue": N_("Revenue from fees"),
    "memberships.member_spend": N_("Spend per member"),
    "memberships.non_member_spend": N_("Spend per other buyer"),
    "memberships.plans": N_("Plans"),
    "memberships.none": N_("No plans yet."),
    "memberships.code": NC_("memberships.code", "Code"),
    "memberships.name_ru": N_("Name (Russian)"),
    "memberships.name_en": N_("Name (English)"),
    "memberships.name": NC_("memberships.name", "Name"),
    "memberships.price": N_("Price, roubles"),
    "memberships.period": N_("Period, days"),
    "memberships.bonus": N_("Extra points, %"),
    "memberships.perks_ru": N_("Perks (Russian), one per line"),
    "memberships.perks_en": N_("Perks (English), one per line"),
    "memberships.welcome": N_("Welcome offer (on the first activation)"),
    "memberships.archived": N_("not on sale"),
    "memberships.archive": N_("Stop selling"),
    "memberships.edit": N_("Edit"),
    "memberships.save": N_("Save the plan"),
    "memberships.form": N_("New plan or change (by code)"),
    "memberships.bad": N_(
        "Check the fields: a code of lowercase letters and digits, a Russian "
        "name, a price in roubles, a period from 1 to 3660 days and extra "
        "points from 0 to 1000 %."
    ),
}
