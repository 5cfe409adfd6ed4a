"""Texts of the /admin stamp card page: key -> English msgid, translated by the
catalog (merged into app.admin.texts.TEXTS)."""

from __future__ import annotations

from app.i18n import N_, TextSource

TEXTS: dict[str, TextSource] = {
    # --- mechanics ---
    "nav.stamps": N_("Stamp card"),
    "stamps.intro": N_(
        "A qualifying purchase adds a stamp; at the last stamp the member gets the "
        "reward offer and the card starts again. A refund takes the stamp back."
    ),
    "stamps.enabled": N_("Run a stamp card"),
    "stamps.target": N_("Stamps for the reward"),
    "stamps.min_amount": N_(
        "Minimum purchase, roubles (0: only receipts the till marks)"
    ),
    "stamps.reward": N_("Reward offer"),
    "stamps.no_offers": N_("Create a reward offer first (Offers)."),
    "stamps.save": N_("Save"),
    "stamps.given": N_("Stamps given"),
    "stamps.rewards": N_("Rewards issued"),
    "stamps.collecting": N_("Members collecting stamps"),
    "stamps.bad": N_(
        "Check the fields: stamps for the reward from 2 to 20, the minimum in "
        "roubles, and a reward offer to run the card."
    ),
}

# --- mechanics (referrals) ---
REFERRAL_TEXTS: dict[str, TextSource] = {
    "nav.referrals": N_("Referrals"),
    "referrals.intro": N_(
        "Each card page has a share link. When a friend signs up through it and "
        "then buys for at least the minimum, both get the reward."
    ),
    "referrals.enabled": N_("Run the referral program"),
    "referrals.min_amount": N_("Friend's first purchase from, roubles"),
    "referrals.points": N_("Reward in points (each)"),
    "referrals.offer": N_("Reward offer (each)"),
    "referrals.limit": N_("Rewarded referrals per member per month"),
    "referrals.opened": N_("Invites opened"),
    "referrals.signups": N_("Friends signed up"),
    "referrals.first": N_("First purchases"),
    "referrals.paid": N_("Rewards paid"),
    "referrals.bad": N_(
        "Check the fields: a reward in points or an offer, the minimum in roubles, "
        "and a monthly limit from 1 to 100."
    ),
}
