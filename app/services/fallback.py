"""Fallback channels: campaign and automation messages by SMS or e-mail to members
the wallet cannot reach.

The program's `fallback_channels` rule picks the cascade: the wallet always goes
first (the pass's offer field and a push, `messaging`); a member who got the
message but has no installed card (no registered device, no saved Google
object) and has not switched offers off gets it instead by

- "none": nothing more (the default);
- "sms": SMS to their phone;
- "email": e-mail, when they left an address and SMTP is set up;
- "email_then_sms": e-mail when they have an address, else SMS (cheapest);
- "sms_then_email": SMS, else e-mail (every member has a phone, so in practice
  e-mail only reaches members whose phone was scrubbed or is empty).

The messages go through the same durable outbox as the card links
(`outbound_message` + an "sms"/"email" outbox row; the worker sends, retries and
records the SMS cost). Each is queued in the transaction that records the
member's `MemberMessage`, so the message cap, the once-per-source rule and the
quiet hours (the outbox row waits for them to end) hold as for the wallet.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import case, func, insert, literal, not_, or_, select

from app.extensions import db
from app.i18n import N_, TextSource, text_in
from app.models import Campaign, Member, Program
from app.models.base import utcnow
from app.models.outbound import FALLBACK, OutboundMessage
from app.push import messages as providers
from app.services import messaging, outbound, outbox, segments
from app.services.errors import Invalid
from app.services.idlist import in_ids
from passes import Text, pick

NONE, SMS, EMAIL = "none", "sms", "email"
CHANNELS = (SMS, EMAIL)
# Mode -> the channels tried, in order.
MODES: dict[str, tuple[str, ...]] = {
    NONE: (),
    SMS: (SMS,),
    EMAIL: (EMAIL,),
    "email_then_sms": (EMAIL, SMS),
    "sms_then_email": (SMS, EMAIL),
}
# The messages that may go by SMS or e-mail: campaigns and the automations a
# member gets while a member (the welcome goes right after sign-up, when the
# card link itself was just sent).
KINDS = ("campaign", "birthday", "win_back", "points_reminder", "back_in_stock")

TEXTS: dict[str, TextSource] = {
    "email.card": N_("Your card: {url}"),
    "email.why": N_(
        "You get this e-mail because you are a member of {program} and have no "
        "card in a wallet app. To stop offers, switch them off on your card page."
    ),
}


# -- the setting -------------------------------------------------------------------
def parse_mode(value: Any) -> str:
    """The `rules.fallback_channels` value, checked (422 otherwise)."""
    if not isinstance(value, str) or value not in MODES:
        raise Invalid(
            "invalid_rules",
            f"rules.fallback_channels: one of {', '.join(MODES)}",
        )
    if EMAIL in MODES[value] and not outbound.email_enabled():
        raise Invalid(
            "invalid_rules",
            "rules.fallback_channels: e-mail needs SMTP_URL set on the server",
        )
    return value


def mode(program: Program) -> str:
    value = program.rule("fallback_channels")
    return value if value in MODES else NONE


def channels(program: Program) -> tuple[str, ...]:
    """The program's channels, in order; e-mail only while SMTP is set up."""
    usable = {SMS, EMAIL} if outbound.email_enabled() else {SMS}
    return tuple(c for c in MODES[mode(program)] if c in usable)


# -- texts -----------------------------------------------------------------------
def sms_text(text: str, url: str) -> str:
    """The SMS: the message and the card link, nothing else (each part is paid)."""
    return f"{text.strip()} {url}"


def email_text(program: Program, language: str, text: str, url: str) -> str:
    card = text_in(language, TEXTS["email.card"]).format(url=url)
    why = text_in(language, TEXTS["email.why"]).format(program=program.name)
    return f"{text.strip()}\n\n{card}\n\n--\n{why}\n"


def _no_wallet() -> Any:
    return not_(segments.reachable_expr())


def _has(channel: str) -> Any:
    if channel == SMS:
        return func.coalesce(Member.phone, "") != ""
    return func.coalesce(Member.email, "") != ""


def _pick_channel(order: Sequence[str], phone: str | None, email: str | None) -> str:
    for channel in order:
        if channel == SMS and phone:
            return SMS
        if channel == EMAIL and email:
            return EMAIL
    return ""


# -- sending ---------------------------------------------------------------------
def queue(
    program: Program,
    sent: Mapping[int, int],
    *,
    kind: str,
    texts: Text | None = None,
    own: Mapping[int, tuple[str, Text]] | None = None,
    source_key: str | None = None,
    header: Text | None = None,
    campaign_id: int | None = None,
    now: datetime | None = None,
) -> dict[int, str]:
    """Queue the SMS/e-mail for the members of `sent` (just messaged) the wallet
    cannot reach: {member id: channel}. `texts`/`source_key` for one message to
    all, `own` {member id: (source key, texts)} for a message each. Only adds
    to the session; the caller commits.

    One SELECT finds the members without an installed card who want offers and
    have the channel's address; their rows go in by one executemany INSERT ...
    RETURNING and their outbox rows by one executemany upsert (no statement per
    member). The Python loop over those members only builds the rows (a keyed
    hash of the address, the text with their card link), as `deliver_each` and
    the Google enqueue do."""
    order = channels(program) if kind in KINDS else ()
    if not order or not sent:
        return {}
    # `now`: the moment the caller sends for (a campaign's run), for the quiet
    # hours; the rows are stamped with the real time (the worker forgets
    # unsent addresses by their age).
    created = utcnow()
    now = now or created
    rows = db.session.execute(
        select(
            Member.id, Member.phone, Member.email, Member.language, Member.card_token
        )
        .where(
            in_ids(Member.id, list(sent)),
            Member.program_id == program.id,
            Member.erased_at.is_(None),
            Member.marketing_off_at.is_(None),
            _no_wallet(),
        )
        .order_by(Member.id)
    ).all()
    header = header or {"ru": program.name}
    values = []
    for member_id, phone, email, language, token in rows:
        channel = _pick_channel(order, phone, email)
        if not channel:
            continue
        key, member_texts = (
            own[member_id] if own is not None else (source_key, texts or {})
        )
        text = pick(member_texts, language).strip()
        url = outbound.card_url_for(token)
        address = phone if channel == SMS else email
        assert address is not None
        body = (
            sms_text(text, url)
            if channel == SMS
            else email_text(program, language, text, url)
        )
        values.append(
            {
                "program_id": program.id,
                "member_id": member_id,
                "purpose": FALLBACK,
                "channel": channel,
                "recipient_key": outbound.recipient_key(address),
                "address": address,
                "subject": pick(header, language)[:200] if channel == EMAIL else None,
                "body": body,
                "created_at": created,
                "campaign_id": campaign_id,
                "source_key": key,
                "segments": providers.sms_segments(body) if channel == SMS else None,
            }
        )
    if not values:
        return {}
    table = OutboundMessage.__table__
    stmt = insert(table).returning(
        table.c.id, table.c.member_id, table.c.channel, sort_by_parameter_order=True
    )
    queued = db.session.connection().execute(stmt, values).all()
    # In quiet hours (a back-in-stock message, say) the SMS waits for them to end.
    not_before = messaging.next_send_time(program, now)
    outbox.enqueue_messages(
        [(channel, FALLBACK, str(message_id)) for message_id, _, channel in queued],
        not_before,
        campaign_id,
    )
    return {member_id: channel for _, member_id, channel in queued}


# -- the launch estimate -----------------------------------------------------------
ESTIMATE_METHOD = (
    "Members of the segment now, without an installed card, who want offers, "
    "less the control group (rounded); the message cap may hold back more. "
    "One sample SMS per text length (in parts) is priced by the provider, to a "
    "number from the audience, and multiplied by the members it stands for."
)


def provider() -> providers.SmsProvider:
    return providers.sms_provider(current_app.config)


def _longest(campaign: Campaign, language: str) -> str:
    """The longest text a member of this language may get (any variant)."""
    options = [campaign.texts] + [
        v["texts"] for v in campaign.variants or [] if v.get("texts")
    ]
    return max((pick(t, language).strip() for t in options), key=len)


def estimate(campaign: Campaign, program: Program, now: datetime) -> dict[str, Any]:
    """How many SMS and e-mails the campaign will send and what the SMS cost.

    One grouped COUNT by channel and language (no member rows leave the
    database); then per language the SMS text with a real card link, its parts,
    and one price per parts count from the provider (`ESTIMATE_METHOD`)."""
    order = channels(program)
    share = (100 - int(campaign.holdout_percent or 0)) / 100
    base = segments.where(program, campaign.segment, now)
    counted = segments.counts(program, campaign.segment, now)
    body: dict[str, Any] = {
        "fallback_channels": mode(program),
        "audience": round(counted["members"] * share),
        "wallet": round(counted["reachable"] * share),
        "sms": 0,
        "email": 0,
        "sms_parts": 0,
        "cost": 0.0,
        "currency": "RUB",
        "priced": True,
        "development": False,
        "error": None,
        "method": ESTIMATE_METHOD,
    }
    if not order:
        return body
    channel = case(
        *((_has(c), literal(c)) for c in order),
        else_=literal(""),
    )
    groups = db.session.execute(
        select(
            channel,
            Member.language,
            func.count(),
            func.min(Member.phone),
            func.min(Member.card_token),
        )
        .where(base, _no_wallet(), or_(*(_has(c) for c in order)))
        .group_by(channel, Member.language)
    ).all()
    samples: dict[int, tuple[str, str]] = {}
    counts: dict[int, int] = {}
    for name, language, count, phone, token in groups:
        count = round(int(count) * share)
        if name == EMAIL:
            body["email"] += count
            continue
        if name != SMS:
            continue
        text = sms_text(
            _longest(campaign, language),
            outbound.card_url_for(str(token)),
        )
        parts = providers.sms_segments(text)
        body["sms"] += count
        body["sms_parts"] += count * parts
        samples.setdefault(parts, (str(phone), text))
        counts[parts] = counts.get(parts, 0) + count
    if not samples:
        return body
    sms = provider()
    total = 0
    try:
        for parts, sample in sorted(samples.items()):
            quote = sms.cost([sample])
            total += quote.total_kopecks * counts[parts]
            body["development"] = quote.development
    except providers.CostError as exc:
        current_app.logger.warning("SMS cost estimate failed: %s", exc)
        body.update(priced=False, cost=None, error="provider_unavailable")
        return body
    body["cost"] = round(total / 100, 2)
    return body


# -- progress and results -----------------------------------------------------------
def progress(campaign_id: int) -> dict[str, Any]:
    """{"sms": {queued, sent, failed, cost}, "email": {...}}: the campaign's
    fallback messages by their outbox rows (queued: waiting, retries included;
    failed: the worker gave up or dropped it, or the member was erased), and
    what the SMS sent cost."""
    out: dict[str, Any] = {}
    for channel in CHANNELS:
        counts = outbox.status_counts(campaign_id=campaign_id, channels=[channel])
        out[channel] = {
            "queued": counts["queued"],
            "sent": counts["sent"],
            "failed": counts["failed"] + counts["dropped"],
        }
    cost = db.session.scalar(
        select(func.coalesce(func.sum(OutboundMessage.cost_kopecks), 0)).where(
            OutboundMessage.campaign_id == campaign_id,
            OutboundMessage.purpose == FALLBACK,
        )
    )
    out[SMS]["cost"] = round(int(cost or 0) / 100, 2)
    return out


def reached_members(source_keys: Sequence[str]) -> Any:
    """Members a fallback message of these sources was queued for (a subquery)."""
    return select(OutboundMessage.member_id).where(
        OutboundMessage.source_key.in_(list(source_keys)),
        OutboundMessage.purpose == FALLBACK,
    )
