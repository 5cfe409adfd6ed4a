"""Texts of the /admin dashboard: key -> English msgid (Russian in the catalog)."""

from __future__ import annotations

from app.admin.catalog_texts import TEXTS as CATALOG_TEXTS
from app.i18n import N_, NC_, TextSource, catalogue

TEXTS: dict[str, TextSource] = {
    "title": N_("Marketer dashboard"),
    "login": NC_("login", "Sign in"),
    "login.key": N_("API key (marketer or admin)"),
    "login.bad": N_("That key did not work."),
    "login.submit": NC_("login.submit", "Sign in"),
    "logout": N_("Sign out"),
    "nav.overview": N_("Overview"),
    "nav.segments": N_("Segments"),
    "nav.campaigns": N_("Campaigns"),
    "nav.members": NC_("nav.members", "Members"),
    "nav.audit": N_("Audit log"),
    "nav.settings": N_("Settings"),
    "members": NC_("members", "Members"),
    "chart.signups": N_("Sign-ups"),
    "chart.installs_apple": N_("Apple installs"),
    "chart.installs_android": N_("Android installs"),
    "chart.installs_google": N_("Google saves"),
    "chart.pushes_sent": N_("Pushes sent"),
    "chart.pushes_failed": N_("Pushes failed"),
    "chart.redemptions": N_("Redemptions"),
    "export": N_("Download CSV"),
    "last30": N_("last 30 days, per day"),
    "segment": N_("Segment (JSON)"),
    "segment.help": N_(
        "Rules: all, tier, new, active, lapsed, birthday, near, "
        "installed_never_scanned, reachable, and/or/not."
    ),
    "count": N_("Count"),
    "reachable": N_("reachable"),
    "campaign.new": N_("New campaign"),
    "campaign.name": NC_("campaign.name", "Name"),
    "campaign.text_ru": N_("Text (Russian)"),
    "campaign.text_en": N_("Text (English)"),
    "campaign.start": N_("Start (optional)"),
    "campaign.create": N_("Create draft"),
    "campaign.schedule": N_("Schedule"),
    "campaign.cancel": NC_("campaign.cancel", "Cancel"),
    "campaign.state": N_("State"),
    "campaign.progress": N_("Progress"),
    "search": N_("Search"),
    "search.hint": N_("Card number, phone or name"),
    "ledger": N_("Points history"),
    "devices": N_("Devices"),
    "pass": N_("Pass"),
    "nothing": N_("Nothing found."),
    "audit.who": N_("Who"),
    "audit.what": N_("Action"),
    "audit.target": N_("Target"),
    "audit.when": N_("When"),
    "audit.details": N_("Details"),
}

TEXTS |= CATALOG_TEXTS


def texts(language: str) -> dict[str, str]:
    return catalogue(TEXTS, language)
