"""Texts of the /admin dashboard: key -> English msgid (Russian in the catalog)."""

from __future__ import annotations

from app.admin.catalog_texts import TEXTS as CATALOG_TEXTS
from app.admin.feedback_texts import TEXTS as FEEDBACK_TEXTS
from app.admin.memberships_texts import TEXTS as MEMBERSHIPS_TEXTS
from app.admin.offers_texts import TEXTS as OFFERS_TEXTS
from app.admin.stamps_texts import REFERRAL_TEXTS
from app.admin.stamps_texts import TEXTS as STAMPS_TEXTS
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
    "campaign.fallback_numbers": N_(
        "SMS: sent {sms}, failed {sms_failed}, cost {cost} · e-mail: sent {email}, "
        "failed {email_failed}"
    ),
    **{key: TEXTS[key] for key in TEXTS if key.startswith("state.")},
    "refresh.queued": CATALOG_TEXTS["refresh.queued"],
    "refresh.done": CATALOG_TEXTS["refresh.done"],
    "refresh.superseded": CATALOG_TEXTS["refresh.superseded"],
}

# --- ux ---------------------------------------------------------------------
# Codes the pages showed as they are (chart scale, ledger notes, audit roles and
# actions) and the segment rules' heading.
TEXTS |= {
    "chart.max": N_("max {top}"),
    "segment.rules": N_("Rules:"),
    "segment.rules_help": N_("A segment is JSON: one rule, or several rules combined."),
    "note.refund": N_("purchase refunded"),
    "note.birthday": N_("birthday gift"),
    "note.profile": N_("completed profile"),
    "note.erased": N_("card deleted by the customer"),
    "role.marketer": N_("marketer"),
    "role.admin": N_("administrator"),
    "role.pos": N_("till"),
    "role.system": N_("system"),
    "action.admin.login": N_("signed in to the dashboard"),
    "action.automation.configure": N_("automation settings changed"),
    "action.automation.off": N_("automation switched off"),
    "action.automation.on": N_("automation switched on"),
    "action.automation.run": N_("automation run"),
    "action.campaign.cancel": N_("campaign cancelled"),
    "action.campaign.create": N_("campaign created"),
    "action.campaign.schedule": N_("campaign scheduled"),
    "action.campaign.unschedule": N_("campaign back to draft"),
    "action.campaign.update": N_("campaign changed"),
    "action.pos.purchase": N_("purchase at the till"),
    "action.pos.refund": N_("refund at the till"),
    "action.product.create": N_("product added"),
    "action.product.restock": N_("product back in stock"),
    "action.program.image.remove": N_("card image removed"),
    "action.program.image.upload": N_("card image uploaded"),
    "action.program.retier": N_("members re-tiered"),
    "action.program.settings": N_("program settings changed"),
    "campaign.audience": N_("Audience"),
    "campaign.reachable": N_("reachable now: {n}"),
    "campaign.start_column": N_("Start"),
    "campaign.at_launch": N_("at launch"),
    "campaign.start_zone": N_("In the program's time zone ({zone})."),
    "campaign.reason.quiet": N_("waiting for the quiet hours to end — sending at {at}"),
    "campaign.reason.starts": N_("starts {at}"),
    "campaign.reason.starting": N_("sending starts within a minute"),
    "campaign.reason.done": N_("finished {at}"),
    "campaign.reason.cancelled": N_("cancelled {at}"),
    "zone.Europe/Moscow": N_("MSK"),
    "overview.program": N_("Program"),
    "campaign.held_back": N_("held back by the message limit: {n}"),
    "campaign.fallback_numbers": N_(
        "SMS: sent {sms}, failed {sms_failed}, cost {cost} · e-mail: sent {email}, "
        "failed {email_failed}"
    ),
}
JS_TEXTS |= {
    "settings.error.invalid_name": N_("One line of text, up to 120 characters."),
    "settings.error.invalid_organization_name": N_(
        "One line of text, up to 120 characters."
    ),
    "settings.error.invalid_description": N_("One line of text, up to 200 characters."),
    "settings.error.invalid_logo_text": N_("One line of text, up to 60 characters."),
    "settings.error.invalid_brand_name": N_("One line of text, up to 120 characters."),
    "settings.error.invalid_texts": N_(
        "The Russian text is required; each text within its length."
    ),
    "settings.error.invalid_colors": N_("A colour as #rrggbb, for example #1b2a41."),
    "settings.error.invalid_rules": N_("A number within the allowed range."),
    "settings.error.invalid_country": N_("Two Latin letters, for example RU or KZ."),
    "settings.error.invalid_quiet_hours": N_("An hour from 0 to 23."),
    "settings.error.invalid_timezone": N_(
        "A time zone from the tz database, for example Europe/Moscow."
    ),
    "settings.error.invalid_tiers": N_(
        "Check the tiers: a code of small Latin letters and digits, a Russian name, "
        "different thresholds, the first tier from 0, a percentage from 0 to 100."
    ),
    "settings.error.invalid_image": N_("The file is not a readable PNG or JPEG image."),
    "settings.error.invalid_image_type": N_("Upload a PNG or JPEG image."),
    "settings.error.image_too_large": N_("The image is too large."),
    "settings.error.image_too_small": N_(
        "The image is too small for a sharp card: use a larger one."
    ),
    "settings.error.invalid_image_shape": N_(
        "The logo is too thin: keep it between 1:5 and 16:1 (width:height)."
    ),
    "settings.error.other": N_("This value was not accepted; please check it."),
    "settings.warning.low_contrast_foreground": N_(
        "The text colour is hard to read on the background."
    ),
    "campaign.confirm": N_("Send «{name}» to {members}? Reachable now: {reachable}."),
    "campaign.confirm_fallback": N_(
        "Without a card in a wallet, by SMS: {sms} (cost about {cost}), by e-mail: "
        "{email}."
    ),
    "campaign.cost_unknown": N_("unknown: the SMS service did not answer"),
    "campaign.cost_development": N_(
        "(Development: SMS_PROVIDER=console sends no SMS and costs nothing.)"
    ),
    "campaign.confirm_nobody": N_(
        "Nobody in this audience ({members}) can be reached now: no one has the card "
        "in a wallet. The message will only wait on their cards. Launch anyway?"
    ),
    "campaign.error.invalid_campaign": N_(
        "Check the campaign: the Russian text is required, the start must be in the "
        "future."
    ),
    "campaign.error.invalid_segment": N_("The segment has a rule that does not exist."),
    "campaign.error.other": N_("The campaign was not saved; please check the form."),
    "settings.warning.low_contrast_label": N_(
        "The label colour is hard to read on the background."
    ),
}

TEXTS |= CATALOG_TEXTS
TEXTS |= OFFERS_TEXTS
TEXTS |= STAMPS_TEXTS
TEXTS |= REFERRAL_TEXTS
TEXTS |= MEMBERSHIPS_TEXTS
TEXTS |= FEEDBACK_TEXTS

# --- results (issue 16): control groups, variants, results panels ---
RESULTS_TEXTS: dict[str, TextSource] = {
    "setting.holdout_percent": N_("Control group, % (not messaged)"),
    "setting.attribution_days": N_("Results window, days"),
    "results.link": N_("Results"),
    "results.campaign": N_("Results of campaign {name}"),
    "results.automation": N_("Results of the automation {name}"),
    "results.window": N_("Purchases counted within {days} days of each message."),
    "results.holdout": N_(
        "Control group (not messaged): {percent} percent of the members."
    ),
    "results.group": N_("Group"),
    "results.treatment": N_("Messaged group"),
    "results.control": N_("Control group"),
    "results.variant": N_("Variant {name}"),
    "results.members": N_("Members in the group"),
    "results.reached": N_("Reached"),
    "results.purchasers": N_("Purchasers"),
    "results.conversion": N_("Conversion"),
    "results.revenue": N_("Revenue"),
    "results.revenue_per_member": N_("Revenue per member"),
    "results.average_check": N_("Average check"),
    "results.offers_redeemed": N_("Offers redeemed"),
    "results.discount_cost": N_("Discount cost"),
    "results.bonus_points_cost": N_("Bonus points cost"),
    "results.uninstalls": N_("Cards removed within 72 h"),
    "results.opt_outs": N_("Opt-outs"),
    "results.conversion_difference": N_("Conversion uplift"),
    "results.revenue_difference": N_("Revenue per member uplift"),
    "results.interval": N_("{estimate} (95-percent interval: {low} to {high})"),
    "results.significant": N_("significant"),
    "results.not_significant": N_("not significant yet"),
    "results.no_control": N_("No control group: nothing to compare with."),
    "results.incremental": N_("Incremental revenue"),
    "results.cost": N_("Cost of discounts and points"),
    "results.romi": N_("ROMI"),
    "results.romi_none": N_("no cost to divide by"),
    "results.chart": N_("Cumulative revenue per member, messaged and control"),
    "results.from": N_("From"),
    "results.to": N_("To"),
    "results.show": N_("Show results"),
    "builder.title": N_("Segment builder"),
    "builder.join": N_("Members matching"),
    "builder.and": N_("all of the rules"),
    "builder.or": N_("any of the rules"),
    "builder.add": N_("Add a rule"),
    "builder.not": N_("not"),
    "builder.remove": NC_("builder.remove", "Remove"),
    "builder.rule.all": N_("All members"),
    "builder.rule.new": N_("Joined recently"),
    "builder.rule.active": N_("Bought recently"),
    "builder.rule.spend": N_("Spent, roubles"),
    "builder.rule.purchases": N_("Number of purchases"),
    "builder.rule.avg_check": N_("Average purchase, roubles"),
    "builder.rule.points": N_("Points balance"),
    "builder.rule.rfm": N_("RFM group"),
    "builder.rule.reachable": N_("Reachable by push"),
    "builder.rule.installed_never_scanned": N_("Card installed, never used"),
    "builder.rule.saved": N_("Saved segment"),
    "builder.field.days": N_("within days"),
    "builder.field.min": N_("at least"),
    "builder.field.max": N_("at most"),
    "builder.field.preset": N_("group"),
    "builder.field.platform": N_("wallet"),
    "builder.field.id": N_("number"),
    "builder.value.champions": N_("champions"),
    "builder.value.loyal": N_("loyal"),
    "builder.value.at_risk": N_("at risk"),
    "builder.value.lost": N_("lost"),
    "builder.value.apple": N_("Apple Wallet"),
    "builder.value.android": N_("Android (Wallet app)"),
    "builder.value.google": N_("Google Wallet"),
    "kpi.title": N_("Key figures"),
    "kpi.as_of": N_("Figures as of"),
    "kpi.active_30d": N_("Active members, 30 days"),
    "kpi.active_90d": N_("Active members, 90 days"),
    "kpi.repeat_purchase_rate": N_("Repeat purchase rate, 365 days"),
    "kpi.purchase_frequency": N_("Purchases per buyer, 365 days"),
    "kpi.average_check": N_("Average check, 365 days"),
    "kpi.revenue_30d": N_("Revenue through the card, 30 days"),
    "kpi.points_liability": N_("Points liability"),
    "kpi.redemption_rate": N_("Points redemption rate, 365 days"),
    "kpi.tiers": N_("Members by tier"),
    "kpi.reach": N_("Wallet reach"),
    "kpi.reach_any": N_("any wallet"),
    "kpi.cohorts": N_("Monthly cohorts: share who bought, by month since joining"),
}
TEXTS |= RESULTS_TEXTS


def texts(language: str) -> dict[str, str]:
    return catalogue(TEXTS, language)


def script_texts(language: str) -> dict[str, object]:
    """The page scripts' texts and plurals (static/i18n.js reads them)."""
    members = plural_forms(language, "{n} member", "{n} members")
    return page_texts(language, JS_TEXTS, {"members": members})


# --- ux: the campaign's pass preview ------------------------------------------------
TEXTS |= {
    "campaign.offer": N_("Offer with the message (optional)"),
    "campaign.no_offer": N_("No offer"),
    "campaign.preview": N_("The card as customers will see it"),
    "campaign.preview.back": N_("On the back of the card"),
}
JS_TEXTS |= {
    "campaign.preview.notification": N_("Lock screen: {text}"),
}
