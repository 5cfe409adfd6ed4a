"""Offers: templates per program (strictly checked), personal single-use
instances issued to members (manually, by campaigns, by automations; set-based),
what the till may redeem, and the one definition of their counts.

- A template's `value` depends on its kind: percent_off a whole percent (1-100,
  optionally capped in roubles), amount_off roubles, points_multiplier a factor
  (2-10) on the points a purchase earns, bonus_points points added to a purchase,
  gift nothing (the title names the item the cashier hands over).
- An instance is issued once per (member, source): "campaign:<id>", the
  automation message's source key, or "manual:<offer id>" (or a caller's key).
- Money is integer kopecks; amounts come in as roubles (JSON number or string).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    String,
    and_,
    bindparam,
    func,
    literal,
    select,
    update,
)

import passes
from app import database
from app.extensions import db
from app.i18n import date_text
from app.ids import MAX_ID
from app.models import Member, Pass, PosTransaction, Program
from app.models.base import UTCDateTime, utcnow
from app.models.offer import (
    CANCELLED,
    EXPIRED,
    ISSUED,
    KINDS,
    REDEEMED,
    MemberOffer,
    Offer,
)
from app.services import audit
from app.services.audit import Actor
from app.services.errors import Conflict, Gone, Invalid, NotFound
from app.services.idlist import in_ids
from app.services.scheduler import scheduled
from passes import pick

MAX_TITLE = 60  # fits the pass front with «· ещё 2»
MAX_TERMS = 500
MAX_VALID_DAYS = 3650
MAX_MONEY_KOPECKS = 100_000_000 * 100
MAX_BONUS = 1_000_000
MAX_OFFERS_PER_PURCHASE = 5
EXPIRY_BATCH = 2000  # instances ended per transaction by the expiry job
LANGUAGES = ("ru", "en")
FIELDS = {
    "kind",
    "value",
    "cap",
    "min_amount",
    "combinable",
    "valid_days",
    "valid_from",
    "valid_until",
    "title",
    "terms",
    "archived",
}


# -- templates -------------------------------------------------------------------


def _money(value: object, name: str, errors: dict[str, str], *, zero: bool) -> int:
    """Roubles -> kopecks; a message in `errors[name]` when wrong."""
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        errors[name] = f'{name} must be an amount in roubles, e.g. "1000.00"'
        return 0
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        errors[name] = f'{name} must be an amount in roubles, e.g. "1000.00"'
        return 0
    if not amount.is_finite() or amount < 0 or (amount == 0 and not zero):
        errors[name] = f"{name} must be {'≥ 0' if zero else 'greater than zero'}"
        return 0
    kopecks = amount * 100
    if kopecks != kopecks.to_integral_value():
        errors[name] = f"{name} may have at most 2 decimal places"
        return 0
    if kopecks > MAX_MONEY_KOPECKS:
        errors[name] = f"{name} is too large"
        return 0
    return int(kopecks)


def _whole(
    value: object, name: str, low: int, high: int, errors: dict[str, str]
) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        errors[name] = f"{name} must be a whole number from {low} to {high}"
        return 0
    try:
        number = int(value)
    except ValueError:
        errors[name] = f"{name} must be a whole number from {low} to {high}"
        return 0
    if not low <= number <= high:
        errors[name] = f"{name} must be a whole number from {low} to {high}"
        return 0
    return number


def _texts(
    value: object, name: str, limit: int, errors: dict[str, str], *, required: bool
) -> dict[str, str]:
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        errors[name] = f'{name} must be an object {{"ru": ..., "en": ...}}'
        return {}
    unknown = set(value) - set(LANGUAGES)
    if unknown:
        errors[name] = f"unknown language(s) in {name}: {', '.join(sorted(unknown))}"
        return {}
    texts: dict[str, str] = {}
    for language, text in value.items():
        if not isinstance(text, str) or not text.strip():
            errors[f"{name}.{language}"] = f"{name}.{language} must be non-empty text"
        elif len(text.strip()) > limit:
            errors[f"{name}.{language}"] = (
                f"{name}.{language} may have at most {limit} characters"
            )
        elif not text.isprintable():
            errors[f"{name}.{language}"] = f"{name}.{language} has control characters"
        else:
            texts[language] = text.strip()
    if (value or required) and "ru" not in value:
        errors[f"{name}.ru"] = f"{name}.ru is required"
    return texts


def _moment(value: object, name: str, errors: dict[str, str]) -> datetime | None:
    """An ISO date (its start, UTC) or an aware date-time; None when absent."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            if len(value) == 10:
                return datetime.combine(
                    date.fromisoformat(value), datetime.min.time(), UTC
                )
            moment = datetime.fromisoformat(value)
        except ValueError:
            moment = None
        if moment is not None and moment.tzinfo is not None:
            return moment.astimezone(UTC)
    errors[name] = f"{name} must be a date (2026-12-31) or a date-time with its zone"
    return None


@dataclass(frozen=True)
class Terms:
    """A checked template body."""

    kind: str
    value: int
    cap_kopecks: int | None
    min_kopecks: int
    combinable: bool
    valid_days: int | None
    valid_from: datetime | None
    valid_until: datetime | None
    title: dict[str, str]
    terms: dict[str, str]


def parse_offer(body: object, now: datetime) -> Terms:
    """Check a whole template body; Invalid (`invalid_offer`) with every field's
    message in `fields`, nothing saved."""
    if not isinstance(body, dict):
        raise Invalid("invalid_body", "The body must be a JSON object.")
    errors: dict[str, str] = {}
    unknown = set(body) - FIELDS
    for name in sorted(unknown):
        errors[name] = f"unknown field {name}"
    kind = body.get("kind")
    value = 0
    cap: int | None = None
    if kind not in KINDS:
        errors["kind"] = f"kind must be one of {', '.join(KINDS)}"
    elif kind == "percent_off":
        value = _whole(body.get("value"), "value", 1, 100, errors)
        if body.get("cap") is not None:
            cap = _money(body["cap"], "cap", errors, zero=False)
    elif kind == "amount_off":
        value = _money(body.get("value"), "value", errors, zero=False)
    elif kind == "points_multiplier":
        value = _whole(body.get("value"), "value", 2, 10, errors)
    elif kind == "bonus_points":
        value = _whole(body.get("value"), "value", 1, MAX_BONUS, errors)
    elif body.get("value") not in (None, 0):
        errors["value"] = "a gift has no value: its title names the item"
    if kind != "percent_off" and body.get("cap") is not None:
        errors["cap"] = "cap applies to percent_off only"
    minimum = _money(body.get("min_amount", 0), "min_amount", errors, zero=True)
    combinable = body.get("combinable", False)
    if not isinstance(combinable, bool):
        errors["combinable"] = "combinable must be true or false"
        combinable = False
    days = None
    if body.get("valid_days") is not None:
        days = _whole(body["valid_days"], "valid_days", 1, MAX_VALID_DAYS, errors)
    start = _moment(body.get("valid_from"), "valid_from", errors)
    until = _moment(body.get("valid_until"), "valid_until", errors)
    if until is not None and until <= now:
        errors["valid_until"] = "valid_until is in the past"
    if start is not None and until is not None and start >= until:
        errors["valid_from"] = "valid_from must be before valid_until"
    if (
        body.get("valid_days") is None
        and body.get("valid_until") is None
        and "valid_days" not in errors
    ):
        errors["valid_days"] = "give valid_days (days after issue) or valid_until"
    title = _texts(body.get("title"), "title", MAX_TITLE, errors, required=True)
    terms = _texts(body.get("terms"), "terms", MAX_TERMS, errors, required=False)
    if errors:
        first = next(iter(errors.values()))
        raise Invalid("invalid_offer", first, fields=errors)
    assert isinstance(kind, str)
    return Terms(
        kind, value, cap, minimum, combinable, days, start, until, title, terms
    )


def create_offer(program: Program, body: object, key: Actor | None) -> Offer:
    """A new template (audited). Only adds/flushes; the caller commits."""
    terms = parse_offer(body, utcnow())
    offer = Offer(program_id=program.id, **terms.__dict__)
    db.session.add(offer)
    db.session.flush()
    audit.record(
        "offer.create",
        target=f"offer:{offer.id}",
        program_id=program.id,
        key=key,
        details={"kind": offer.kind, "value": offer.value},
    )
    return offer


def update_offer(offer: Offer, body: object, key: Actor | None) -> Offer:
    """Change a template (the whole body checked again) or archive it with
    {"archived": true} (no new instances; issued ones stay usable)."""
    if not isinstance(body, dict):
        raise Invalid("invalid_body", "The body must be a JSON object.")
    archived = body.get("archived")
    if archived is not None and not isinstance(archived, bool):
        raise Invalid(
            "invalid_offer",
            "archived must be true or false",
            fields={"archived": "archived must be true or false"},
        )
    changes = {k: v for k, v in body.items() if k != "archived"}
    if changes:
        merged = {**_body_of(offer), **changes}
        now = utcnow()
        if "valid_until" not in changes and offer.valid_until is not None:
            # An unchanged end date is not refused for having passed since.
            now = min(now, offer.valid_until - timedelta(seconds=1))
        terms = parse_offer(merged, now)
        for name, value in terms.__dict__.items():
            setattr(offer, name, value)
    if archived is not None:
        offer.archived_at = (offer.archived_at or utcnow()) if archived else None
    audit.record(
        "offer.update",
        target=f"offer:{offer.id}",
        program_id=offer.program_id,
        key=key,
        details={"fields": sorted(body)},
    )
    return offer


def _roubles(kopecks: int) -> str:
    return f"{Decimal(kopecks) / 100:.2f}"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def shown_value(kind: str, value: int) -> int | str | None:
    """The API's `value`: roubles as a string for amount_off, none for a gift."""
    if kind == "amount_off":
        return _roubles(value)
    if kind == "gift":
        return None
    return value


def _body_of(offer: Offer) -> dict[str, Any]:
    """The template as a body `parse_offer` accepts."""
    return {
        "kind": offer.kind,
        "value": shown_value(offer.kind, offer.value),
        "cap": _roubles(offer.cap_kopecks) if offer.cap_kopecks is not None else None,
        "min_amount": _roubles(offer.min_kopecks),
        "combinable": offer.combinable,
        "valid_days": offer.valid_days,
        "valid_from": _iso(offer.valid_from),
        "valid_until": _iso(offer.valid_until),
        "title": dict(offer.title),
        "terms": dict(offer.terms or {}),
    }


def offer_view(offer: Offer) -> dict[str, Any]:
    return {
        "id": offer.id,
        **_body_of(offer),
        "archived": offer.archived_at is not None,
        "created_at": offer.created_at.isoformat(),
    }


def get_offer(program_id: int, offer_id: object) -> Offer:
    offer = None
    if (
        isinstance(offer_id, int)
        and not isinstance(offer_id, bool)
        and 0 < offer_id <= MAX_ID
    ):
        offer = db.session.get(Offer, offer_id)
    if offer is None or offer.program_id != program_id:
        raise NotFound("unknown_offer", "No such offer in this program.")
    return offer


def listing(program_id: int, archived: bool = False) -> list[Offer]:
    query = select(Offer).where(Offer.program_id == program_id).order_by(Offer.id)
    if not archived:
        query = query.where(Offer.archived_at.is_(None))
    return list(db.session.scalars(query))


def issuable(program_id: int, offer_id: object, now: datetime) -> Offer:
    """The template named by a campaign or automation setting: 422 when it is
    not this program's, archived or over."""
    try:
        offer = get_offer(program_id, offer_id)
    except NotFound:
        raise Invalid(
            "unknown_offer",
            "offer_id names no offer of this program",
            fields={"offer_id": "no such offer"},
        ) from None
    if offer.archived_at is not None:
        raise Invalid(
            "offer_archived",
            "This offer is archived: it can no longer be issued.",
            fields={"offer_id": "archived"},
        )
    if offer.valid_until is not None and offer.valid_until <= now:
        raise Invalid(
            "offer_ended",
            "This offer's end date has passed.",
            fields={"offer_id": "ended"},
        )
    return offer


# -- issuing ---------------------------------------------------------------------


def pass_offer(
    offer: Offer, program: Program, language: str, issued_at: datetime
) -> passes.Offer:
    """The offer as a member's pass would show an instance issued at
    `issued_at` (the campaign preview; passes.pass_offers does it for held ones)."""
    ends = expiry(offer, issued_at)
    return passes.Offer(
        title=pick(offer.title, language),
        terms=pick(offer.terms, language) if offer.terms else "",
        until=date_text(ends.astimezone(ZoneInfo(program.timezone)).date(), language)
        if ends is not None
        else "",
    )


def expiry(offer: Offer, issued_at: datetime) -> datetime | None:
    """When an instance issued at `issued_at` expires."""
    ends = [offer.valid_until] if offer.valid_until is not None else []
    if offer.valid_days is not None:
        ends.append(issued_at + timedelta(days=offer.valid_days))
    return min(ends) if ends else None


_INSTANCE_COLUMNS = [
    "program_id",
    "offer_id",
    "member_id",
    "source",
    "source_kind",
    "source_ref",
    "status",
    "issued_at",
    "expires_at",
    "discount_kopecks",
]


def issue_many(
    offer: Offer,
    member_ids: Sequence[int],
    *,
    source: str,
    source_kind: str,
    source_ref: str = "",
    now: datetime | None = None,
) -> int:
    """One instance per member from one source, set-based: a single INSERT ...
    SELECT over the members (erased ones and those already holding this source's
    instance skipped). How many were issued. Only executes; the caller commits."""
    if not member_ids:
        return 0
    now = now or utcnow()
    rows = select(
        literal(offer.program_id, Integer),
        literal(offer.id, Integer),
        Member.id,
        literal(source, String),
        literal(source_kind, String),
        literal(source_ref, String),
        literal(ISSUED, String),
        literal(now, UTCDateTime()),
        literal(expiry(offer, now), UTCDateTime()),
        literal(0, Integer),
    ).where(
        in_ids(Member.id, list(member_ids)),
        Member.program_id == offer.program_id,
        Member.erased_at.is_(None),
    )
    table = MemberOffer.__table__
    stmt = (
        database.insert(table)
        .from_select(_INSTANCE_COLUMNS, rows)
        .on_conflict_do_nothing(index_elements=["member_id", "source"])
        .returning(table.c.id)
    )
    return len(db.session.execute(stmt).all())


def issue_each(
    offer: Offer,
    sources: Mapping[int, str],
    *,
    source_kind: str,
    source_ref: str = "",
    now: datetime | None = None,
) -> int:
    """`issue_many` for members with their own source keys (automations): one
    executemany INSERT ... ON CONFLICT DO NOTHING. The callers pass members their
    own send just reached (not erased, this program's)."""
    if not sources:
        return 0
    now = now or utcnow()
    ends = expiry(offer, now)
    rows = [
        {
            "program_id": offer.program_id,
            "offer_id": offer.id,
            "member_id": member_id,
            "source": source[:120],
            "source_kind": source_kind,
            "source_ref": source_ref,
            "status": ISSUED,
            "issued_at": now,
            "expires_at": ends,
            "discount_kopecks": 0,
        }
        for member_id, source in sorted(sources.items())
    ]
    table = MemberOffer.__table__
    stmt = (
        database.insert(table)
        .on_conflict_do_nothing(index_elements=["member_id", "source"])
        .returning(table.c.id)
    )
    # RETURNING counts what was inserted (an executemany's rowcount may not).
    return len(db.session.connection().execute(stmt, rows).all())


def issue_manual(member: Member, body: object, key: Actor | None) -> MemberOffer:
    """`POST /api/v1/members/<id>/offers` {"offer_id", "source"?}: one instance;
    Conflict when this source already gave the member one."""
    if not isinstance(body, dict):
        raise Invalid("invalid_body", "The body must be a JSON object.")
    if member.erased_at is not None:
        raise Gone("card_closed", "This member left the program.")
    now = utcnow()
    offer = issuable(member.program_id, body.get("offer_id"), now)
    source = body.get("source", f"manual:{offer.id}")
    if not isinstance(source, str) or not source.strip() or len(source) > 100:
        raise Invalid(
            "invalid_source",
            "source must be a short text (at most 100 characters)",
            fields={"source": "at most 100 characters"},
        )
    if not source.startswith("manual:"):
        source = f"manual:{source.strip()}"
    issued = issue_each(offer, {member.id: source}, source_kind="manual", now=now)
    if not issued:
        raise Conflict(
            "already_issued", "This member already got an offer from this source."
        )
    instance = db.session.scalar(
        select(MemberOffer).where(
            MemberOffer.member_id == member.id, MemberOffer.source == source
        )
    )
    assert instance is not None
    audit.record(
        "offer.issue",
        target=f"member_offer:{instance.id}",
        program_id=member.program_id,
        key=key,
        details={"offer_id": offer.id, "member_id": member.id},
    )
    return instance


def instance_view(instance: MemberOffer, language: str = "ru") -> dict[str, Any]:
    offer = instance.offer
    return {
        "id": instance.id,
        "offer_id": offer.id,
        "title": pick(offer.title, language),
        "terms": pick(offer.terms, language) if offer.terms else "",
        "kind": offer.kind,
        "value": shown_value(offer.kind, offer.value),
        "min_amount": _roubles(offer.min_kopecks),
        "combinable": offer.combinable,
        "status": instance.status,
        "source": instance.source,
        "issued_at": instance.issued_at.isoformat(),
        "expires_at": _iso(instance.expires_at),
        "redeemed_at": _iso(instance.redeemed_at),
    }


# -- what a member holds -----------------------------------------------------------


class Held(NamedTuple):
    """An instance the member can use now, with its template's terms."""

    id: int
    offer_id: int
    member_id: int
    program_id: int
    status: str
    expires_at: datetime | None
    kind: str
    value: int
    cap_kopecks: int | None
    min_kopecks: int
    combinable: bool
    valid_from: datetime | None
    title: dict[str, Any]
    terms: dict[str, Any]


_HELD = select(
    MemberOffer.id,
    MemberOffer.offer_id,
    MemberOffer.member_id,
    MemberOffer.program_id,
    MemberOffer.status,
    MemberOffer.expires_at,
    Offer.kind,
    Offer.value,
    Offer.cap_kopecks,
    Offer.min_kopecks,
    Offer.combinable,
    Offer.valid_from,
    Offer.title,
    Offer.terms,
).join(Offer, Offer.id == MemberOffer.offer_id)


# The instances a purchase names (at most 5): built once from the tables (plain
# Core: SQLAlchemy reuses the compiled SQL, no ORM work per execution); an
# expanding IN keeps it cached whatever their number.
_INSTANCES, _OFFERS = MemberOffer.__table__, Offer.__table__
_CHOSEN = (
    select(
        *(_INSTANCES.c[name] for name in Held._fields[:6]),
        *(_OFFERS.c[name] for name in Held._fields[6:]),
    )
    .join(_OFFERS, _OFFERS.c.id == _INSTANCES.c.offer_id)
    .where(_INSTANCES.c.id.in_(bindparam("ids", expanding=True)))
)


def active(member_id: int, now: datetime | None = None) -> list[Held]:
    """The member's usable instances (issued, not expired), soonest expiry first."""
    now = now or utcnow()
    rows = db.session.execute(
        _HELD.where(
            MemberOffer.member_id == member_id,
            MemberOffer.status == ISSUED,
        ).order_by(MemberOffer.expires_at, MemberOffer.id)
    ).all()
    held = [Held(*row) for row in rows]
    return [
        h
        for h in held
        if (h.expires_at is None or h.expires_at > now)
        and (h.valid_from is None or h.valid_from <= now)
    ]


def till_view(held: Held, language: str) -> dict[str, Any]:
    """What the till shows for an offer after a scan."""
    return {
        "id": held.id,
        "title": pick(held.title, language),
        "terms": pick(held.terms, language) if held.terms else "",
        "kind": held.kind,
        "value": shown_value(held.kind, held.value),
        "min_amount": _roubles(held.min_kopecks),
        "expires_at": _iso(held.expires_at),
        "combinable": held.combinable,
        "cap": _roubles(held.cap_kopecks) if held.cap_kopecks is not None else None,
    }


# -- at the till -------------------------------------------------------------------


def parse_offer_ids(value: object) -> tuple[int, ...]:
    """The purchase body's `offer_ids`: distinct instance ids (at most 5)."""
    if value is None:
        return ()
    if (
        not isinstance(value, list)
        or len(value) > MAX_OFFERS_PER_PURCHASE
        or not all(
            isinstance(i, int) and not isinstance(i, bool) and 0 < i <= MAX_ID
            for i in value
        )
    ):
        raise Invalid(
            "invalid_offer_ids",
            f"offer_ids must be a list of at most {MAX_OFFERS_PER_PURCHASE} offer "
            "ids from the scan",
        )
    if len(set(value)) != len(value):
        raise Invalid("invalid_offer_ids", "offer_ids names an offer twice")
    return tuple(sorted(value))


@dataclass(frozen=True)
class Applied:
    """The chosen offers' effect on one purchase."""

    discount: int  # kopecks off the receipt
    per_offer: dict[int, int]  # instance id -> its kopecks
    multiplier: int
    bonus: int
    redeemed: list[dict[str, Any]]  # the answer's offers_redeemed


def apply(
    program_id: int,
    member_id: int,
    offer_ids: Sequence[int],
    amount_kopecks: int,
    language: str,
    now: datetime,
) -> Applied:
    """Check the chosen instances against the member, the receipt and each
    other, and compute the discount: 422 naming the offer when one cannot be
    used. Reads only (the caller holds the member's row lock)."""
    rows = {
        row.id: Held(*row)
        for row in db.session.execute(_CHOSEN, {"ids": [int(i) for i in offer_ids]})
    }
    chosen: list[Held] = []
    for offer_id in offer_ids:
        held = rows.get(offer_id)
        if held is None or held.program_id != program_id:
            raise Invalid("unknown_offer", f"Offer {offer_id} is not this program's.")
        if held.member_id != member_id:
            raise Invalid("offer_not_yours", f"Offer {offer_id} is another member's.")
        if held.status == REDEEMED:
            raise Invalid("offer_used", f"Offer {offer_id} was already used.")
        if held.status in (EXPIRED, CANCELLED) or (
            held.expires_at is not None and held.expires_at <= now
        ):
            raise Invalid("offer_expired", f"Offer {offer_id} has expired.")
        if held.valid_from is not None and held.valid_from > now:
            raise Invalid("offer_not_started", f"Offer {offer_id} is not valid yet.")
        if amount_kopecks < held.min_kopecks:
            raise Invalid(
                "offer_below_minimum",
                f"Offer {offer_id} needs a receipt of at least "
                f"{_roubles(held.min_kopecks)}.",
            )
        chosen.append(held)
    if len(chosen) > 1:
        single = [h.id for h in chosen if not h.combinable]
        if single:
            raise Invalid(
                "offer_not_combinable",
                f"Offer {single[0]} cannot be combined with another offer.",
            )
    # Percentages of the receipt first, then fixed amounts; never below zero.
    remaining = amount_kopecks
    per_offer: dict[int, int] = {}
    for held in sorted(chosen, key=lambda h: h.kind != "percent_off"):
        off = 0
        if held.kind == "percent_off":
            off = (amount_kopecks * held.value + 50) // 100
            if held.cap_kopecks is not None:
                off = min(off, held.cap_kopecks)
        elif held.kind == "amount_off":
            off = held.value
        off = min(off, remaining)
        remaining -= off
        per_offer[held.id] = off
    multiplier = 1
    bonus = 0
    for held in chosen:
        if held.kind == "points_multiplier":
            multiplier *= held.value
        elif held.kind == "bonus_points":
            bonus += held.value
    redeemed = [
        {
            "id": held.id,
            "title": pick(held.title, language),
            "kind": held.kind,
            "discount": _roubles(per_offer.get(held.id, 0)),
        }
        for held in chosen
    ]
    return Applied(amount_kopecks - remaining, per_offer, multiplier, bonus, redeemed)


_REDEEM = (
    update(MemberOffer)
    .where(
        MemberOffer.id == bindparam("b_id", type_=Integer),
        MemberOffer.status == ISSUED,
    )
    .values(
        status=REDEEMED,
        redeemed_at=bindparam("b_now", type_=UTCDateTime()),
        transaction_id=bindparam("b_tx", type_=Integer),
        discount_kopecks=bindparam("b_off", type_=BigInteger),
    )
)


def mark_redeemed(applied: Applied, transaction_id: int, now: datetime) -> None:
    """Redeem the instances (status still issued, checked by row count): a
    Conflict rolls the whole purchase back when one was used meanwhile."""
    connection = db.session.connection()
    for instance_id, off in sorted(applied.per_offer.items()):
        result = connection.execute(
            _REDEEM,
            {"b_id": instance_id, "b_now": now, "b_tx": transaction_id, "b_off": off},
        )
        if result.rowcount != 1:
            raise Conflict(
                "offer_used", f"Offer {instance_id} was used by another purchase."
            )


def restore(transaction_id: int, now: datetime) -> int:
    """A refunded purchase's offers become usable again while still valid."""
    table = MemberOffer.__table__
    result = db.session.connection().execute(
        update(table)
        .where(
            table.c.transaction_id == transaction_id,
            table.c.status == REDEEMED,
            (table.c.expires_at.is_(None)) | (table.c.expires_at > now),
        )
        .values(
            status=ISSUED, redeemed_at=None, transaction_id=None, discount_kopecks=0
        )
    )
    return int(max(result.rowcount, 0))


# -- expiry ----------------------------------------------------------------------


class Expired(NamedTuple):
    """What `expire_due` ended: how many instances, and whose."""

    ended: int
    member_ids: list[int]


def expire_due(now: datetime, limit: int = EXPIRY_BATCH) -> Expired:
    """End up to `limit` instances whose time is up: (how many, the members
    whose passes need refreshing). Only executes; the caller commits."""
    table = MemberOffer.__table__
    rows = list(
        db.session.execute(
            select(table.c.id, table.c.member_id)
            .where(table.c.status == ISSUED, table.c.expires_at <= now)
            .order_by(table.c.id)
            .limit(limit)
        )
        .tuples()
        .all()
    )
    if not rows:
        return Expired(0, [])
    db.session.execute(
        update(table)
        .where(in_ids(table.c.id, [i for i, _ in rows]), table.c.status == ISSUED)
        .values(status=EXPIRED)
    )
    return Expired(len(rows), sorted({m for _, m in rows}))


@scheduled("offer_expiry")
def offer_expiry_job(now: datetime) -> None:
    """End expired instances in batches (one transaction each) and refresh the
    members' passes. Silent: the pass's offers field carries a change message
    only when a new offer is its latest change, and Google messages are not
    notifying ones."""
    from app.services.passes import refresh_passes

    while True:
        database.begin_write()  # SQLite: a writer from the start
        ended, member_ids = expire_due(now)
        if member_ids:
            passes_ = db.session.scalars(
                select(Pass).where(in_ids(Pass.member_id, member_ids)).order_by(Pass.id)
            ).all()
            refresh_passes(list(passes_))
        db.session.commit()
        if ended < EXPIRY_BATCH:
            return


# -- counting --------------------------------------------------------------------


def redeemed_clause() -> ColumnElement[bool]:
    """An instance counts as redeemed (one definition: stats, results, segments)."""
    return MemberOffer.status == REDEEMED


def discount_given() -> ColumnElement[Any]:
    """The discount given, in kopecks, over the grouped instances: only redeemed
    ones (a refund restores an instance and zeroes its discount)."""
    return func.coalesce(
        func.sum(MemberOffer.discount_kopecks).filter(redeemed_clause()), 0
    )


def stats(program_id: int, offer_id: int | None = None) -> list[dict[str, Any]]:
    """Per offer and source: issued, redeemed, redemption rate, discount given,
    and revenue of the redeeming purchases (what they paid in money after the
    offers' discounts, before points). The one definition for the API and /admin."""
    per_tx = (
        select(
            MemberOffer.transaction_id.label("tx"),
            func.sum(MemberOffer.discount_kopecks).label("off"),
        )
        .where(redeemed_clause(), MemberOffer.program_id == program_id)
        .group_by(MemberOffer.transaction_id)
        .subquery()
    )
    redeemed = redeemed_clause()
    query = (
        select(
            MemberOffer.offer_id,
            MemberOffer.source_kind,
            MemberOffer.source_ref,
            func.count().label("issued"),
            func.count().filter(redeemed).label("redeemed"),
            discount_given().label("discount"),
            func.coalesce(
                func.sum(PosTransaction.amount_kopecks - per_tx.c.off).filter(redeemed),
                0,
            ).label("revenue"),
        )
        .outerjoin(
            PosTransaction,
            and_(redeemed, PosTransaction.id == MemberOffer.transaction_id),
        )
        .outerjoin(per_tx, per_tx.c.tx == MemberOffer.transaction_id)
        .where(MemberOffer.program_id == program_id)
        .group_by(MemberOffer.offer_id, MemberOffer.source_kind, MemberOffer.source_ref)
        .order_by(MemberOffer.offer_id, MemberOffer.source_kind, MemberOffer.source_ref)
    )
    if offer_id is not None:
        query = query.where(MemberOffer.offer_id == offer_id)
    out = []
    for row in db.session.execute(query):
        out.append(
            {
                "offer_id": row.offer_id,
                "source": {"kind": row.source_kind, "ref": row.source_ref},
                "issued": row.issued,
                "redeemed": row.redeemed,
                "redemption_rate": round(row.redeemed / row.issued, 4)
                if row.issued
                else 0.0,
                "discount": _roubles(int(row.discount)),
                "revenue": _roubles(int(row.revenue)),
            }
        )
    return out


def totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The per-source rows of one offer added up."""
    issued = sum(r["issued"] for r in rows)
    redeemed = sum(r["redeemed"] for r in rows)
    return {
        "issued": issued,
        "redeemed": redeemed,
        "redemption_rate": round(redeemed / issued, 4) if issued else 0.0,
        "discount": _roubles(sum(int(Decimal(r["discount"]) * 100) for r in rows)),
        "revenue": _roubles(sum(int(Decimal(r["revenue"]) * 100) for r in rows)),
    }


def by_offer(program_id: int) -> dict[int, dict[str, Any]]:
    """offer id -> its totals and per-source rows (`stats`, added up by
    `totals`): what /api/v1/stats's `offers` block and /admin/offers show."""
    grouped: dict[int, list[dict[str, Any]]] = {}
    for row in stats(program_id):
        grouped.setdefault(row["offer_id"], []).append(row)
    return {
        offer_id: {"offer_id": offer_id, **totals(rows), "by_source": rows}
        for offer_id, rows in grouped.items()
    }


def refresh_member(member: Member) -> None:
    """After an instance was issued, redeemed, restored or ended: the member's
    pass shows their offers, so it is rebuilt (tag and pushes when it changed).
    Call it last (it takes the program's update-tag lock)."""
    from app.services import ledger

    ledger.refresh_member_pass(member)
