"""Campaigns: a text for a segment, scheduled, sent in batches, once per member.

States: draft -> scheduled -> sending -> done, and cancelled from any state
before done. The `campaigns` job (worker scheduler) picks scheduled campaigns
whose start time has come, waits out the program's quiet hours, then sends in
batches of BATCH members per transaction: the next BATCH member ids after the
campaign's `cursor` (keyset pagination, bounded memory), all through one
messaging.record_many (set-based; one MemberMessage per member and campaign),
then the campaign's offer, if any, is issued to exactly the members messaged
(one INSERT ... SELECT per batch), the cursor moves, and last the offer fields
are set and the passes moved (messaging.move_and_notify), all in the same
transaction. While the tills are busy, batches are small, with rests
(`batch_size`). A crash loses at most the open batch, which the next run redoes;
MemberMessage's unique (member, source) keeps that from reaching anyone twice.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import partial
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from app import database
from app.extensions import db
from app.models import ApiKey, Campaign, Member, MemberMessage, Offer, Program
from app.models.campaign import CANCELLED, DONE, DRAFT, SCHEDULED, SENDING
from app.models.results import CONTROL, TREATMENT
from app.services import (
    audit,
    checks,
    fallback,
    messaging,
    offers,
    outbox,
    purchases,
    results,
    segments,
    settings,
    webhooks,
)
from app.services.errors import Conflict, Invalid, NotFound
from app.services.scheduler import scheduled

# Members per batch (one transaction). Each batch costs a fixed ~10 statements
# besides its per-member work; 5,000 rather than 1,000 took the PostgreSQL
# enqueue of 200k members from 10.3 s to 8.7 s (docs/performance.md). The
# program's tag row stays locked from the pass move to the commit, i.e. for the
# pass and outbox writes of ~1,500 passes (~70 ms on PostgreSQL here), which a
# purchase in the same program may wait for.
BATCH = 5000
MAX_NAME = 120
# Batches one job run may send before yielding to the other jobs (50k members).
MAX_BATCHES_PER_RUN = 10
# After a batch sent while the tills were busy, the campaign rests this many
# times the batch's own time: it then takes at most a third of the time.
BUSY_REST = 2.0


def _bad(message: str) -> Invalid:
    return Invalid("invalid_campaign", message)


def parse_texts(value: Any) -> dict[str, str]:
    return checks.localized(
        value, "texts", "invalid_campaign", longest=messaging.MAX_TEXT
    )


def parse_start(value: Any, now: datetime) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _bad("start_at must be an ISO 8601 date-time with a time zone")
    try:
        start = datetime.fromisoformat(value)
    except ValueError:
        raise _bad("start_at must be an ISO 8601 date-time with a time zone") from None
    if start.tzinfo is None:
        raise _bad("start_at needs a time zone (e.g. 2026-12-01T10:00:00+03:00)")
    if start < now:
        raise _bad("start_at is in the past")
    return start.astimezone(UTC)


def _name(value: Any) -> str:
    if value is None:
        return ""
    return checks.text(value, "name", "invalid_campaign", longest=MAX_NAME, shortest=0)


# The last three are the results' (issue 16): control group, variants, window.
FIELDS = (
    *("name", "texts", "segment", "start_at", "state", "offer_id"),
    *("holdout_percent", "variants", "attribution_days"),
)


def _results_fields(
    campaign: Campaign, program: Program, body: dict[str, Any], now: datetime
) -> None:
    """Set the control-group, variant and window fields present in `body`; a
    variant's offer must be one of this program's, still issuable."""
    if "holdout_percent" in body:
        campaign.holdout_percent = results.parse_holdout(body["holdout_percent"])
    if "variants" in body:
        variants = results.parse_variants(body["variants"], parse_texts)
        for variant in variants:
            if variant.get("offer_id") is not None:
                variant["offer_id"] = _offer_id(program, variant["offer_id"], now)
        campaign.variants = variants
    if "attribution_days" in body:
        campaign.attribution_days = results.parse_attribution_days(
            body["attribution_days"]
        )


def create(program: Program, body: Any, key: ApiKey | None) -> Campaign:
    """A draft (or scheduled, with "state": "scheduled") campaign. Caller commits."""
    body = checks.mapping(body, "the body", "invalid_campaign")
    checks.known_keys(body, FIELDS, code="invalid_campaign")
    now = datetime.now(UTC)
    if "segment" not in body:
        raise _bad('segment is required (e.g. {"all": {}})')
    segments.validate(program, body["segment"])
    campaign = Campaign(
        program_id=program.id,
        name=_name(body.get("name")),
        texts=parse_texts(body.get("texts")),
        segment=body["segment"],
        start_at=parse_start(body.get("start_at"), now),
        state=DRAFT,
        created_by=key.prefix if key is not None else "",
        offer_id=_offer_id(program, body.get("offer_id"), now),
        holdout_percent=results.HOLDOUT_DEFAULT,
        variants=[],
        attribution_days=results.ATTRIBUTION_DAYS,
    )
    _results_fields(campaign, program, body, now)
    state = body.get("state", DRAFT)
    if state not in (DRAFT, SCHEDULED):
        raise _bad("state on create must be 'draft' or 'scheduled'")
    db.session.add(campaign)
    db.session.flush()
    audit.record(
        "campaign.create",
        target=f"campaign:{campaign.id}",
        program_id=program.id,
        key=key,
        details={"segment": campaign.segment},
    )
    if state == SCHEDULED:
        schedule(campaign, key)
    return campaign


def update_campaign(
    campaign: Campaign, program: Program, body: Any, key: ApiKey | None
) -> None:
    """PATCH: edit a draft or scheduled campaign; "state" schedules, unschedules
    (back to draft) or cancels. Caller commits."""
    body = checks.mapping(body, "the body", "invalid_campaign")
    checks.known_keys(body, FIELDS, code="invalid_campaign")
    edits = set(body) - {"state"}
    if edits and campaign.state not in (DRAFT, SCHEDULED):
        raise Conflict("not_editable", f"A {campaign.state} campaign cannot be edited.")
    now = datetime.now(UTC)
    if "name" in body:
        campaign.name = _name(body["name"])
    if "texts" in body:
        campaign.texts = parse_texts(body["texts"])
    if "segment" in body:
        segments.validate(program, body["segment"])
        campaign.segment = body["segment"]
    if "start_at" in body:
        campaign.start_at = parse_start(body["start_at"], now)
    if "offer_id" in body:
        campaign.offer_id = _offer_id(program, body["offer_id"], now)
    _results_fields(campaign, program, body, now)
    if edits:
        audit.record(
            "campaign.update",
            target=f"campaign:{campaign.id}",
            program_id=program.id,
            key=key,
            details={"fields": sorted(edits)},
        )
    state = body.get("state")
    if state is None or state == campaign.state:
        return
    if state == SCHEDULED:
        schedule(campaign, key)
    elif state == CANCELLED:
        cancel(campaign, key)
    elif state == DRAFT and campaign.state == SCHEDULED:
        campaign.state = DRAFT
        campaign.scheduled_at = None
        audit.record(
            "campaign.unschedule",
            target=f"campaign:{campaign.id}",
            program_id=campaign.program_id,
            key=key,
        )
    else:
        raise Conflict(
            "invalid_transition",
            f"A {campaign.state} campaign cannot become {state}.",
        )


def schedule(campaign: Campaign, key: ApiKey | None) -> None:
    if campaign.state != DRAFT:
        raise Conflict(
            "invalid_transition",
            f"A {campaign.state} campaign cannot be scheduled.",
        )
    now = datetime.now(UTC)
    if campaign.start_at is not None and campaign.start_at < now:
        raise _bad("start_at is in the past")
    campaign.state = SCHEDULED
    campaign.scheduled_at = now
    audit.record(
        "campaign.schedule",
        target=f"campaign:{campaign.id}",
        program_id=campaign.program_id,
        key=key,
        details={
            "start_at": campaign.start_at.isoformat() if campaign.start_at else None
        },
    )


def cancel(campaign: Campaign, key: ApiKey | None) -> None:
    """Stop a campaign; members already messaged keep their message."""
    if campaign.state in (DONE, CANCELLED):
        raise Conflict(
            "invalid_transition",
            f"A {campaign.state} campaign cannot be cancelled.",
        )
    campaign.state = CANCELLED
    campaign.cancelled_at = datetime.now(UTC)
    audit.record(
        "campaign.cancel",
        target=f"campaign:{campaign.id}",
        program_id=campaign.program_id,
        key=key,
    )


def get(program_id: int | None, campaign_id: int) -> Campaign:
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None or (
        program_id is not None and campaign.program_id != program_id
    ):
        raise NotFound("not_found", "No such campaign.")
    return campaign


# -- sending -----------------------------------------------------------------------
def source_key(campaign: Campaign) -> str:
    return f"campaign:{campaign.id}"


def batch_size() -> tuple[int, bool]:
    """Members in the next batch, and whether the tills are busy. While they
    are (`purchases.tills_busy`), CAMPAIGN_BUSY_BATCH_SIZE: a batch holds its
    members' rows and the program's tag row, which purchases need, while it
    writes (docs/performance.md, "Stop 17")."""
    config = current_app.config
    size = int(config.get("CAMPAIGN_BATCH_SIZE") or BATCH)
    if purchases.tills_busy():
        return min(size, int(config.get("CAMPAIGN_BUSY_BATCH_SIZE") or size)), True
    return size, False


def send_batch(campaign: Campaign, program: Program, now: datetime, size: int) -> bool:
    """Send the next batch of `size` members (`batch_size`); True when the
    campaign has no members left. Only adds/flushes; the caller commits (one
    transaction per batch)."""
    where = segments.where(program, campaign.segment, now)
    ids = list(
        db.session.scalars(
            select(Member.id)
            .where(where, Member.id > campaign.cursor)
            .order_by(Member.id)
            .limit(size)
        )
    )
    held = messaging.over_cap(program, ids, "campaign")
    if held:
        # Messaged enough already (the program's message_cap): counted, skipped.
        campaign.held_back += len(held)
    delivered = messaging.NOTHING
    if ids:
        delivered = _send_treated(campaign, program, ids, now)
        campaign.cursor = ids[-1]
    finished = len(ids) < size
    if finished:
        campaign.state = DONE
        campaign.finished_at = datetime.now(UTC)
        webhooks.emit(
            program.id,
            "campaign.finished",
            {
                "campaign_id": campaign.id,
                "name": campaign.name,
                "targeted": campaign.targeted,
                "reachable": campaign.reachable,
                "finished_at": campaign.finished_at.isoformat(),
            },
        )
    # Last, after every other write of the batch is flushed: setting the offer
    # fields locks the members' rows and the passes' move the program's tag row
    # until the commit, and every purchase in the program takes both.
    db.session.flush()
    messaging.move_and_notify(program, delivered, campaign.id)
    return finished


def _send_treated(
    campaign: Campaign, program: Program, ids: list[int], now: datetime
) -> messaging.Delivered:
    """Hold out the control group (recorded, not messaged), then message the
    treated, each variant with its own texts and offer (results.split picks
    them); each member messaged gets their offer. The treated are recorded
    after their send, one INSERT ... SELECT per group, reached or not
    (`results.reached_now`), instead of a row per member built here and an
    UPDATE of `reached` after (half the enqueue's statement time at 200k on
    PostgreSQL). What was delivered, whose passes the caller moves last."""
    key = source_key(campaign)
    held, treated = results.split(key, ids, campaign.holdout_percent, campaign.variants)
    record = partial(results.record, program.id, key, campaign_id=campaign.id)
    record(held, grp=CONTROL)
    texts_of = {v["name"]: v.get("texts") or campaign.texts for v in campaign.variants}
    offer_of = {v["name"]: v.get("offer_id") for v in campaign.variants}
    by_variant: dict[str | None, list[int]] = {}
    for member_id, variant in treated.items():
        by_variant.setdefault(variant, []).append(member_id)
    delivered = messaging.NOTHING
    for variant, member_ids in sorted(by_variant.items(), key=lambda kv: str(kv[0])):
        recorded = messaging.record_many(
            program,
            member_ids,
            kind="campaign",
            source_key=key,
            texts=texts_of.get(variant, campaign.texts) if variant else campaign.texts,
            campaign_id=campaign.id,
            on=now.date(),
            now=now,
        )
        sent = recorded.sent
        offer_id = (offer_of.get(variant) if variant else None) or campaign.offer_id
        _issue_offer(campaign, offer_id, sent, now)
        reached = results.reached_now(sent, [key])
        record(reached, grp=TREATMENT, variant=variant, reached=True)
        record(
            [i for i in member_ids if i not in reached], grp=TREATMENT, variant=variant
        )
        delivered += recorded
    return delivered


# -- the campaign's offer (services.offers) ------------------------------------------


def preview(
    program: Program, body: Any, language: str, now: datetime
) -> dict[str, Any]:
    """The pass a member would have after this campaign, nothing saved: a sample
    member's pass (settings.sample_pass) with the body's `texts` in the message
    field as messaging.deliver_many writes it (its changeMessage is the lock
    screen's notification) and the `offer_id` offer as a new offer issued now
    (the front's offers field, its terms and expiry on the back), in `language`.
    Also the notification text the lock screen shows."""
    if not isinstance(body, Mapping):
        raise _bad("The body must be a JSON object.")
    message = ""
    if body.get("texts") is not None:
        message = messaging.offer_text(parse_texts(body["texts"]), language, now.date())
    shown: tuple[Any, ...] = ()
    if body.get("offer_id") is not None:
        offer = offers.issuable(program.id, body["offer_id"], now)
        shown = (offers.pass_offer(offer, program, language, now),)
    sample = settings.sample_pass(program, language, offer=message, offers=shown)
    notes = [message] if message else []
    if shown:
        notes.append(shown[0].title)
    return {**sample, "notifications": notes}


def _offer_id(program: Program, value: Any, now: datetime) -> int | None:
    """The body's `offer_id`: None, or an offer of this program still issuable."""
    if value is None:
        return None
    return offers.issuable(program.id, value, now).id


def _issue_offer(
    campaign: Campaign, offer_id: int | None, sent: Mapping[int, int], now: datetime
) -> None:
    """Each member this batch messaged gets the offer: one INSERT ... SELECT per
    batch. An offer archived or ended since is not issued."""
    if offer_id is None or not sent:
        return
    offer = db.session.get(Offer, offer_id)
    if offer is None or offer.archived_at is not None:
        return
    if offer.valid_until is not None and offer.valid_until <= now:
        return
    offers.issue_many(
        offer,
        list(sent),
        source=source_key(campaign),
        source_kind="campaign",
        source_ref=str(campaign.id),
        now=now,
    )


def _start(campaign: Campaign, program: Program, now: datetime) -> None:
    """scheduled -> sending: freeze the targeted and reachable counts."""
    counted = segments.counts(program, campaign.segment, now)
    campaign.targeted = counted["members"]
    campaign.reachable = counted["reachable"]
    campaign.state = SENDING
    campaign.started_at = now


def run_campaign(
    campaign_id: int, now: datetime, max_batches: int | None = None
) -> str:
    """Advance one campaign as far as allowed now, committing per batch; its
    state. While the tills are busy, small batches with a rest after each."""
    sent = 0
    while True:
        size, busy = batch_size()
        db.session.commit()  # (the read above ends before the batch writes)
        started = time.monotonic()
        # Claim: only one process moves a campaign at a time (row lock on
        # PostgreSQL; SQLite serialises writers: a writer from the start, or
        # its read-then-write fails at once while a request writes).
        database.begin_write()
        campaign = db.session.scalar(
            select(Campaign).where(Campaign.id == campaign_id).with_for_update()
        )
        if campaign is None or campaign.state not in (SCHEDULED, SENDING):
            db.session.rollback()
            return campaign.state if campaign else "missing"
        program = db.session.get(Program, campaign.program_id)
        assert program is not None
        if campaign.start_at is not None and campaign.start_at > now:
            db.session.rollback()
            return campaign.state
        if messaging.is_quiet(program, now):
            db.session.rollback()
            return campaign.state
        if campaign.state == SCHEDULED:
            _start(campaign, program, now)
        finished = send_batch(campaign, program, now, size)
        state = campaign.state
        db.session.commit()
        sent += 1
        if finished or (max_batches is not None and sent >= max_batches):
            return state
        if busy:
            time.sleep(BUSY_REST * (time.monotonic() - started))


def due_campaigns(now: datetime) -> list[int]:
    return list(
        db.session.scalars(
            select(Campaign.id)
            .where(
                Campaign.state.in_((SCHEDULED, SENDING)),
                (Campaign.start_at.is_(None)) | (Campaign.start_at <= now),
            )
            .order_by(Campaign.id)
        )
    )


@scheduled("campaigns")
def campaigns_job(now: datetime) -> None:
    """Send what is due: each campaign up to MAX_BATCHES_PER_RUN batches per run."""
    due = due_campaigns(now)
    db.session.commit()  # each campaign's batches begin as writers
    for campaign_id in due:
        run_campaign(campaign_id, now, MAX_BATCHES_PER_RUN)


# -- reading -----------------------------------------------------------------------
def estimate(campaign: Campaign, now: datetime | None = None) -> dict[str, Any]:
    """Before launch: the SMS and e-mails it will send and the SMS cost."""
    program = db.session.get(Program, campaign.program_id)
    assert program is not None
    body = fallback.estimate(campaign, program, now or datetime.now(UTC))
    body["campaign_id"] = campaign.id
    return body


def progress(campaign: Campaign) -> dict[str, Any]:
    messaged = db.session.scalar(
        select(func.count())
        .select_from(MemberMessage)
        .where(MemberMessage.campaign_id == campaign.id)
    )
    # The wallet's pushes; SMS / e-mail instead are counted apart (below).
    pushes = outbox.status_counts(
        campaign_id=campaign.id, not_channels=fallback.CHANNELS
    )
    targeted = campaign.targeted
    done = campaign.state == DONE
    percent = (
        100
        if done
        else (min(99, round(100 * (messaged or 0) / targeted)) if targeted else 0)
    )
    return {
        "targeted": targeted,
        "reachable": campaign.reachable,
        "messaged": int(messaged or 0),
        "held_back": campaign.held_back,
        **pushes,
        "percent": percent,
        # SMS / e-mail to members without a card in a wallet (services.fallback).
        **fallback.progress(campaign.id),
    }


def as_json(campaign: Campaign, with_progress: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": campaign.id,
        "name": campaign.name,
        "texts": campaign.texts,
        "segment": campaign.segment,
        "offer_id": campaign.offer_id,
        "state": campaign.state,
        "start_at": _iso(campaign.start_at),
        "created_at": _iso(campaign.created_at),
        "scheduled_at": _iso(campaign.scheduled_at),
        "started_at": _iso(campaign.started_at),
        "finished_at": _iso(campaign.finished_at),
        "cancelled_at": _iso(campaign.cancelled_at),
        "holdout_percent": campaign.holdout_percent,
        "variants": campaign.variants or [],
        "attribution_days": campaign.attribution_days,
    }
    if with_progress:
        body["progress"] = progress(campaign)
    return body


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def listing(program_id: int | None, limit: int = 100) -> list[Campaign]:
    query = select(Campaign).order_by(Campaign.id.desc()).limit(limit)
    if program_id is not None:
        query = query.where(Campaign.program_id == program_id)
    return list(db.session.scalars(query))


# -- ux: what the campaign list tells a marketer -------------------------------------
def outlook(campaign: Campaign, program: Program, now: datetime) -> dict[str, Any]:
    """The audience (counted live until the campaign starts, frozen after) and
    why the campaign is where it is: a reason code and the moment it is about
    (`starts`, `quiet`: sending waits for the quiet hours to end, `starting`:
    the next scheduler run sends it, `done`, `cancelled`; None: nothing to add)."""
    audience: int | None
    reachable: int | None
    if campaign.state in (DRAFT, SCHEDULED):
        counted = segments.counts(program, campaign.segment, now)
        audience, reachable = counted["members"], counted["reachable"]
    else:
        audience, reachable = campaign.targeted, campaign.reachable
    reason: str | None = None
    at: datetime | None = None
    if campaign.state in (DRAFT, SCHEDULED):
        start = max(campaign.start_at or now, now)
        sends = messaging.next_send_time(program, start)
        if sends > start:
            reason, at = "quiet", sends
        elif campaign.start_at is not None and campaign.start_at > now:
            reason, at = "starts", campaign.start_at
        elif campaign.state == SCHEDULED:
            reason = "starting"
    elif campaign.state == DONE:
        reason, at = "done", campaign.finished_at
    elif campaign.state == CANCELLED:
        reason, at = "cancelled", campaign.cancelled_at
    return {"audience": audience, "reachable": reachable, "reason": reason, "at": at}
