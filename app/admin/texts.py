"""Texts of the /admin dashboard: key -> English msgid (Russian in the catalog)."""

from __future__ import annotations

from app.admin.catalog_texts import TEXTS as CATALOG_TEXTS
from app.i18n import N_, NC_, TextSource, catalogue, page_texts, plural_forms

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
    # --- integration ---
    "nav.imports": N_("Import"),
    "nav.webhooks": N_("Webhooks"),
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
    # values the pages show by their code
    "campaign.numbers": N_("{messaged}/{targeted} · sent {sent} · failed {failed}"),
    "state.draft": NC_("campaign", "draft"),
    "state.scheduled": NC_("campaign", "scheduled"),
    "state.sending": NC_("campaign", "sending"),
    "state.done": NC_("campaign", "done"),
    "state.cancelled": NC_("campaign", "cancelled"),
    "subs.state.waiting": N_("waiting"),
    "subs.state.restocked": N_("restocked"),
    "subs.state.fulfilled": N_("messaged"),
    "subs.state.cancelled": NC_("subscription", "cancelled"),
    "source.card": N_("card page"),
    "source.api": N_("API"),
    "source.pos": N_("till"),
    "ledger.earn": N_("earned"),
    "ledger.redeem": N_("redeemed"),
    "ledger.refund": N_("refund"),
    "ledger.bonus": N_("bonus"),
    "ledger.adjustment": N_("adjustment"),
    "ledger.expiry": N_("expired"),
    "pass.tag": N_("version"),
    "pass.void": N_("void"),
    "google.saved": N_("saved"),
    "google.not_saved": N_("not saved"),
}

# Texts of the pages' scripts (static/admin*.js), handed over as JSON.
JS_TEXTS: dict[str, TextSource] = {
    "segment.invalid_json": N_("Segment: this is not valid JSON."),
    "segment.preview": N_(
        "{members} · reachable: Apple {apple}, Android {android}, Google {google}"
    ),
    "campaign.numbers": TEXTS["campaign.numbers"],
    **{key: TEXTS[key] for key in TEXTS if key.startswith("state.")},
    "refresh.queued": CATALOG_TEXTS["refresh.queued"],
    "refresh.done": CATALOG_TEXTS["refresh.done"],
    "refresh.superseded": CATALOG_TEXTS["refresh.superseded"],
}

TEXTS |= CATALOG_TEXTS


def texts(language: str) -> dict[str, str]:
    return catalogue(TEXTS, language)


def script_texts(language: str) -> dict[str, object]:
    """The page scripts' texts and plurals (static/i18n.js reads them)."""
    members = plural_forms(language, "{n} member", "{n} members")
    return page_texts(language, JS_TEXTS, {"members": members})
