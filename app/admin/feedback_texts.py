"""Texts of the /admin feedback page: key -> English msgid, translated by the
catalog (merged into app.admin.texts.TEXTS)."""

from __future__ import annotations

from app.i18n import N_, TextSource

TEXTS: dict[str, TextSource] = {
    "nav.feedback": N_("Feedback"),
    "feedback.intro": N_(
        "After a purchase a share of members is asked to rate the visit from 0 to "
        "10. Low scores (0-6) wait below for an apology: points or an offer, and "
        "a personal message."
    ),
    "feedback.enabled": N_("Ask for feedback after purchases"),
    "feedback.sample": N_("Share of purchases asked, %"),
    "feedback.every_days": N_("Ask one member at most once in, days"),
    "feedback.answer_days": N_("The link works for, days"),
    "feedback.save": N_("Save"),
    "feedback.bad": N_(
        "Check the fields: the share from 0 to 100, days from 1 to 365, the link "
        "from 1 to 90 days."
    ),
    "feedback.asked": N_("Asked"),
    "feedback.answered": N_("Answered"),
    "feedback.response_rate": N_("Response rate"),
    "feedback.nps": N_("NPS"),
    "feedback.nps_hint": N_(
        "NPS: the share of promoters (9-10) minus the share of detractors (0-6)."
    ),
    "feedback.by_store": N_("NPS by store"),
    "feedback.by_week": N_("NPS by week"),
    "feedback.store": N_("Store"),
    "feedback.week": N_("Week of"),
    "feedback.answers": N_("Answers"),
    "feedback.median_resolve": N_("Median time to resolve, hours"),
    "feedback.repurchase": N_("Bought again within 60 days"),
    "feedback.resolved_low": N_("Resolved low scores"),
    "feedback.unresolved_low": N_("Unresolved low scores"),
    "feedback.queue": N_("Low scores to resolve"),
    "feedback.queue_empty": N_("No low scores are waiting."),
    "feedback.score": N_("Score"),
    "feedback.comment": N_("Comment"),
    "feedback.when": N_("Answered"),
    "feedback.member": N_("Member"),
    "feedback.winback": N_("Win-back"),
    "feedback.points": N_("Apology points"),
    "feedback.offer": N_("Or an offer"),
    "feedback.message": N_("Personal message"),
    "feedback.message_default": N_("We are sorry. Thank you for telling us."),
    "feedback.resolve": N_("Resolve"),
    "feedback.resolved": N_("Resolved: the member got the apology."),
    "feedback.resolve_bad": N_(
        "Give either points or an offer, and a message of at most 150 characters."
    ),
}
