"""Texts of /admin/webhooks: key -> English msgid (Russian in the catalog)."""

from __future__ import annotations

from app.i18n import N_, NC_, TextSource, catalogue

# --- integration: webhooks page ---
TEXTS: dict[str, TextSource] = {
    "title": N_("Webhooks"),
    "choose": N_("Choose a program"),
    "lead": N_(
        "The web shop or CRM gets a signed POST for each event it subscribed to "
        "(header Wallet-Signature: t=…,v1=HMAC-SHA256 of «t.body» with the "
        "secret). Failed deliveries are retried for a day; then the endpoint is "
        "switched off."
    ),
    "add": N_("Add an endpoint"),
    "url": N_("URL (https)"),
    "events": N_("Events"),
    "submit": N_("Add"),
    "secret": N_("The secret, shown only now: copy it to the receiving side."),
    "endpoints": N_("Endpoints"),
    "none": N_("No endpoints yet."),
    "active": NC_("webhook", "on"),
    "disabled": N_("switched off"),
    "disabled_banner": N_(
        "Deliveries to this endpoint failed for a day, so it was switched off: "
        "fix the receiver, then switch it on (queued events go on)."
    ),
    "enable": N_("Switch on"),
    "delete": N_("Delete"),
    "log": N_("Delivery log"),
    "no_log": N_("Nothing delivered yet."),
    "when": N_("When"),
    "event": N_("Event"),
    "status": N_("Status"),
    "attempts": N_("Attempts"),
    "answer": N_("Last answer"),
    "resend": N_("Resend"),
    "status.queued": N_("queued"),
    "status.sent": N_("sent"),
    "status.failed": N_("failed"),
    "saved": N_("Saved."),
    "resent": N_("Queued again."),
    "error.invalid_url": N_("The URL is not valid."),
    "error.https_required": N_("The URL must start with https://."),
    "error.private_url": N_("The URL must point to a public address."),
    "error.invalid_events": N_("Choose at least one event."),
    "error.too_many_endpoints": N_("Too many endpoints."),
    "error.invalid_body": N_("The URL is not valid."),
}


def texts(language: str) -> dict[str, str]:
    return catalogue(TEXTS, language)
