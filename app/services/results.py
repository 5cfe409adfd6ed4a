"""Proving it worked: control groups, variants and results (issue 16).

Sending: `assign` splits a batch of members into the treated and a held-out
control group (a hash of the source key and the member id, so a re-run batch
splits the same way on any database), picks each treated member's variant by
its share, and records every member's group set-based (one multi-row INSERT per
batch, ON CONFLICT DO NOTHING). Only the treated go on to `messaging`;
`mark_reached` then notes those whose message reached a device or a saved
Google object.

Results: a campaign's (or an automation's, over a period) members per group and
variant, compared over the attribution window from each member's assignment
(the send time: the row is written in the same batch, just before the message).
Every figure is an aggregate grouped by group and variant, computed by the
database; Python only does the statistics (docs/architecture.md, "Results").
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from statistics import NormalDist
from typing import Any, NamedTuple

from markupsafe import Markup
from sqlalchemy import (
    Float,
    Integer,
    Interval,
    Select,
    String,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    null,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.sql.elements import ColumnElement

from app import database
from app.extensions import db
from app.models import (
    Assignment,
    Campaign,
    GoogleCallback,
    GoogleObject,
    LedgerEntry,
    Member,
    MemberMessage,
    MemberOffer,
    Pass,
    PosTransaction,
    Program,
    Registration,
    WalletEvent,
)
from app.models.base import UTCDateTime, utcnow
from app.models.outbound import FALLBACK, OutboundMessage
from app.models.results import CONTROL, TREATMENT
from app.services import fallback
from app.services import offers as offer_service
from app.services.errors import Invalid
from app.services.idlist import in_ids

HOLDOUT_DEFAULT = 10
MAX_HOLDOUT = 50
ATTRIBUTION_DAYS = 14
MAX_ATTRIBUTION_DAYS = 90
MAX_VARIANTS = 4
UNINSTALL_HOURS = 72
CONFIDENCE = 0.95
# The normal quantile for a two-sided 95 % interval (1.959964...).
Z = NormalDist().inv_cdf(1 - (1 - CONFIDENCE) / 2)
_VARIANT_NAME = re.compile(r"[A-Za-z0-9_-]{1,20}")
_BUCKETS = 10_000  # holdout and shares in 1/100 of a percent


# -- settings ----------------------------------------------------------------------
def _whole(value: Any, low: int, high: int) -> bool:
    return (
        isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
    )


def parse_holdout(value: Any) -> int:
    if not _whole(value, 0, MAX_HOLDOUT):
        raise Invalid(
            "invalid_holdout",
            f"holdout_percent must be a whole number 0-{MAX_HOLDOUT} "
            "(the share of the segment held out as a control group)",
        )
    return int(value)


def parse_attribution_days(value: Any) -> int:
    if not _whole(value, 1, MAX_ATTRIBUTION_DAYS):
        raise Invalid(
            "invalid_attribution_days",
            f"attribution_days must be a whole number 1-{MAX_ATTRIBUTION_DAYS}",
        )
    return int(value)


def parse_variants(value: Any, parse_texts: Any) -> list[dict[str, Any]]:
    """[{"name"?, "share", "texts"?, "offer_id"?}, ...]: up to 4, shares (whole
    percents) adding up to 100, each with its own texts or an offer (a variant
    without texts says the campaign's). `parse_texts` checks a texts object."""
    if not isinstance(value, list) or len(value) > MAX_VARIANTS:
        raise Invalid(
            "invalid_variants", f"variants must be a list of at most {MAX_VARIANTS}"
        )
    if not value:
        return []
    if len(value) == 1:
        raise Invalid("invalid_variants", "give at least 2 variants, or none")
    variants: list[dict[str, Any]] = []
    for index, raw in enumerate(value):
        if not isinstance(raw, dict) or set(raw) - {
            "name",
            "share",
            "texts",
            "offer_id",
        }:
            raise Invalid(
                "invalid_variants",
                f"variants[{index}] must be an object with name, share, texts "
                "and/or offer_id",
            )
        name = raw.get("name", "ABCD"[index])
        if (
            not isinstance(name, str)
            or not _VARIANT_NAME.fullmatch(name)
            or name in (TREATMENT, CONTROL)
        ):
            raise Invalid(
                "invalid_variants",
                f"variants[{index}].name: 1-20 letters, digits, '-' or '_' "
                "(not treatment or control)",
            )
        if not _whole(raw.get("share"), 1, 100):
            raise Invalid(
                "invalid_variants", f"variants[{index}].share: whole percent 1-100"
            )
        variant: dict[str, Any] = {"name": name, "share": raw["share"]}
        if "texts" in raw:
            variant["texts"] = parse_texts(raw["texts"])
        if "offer_id" in raw:
            if not _whole(raw["offer_id"], 1, 2**31 - 1):
                raise Invalid(
                    "invalid_variants", f"variants[{index}].offer_id: an offer's id"
                )
            variant["offer_id"] = raw["offer_id"]
        if "texts" not in variant and "offer_id" not in variant:
            raise Invalid(
                "invalid_variants", f"variants[{index}] needs texts or an offer_id"
            )
        variants.append(variant)
    names = [v["name"] for v in variants]
    if len(set(names)) != len(names):
        raise Invalid("invalid_variants", "variant names must differ")
    if sum(v["share"] for v in variants) != 100:
        raise Invalid("invalid_variants", "variant shares must add up to 100")
    return variants


# -- assigning ---------------------------------------------------------------------
def bucket(salt: str, member_id: int) -> int:
    """A stable number 0-9999 for (salt, member): the same on every run, process
    and database (not Python's randomised hash)."""
    digest = hashlib.blake2b(f"{salt}|{member_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % _BUCKETS


def is_held_out(source_key: str, member_id: int, percent: int) -> bool:
    return bucket(source_key, member_id) < percent * _BUCKETS // 100


def pick_variant(
    source_key: str, member_id: int, variants: Sequence[Mapping[str, Any]]
) -> str | None:
    """The variant a treated member gets, by the variants' shares (another salt
    than the holdout's, so the split is independent of it)."""
    if not variants:
        return None
    point = bucket(f"variant|{source_key}", member_id)
    upto = 0
    for variant in variants:
        upto += int(variant["share"]) * _BUCKETS // 100
        if point < upto:
            return str(variant["name"])
    return str(variants[-1]["name"])


def assign(
    program_id: int,
    sources: Mapping[int, str],
    percent: int,
    *,
    campaign_id: int | None = None,
    automation: str | None = None,
    variants: Sequence[Mapping[str, Any]] = (),
) -> dict[int, str | None]:
    """Split members ({member id: source key}) into treated and held out and
    record both; {member id: variant or None} for the treated, who alone may be
    messaged. Only adds; the caller commits (in the batch's transaction).

    A member already assigned for that source keeps the recorded row (the split
    is deterministic anyway, so a re-run batch makes the same one)."""
    if not sources:
        return {}
    now = utcnow()
    treated: dict[int, str | None] = {}
    rows = []
    for member_id, source_key in sorted(sources.items()):
        held, variant = _place(source_key, member_id, percent, variants)
        if not held:
            treated[member_id] = variant
        rows.append(
            {
                "program_id": program_id,
                "member_id": member_id,
                "source_key": source_key,
                "campaign_id": campaign_id,
                "automation": automation,
                "grp": CONTROL if held else TREATMENT,
                "variant": variant,
                "reached": False,
                "created_at": now,
            }
        )
    table = Assignment.__table__
    db.session.connection().execute(
        database.insert(table).on_conflict_do_nothing(
            index_elements=["member_id", "source_key"]
        ),
        rows,
    )
    return treated


def hold_out(
    program_id: int,
    sources: Mapping[int, str],
    percent: int,
    automation: str,
) -> set[int]:
    """`assign` for an automation's batch: the members who may be messaged."""
    return set(assign(program_id, sources, percent, automation=automation))


def split(
    source_key: str,
    member_ids: Iterable[int],
    percent: int,
    variants: Sequence[Mapping[str, Any]] = (),
) -> tuple[list[int], dict[int, str | None]]:
    """`assign`'s split of members who share one source key, nothing recorded:
    (the held out, {treated member id: variant or None})."""
    held: list[int] = []
    treated: dict[int, str | None] = {}
    for member_id in sorted(member_ids):
        out, variant = _place(source_key, member_id, percent, variants)
        if out:
            held.append(member_id)
        else:
            treated[member_id] = variant
    return held, treated


def _place(
    source_key: str,
    member_id: int,
    percent: int,
    variants: Sequence[Mapping[str, Any]],
) -> tuple[bool, str | None]:
    """(held out, the treated member's variant or None): a hash of the source
    and the member, so a re-run batch places everyone the same way."""
    if percent > 0 and is_held_out(source_key, member_id, percent):
        return True, None
    return False, pick_variant(source_key, member_id, variants)


def reached_now(member_ids: Iterable[int], source_keys: Iterable[str]) -> set[int]:
    """Of members just messaged for these sources, the reached: a registered
    device on a live pass or a saved Google object (the segments'
    `reachable_expr`), or a fallback SMS/e-mail queued for one of the sources.
    Each test is a one-table query by the ids (index scans); joined in one
    statement under an OR, PostgreSQL planned them as scans of every pass and
    registration per batch."""
    ids = sorted(set(member_ids))
    keys = sorted(set(source_keys))
    if not ids or not keys:
        return set()
    pass_of = dict(
        db.session.execute(
            select(Pass.id, Pass.member_id).where(
                in_ids(Pass.member_id, ids), Pass.voided.is_(False)
            )
        )
        .tuples()
        .all()
    )
    registered = set(
        db.session.scalars(
            select(Registration.pass_id).where(in_ids(Registration.pass_id, pass_of))
        )
    )
    found = {pass_of[pass_id] for pass_id in registered}
    found.update(
        db.session.scalars(
            select(GoogleObject.member_id).where(
                in_ids(GoogleObject.member_id, ids),
                GoogleObject.saved.is_(True),
                GoogleObject.state == "ACTIVE",
            )
        )
    )
    found.update(
        member_id
        for member_id in db.session.scalars(
            select(OutboundMessage.member_id).where(
                OutboundMessage.source_key.in_(keys),
                in_ids(OutboundMessage.member_id, ids),  # type: ignore[arg-type]
                OutboundMessage.purpose == FALLBACK,
            )
        )
        if member_id is not None
    )
    return found


def record(
    program_id: int,
    source_key: str,
    member_ids: Iterable[int],
    *,
    grp: str,
    variant: str | None = None,
    campaign_id: int | None = None,
    reached: bool = False,
) -> None:
    """Record one group's rows for members who share one source key: one INSERT
    ... SELECT over the members (the ids one parameter), ON CONFLICT DO NOTHING
    (a member already assigned keeps the recorded row); `reached` as given (see
    `reached_now`), so no UPDATE after (as `mark_reached` does for `assign`).
    Only executes; the caller commits (in the batch's transaction)."""
    ids = sorted(set(member_ids))
    if not ids:
        return
    rows = (
        select(
            literal(program_id),
            Member.id,
            literal(source_key),
            literal(campaign_id, Integer),
            literal(grp),
            literal(variant, String),
            literal(reached),
            literal(utcnow(), UTCDateTime()),
        )
        .where(in_ids(Member.id, ids))
        .order_by(Member.id)
    )
    table = Assignment.__table__
    db.session.execute(
        database.insert(table)
        .from_select(
            [
                "program_id",
                "member_id",
                "source_key",
                "campaign_id",
                "grp",
                "variant",
                "reached",
                "created_at",
            ],
            rows,
        )
        .on_conflict_do_nothing(index_elements=["member_id", "source_key"])
    )


def mark_reached(member_ids: Iterable[int], source_keys: Iterable[str]) -> None:
    """The messaged members' rows for these sources: reached when `reached_now`
    says so (just after sending)."""
    keys = sorted(set(source_keys))
    reached = reached_now(member_ids, keys)
    if not reached:
        return
    db.session.execute(
        update(Assignment)
        .where(in_ids(Assignment.member_id, reached), Assignment.source_key.in_(keys))
        .values(reached=True)
        .execution_options(synchronize_session=False)
    )


# -- statistics --------------------------------------------------------------------
class Interval95(NamedTuple):
    estimate: float
    low: float
    high: float

    @property
    def significant(self) -> bool:
        return self.low > 0 or self.high < 0

    def as_json(self, digits: int = 4) -> dict[str, Any]:
        return {
            "estimate": round(self.estimate, digits),
            "low": round(self.low, digits),
            "high": round(self.high, digits),
            "confidence": CONFIDENCE,
            "significant": self.significant,
            "verdict": "significant" if self.significant else "not significant yet",
        }


def wilson(successes: int, n: int) -> tuple[float, float]:
    """Wilson score interval for a proportion."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denominator = 1 + Z * Z / n
    centre = (p + Z * Z / (2 * n)) / denominator
    half = Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def proportion_difference(x1: int, n1: int, x0: int, n0: int) -> Interval95 | None:
    """p1 - p0 with Newcombe's hybrid score interval (method 10: from the two
    Wilson intervals); None without members on both sides."""
    if n1 == 0 or n0 == 0:
        return None
    p1, p0 = x1 / n1, x0 / n0
    l1, u1 = wilson(x1, n1)
    l0, u0 = wilson(x0, n0)
    difference = p1 - p0
    return Interval95(
        difference,
        difference - math.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2),
        difference + math.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2),
    )


def mean_difference(
    sum1: float, squares1: float, n1: int, sum0: float, squares0: float, n0: int
) -> Interval95 | None:
    """mean1 - mean0 with Welch's unequal-variance standard error and the
    normal quantile (large groups); None unless both sides have 2+ members."""
    if n1 < 2 or n0 < 2:
        return None
    mean1, mean0 = sum1 / n1, sum0 / n0
    var1 = max(0.0, (squares1 - sum1 * sum1 / n1) / (n1 - 1))
    var0 = max(0.0, (squares0 - sum0 * sum0 / n0) / (n0 - 1))
    error = math.sqrt(var1 / n1 + var0 / n0)
    difference = mean1 - mean0
    return Interval95(difference, difference - Z * error, difference + Z * error)


# -- figures -----------------------------------------------------------------------
def _plus_hours(column: Any, hours: int) -> ColumnElement[Any]:
    """`column + hours` in SQL, per dialect (SQLite keeps datetimes as text)."""
    if db.session.get_bind().dialect.name == "postgresql":
        return column + literal(timedelta(hours=hours), Interval())  # type: ignore[no-any-return]
    return func.strftime("%Y-%m-%d %H:%M:%f", column, f"+{hours} hours")


class Population(NamedTuple):
    """Rows (row, member_id, grp, variant, reached, start, source_key) to compare, and
    whether they have a control group at all. `offers` is the source of the
    offers the treatment issued ((source_kind, source_ref) of MemberOffer)."""

    query: Select[Any]
    program: Program
    days: int
    offers: tuple[str, str] | None = None
    # Narrows the fallback messages `channel_reach` joins to the rows (a
    # campaign's by its indexed campaign_id: the database then reads only
    # those, not the population's million rows first). Implied by the join.
    messages: ColumnElement[bool] | None = None


def _assignment_rows(*where: ColumnElement[bool]) -> Select[Any]:
    return select(
        Assignment.id.label("row"),
        Assignment.member_id.label("member_id"),
        Assignment.grp.label("grp"),
        Assignment.variant.label("variant"),
        Assignment.reached.label("reached"),
        Assignment.created_at.label("start"),
        Assignment.source_key.label("source_key"),
    ).where(*where)


def _message_rows(*where: ColumnElement[bool]) -> Select[Any]:
    """Messages sent before control groups existed: all treated, all reached
    as far as anyone knows."""
    return (
        select(
            MemberMessage.id.label("row"),
            MemberMessage.member_id.label("member_id"),
            literal(TREATMENT).label("grp"),
            cast(null(), Assignment.variant.type).label("variant"),
            true().label("reached"),
            MemberMessage.created_at.label("start"),
            MemberMessage.source_key.label("source_key"),
        )
        .join(Member, Member.id == MemberMessage.member_id)
        .where(*where)
    )


def campaign_population(campaign: Campaign) -> Population:
    program = db.session.get(Program, campaign.program_id)
    assert program is not None
    assigned = db.session.scalar(
        select(exists().where(Assignment.campaign_id == campaign.id))
    )
    query = (
        _assignment_rows(Assignment.campaign_id == campaign.id)
        if assigned
        else _message_rows(MemberMessage.campaign_id == campaign.id)
    )
    return Population(
        query,
        program,
        campaign.attribution_days,
        ("campaign", str(campaign.id)),
        OutboundMessage.campaign_id == campaign.id,
    )


def automation_population(
    program: Program, name: str, start: datetime, end: datetime, days: int
) -> Population:
    """An automation's members assigned in [start, end); messages of that kind
    when it sent with no assignments then (before control groups)."""
    assigned = db.session.scalar(
        select(
            exists().where(
                Assignment.program_id == program.id,
                Assignment.automation == name,
                Assignment.created_at >= start,
                Assignment.created_at < end,
            )
        )
    )
    if assigned:
        query = _assignment_rows(
            Assignment.program_id == program.id,
            Assignment.automation == name,
            Assignment.created_at >= start,
            Assignment.created_at < end,
        )
    else:
        query = _message_rows(
            Member.program_id == program.id,
            MemberMessage.kind == name,
            MemberMessage.created_at >= start,
            MemberMessage.created_at < end,
        )
    return Population(query, program, days, ("automation", name))


Key = tuple[str, str | None]  # (group, variant)


def _sale_bounds(pop: Any, days: int) -> list[ColumnElement[bool]]:
    """The span every row's window lies in, [first start, last start + days),
    as constant bounds on the sales: implied by each row's own window, so the
    figures do not change, but the database reads only the span's purchases
    (PostgreSQL otherwise hashed every purchase of the program: 8 s at 1M
    members and 11.6M purchases; docs/performance.md)."""
    first, last = db.session.execute(
        select(func.min(pop.c.start), func.max(pop.c.start))
    ).one()
    if first is None or last is None:
        return []
    if isinstance(first, str):  # SQLite, when the column type is lost
        first, last = datetime.fromisoformat(first), datetime.fromisoformat(last)
    return [
        PosTransaction.created_at >= _aware(first),
        PosTransaction.created_at < _aware(last) + timedelta(days=days),
    ]


def _purchases(population: Population) -> dict[Key, dict[str, Any]]:
    pop = population.query.subquery()
    end = _plus_hours(pop.c.start, 24 * population.days)
    bounds = _sale_bounds(pop, population.days)
    sale = PosTransaction
    per_row = (
        select(
            pop.c.row,
            pop.c.grp,
            pop.c.variant,
            pop.c.reached,
            func.count(sale.id).label("purchases"),
            func.coalesce(func.sum(sale.amount_kopecks), 0).label("revenue"),
        )
        .select_from(pop)
        .outerjoin(
            sale,
            and_(
                sale.member_id == pop.c.member_id,
                sale.refunded_at.is_(None),
                sale.created_at >= pop.c.start,
                sale.created_at < end,
                *bounds,
            ),
        )
        .group_by(pop.c.row, pop.c.grp, pop.c.variant, pop.c.reached)
        .subquery()
    )
    revenue = cast(per_row.c.revenue, Float)
    query = select(
        per_row.c.grp,
        per_row.c.variant,
        func.count(),
        func.sum(case((per_row.c.reached, 1), else_=0)),
        func.sum(case((per_row.c.purchases > 0, 1), else_=0)),
        func.sum(per_row.c.purchases),
        func.sum(per_row.c.revenue),
        func.sum(revenue * revenue),
    ).group_by(per_row.c.grp, per_row.c.variant)
    figures = {}
    for (
        grp,
        variant,
        members,
        reached,
        buyers,
        purchases,
        total,
        squares,
    ) in db.session.execute(query):
        figures[(grp, variant)] = {
            "members": int(members),
            "reached": int(reached or 0),
            "purchasers": int(buyers or 0),
            "purchases": int(purchases or 0),
            "revenue_kopecks": int(total or 0),
            "squares": float(squares or 0),
        }
    return figures


def _bonus_points(population: Population) -> dict[Key, int]:
    """Bonus points the group's members got in the window (the birthday bonus,
    an offer's points): what the treatment cost in points."""
    pop = population.query.subquery()
    end = _plus_hours(pop.c.start, 24 * population.days)
    query = (
        select(pop.c.grp, pop.c.variant, func.sum(LedgerEntry.points))
        .select_from(pop)
        .join(
            LedgerEntry,
            and_(
                LedgerEntry.member_id == pop.c.member_id,
                LedgerEntry.kind == "bonus",
                LedgerEntry.created_at >= pop.c.start,
                LedgerEntry.created_at < end,
            ),
        )
        .group_by(pop.c.grp, pop.c.variant)
    )
    return {(g, v): int(n or 0) for g, v, n in db.session.execute(query)}


def _uninstalls(population: Population) -> dict[Key, int]:
    """Rows whose member removed the pass within 72 h of the send: an Apple or
    Android device unregistering it (WalletEvent) or a Google delete callback.
    The events are read for the population's period only, then joined."""
    pop = population.query.subquery()
    first, last = db.session.execute(
        select(func.min(pop.c.start), func.max(pop.c.start))
    ).one()
    if first is None:
        return {}
    first = _aware(first)
    last = _aware(last) + timedelta(hours=UNINSTALL_HOURS)
    program_id = population.program.id
    events = union_all(
        select(Pass.member_id.label("member_id"), WalletEvent.created_at.label("at"))
        .join(Pass, Pass.id == WalletEvent.pass_id)
        .where(
            WalletEvent.program_id == program_id,
            WalletEvent.kind == "uninstall",
            WalletEvent.created_at >= first,
            WalletEvent.created_at <= last,
        ),
        select(GoogleObject.member_id, GoogleCallback.received_at)
        .join(GoogleObject, GoogleObject.object_id == GoogleCallback.object_id)
        .join(Member, Member.id == GoogleObject.member_id)
        .where(
            Member.program_id == program_id,
            GoogleCallback.event_type == "del",
            GoogleCallback.received_at >= first,
            GoogleCallback.received_at <= last,
        ),
    ).subquery()
    query = (
        select(pop.c.grp, pop.c.variant, func.count(func.distinct(pop.c.row)))
        .select_from(pop)
        .join(
            events,
            and_(
                events.c.member_id == pop.c.member_id,
                events.c.at >= pop.c.start,
                events.c.at < _plus_hours(pop.c.start, UNINSTALL_HOURS),
            ),
        )
        .group_by(pop.c.grp, pop.c.variant)
    )
    return {(g, v): int(n) for g, v, n in db.session.execute(query)}


def offer_costs(population: Population) -> dict[Key, tuple[int, int]]:
    """{(group, variant): (offers redeemed, discount in kopecks)}: the offers
    this campaign or automation issued (its source) that the population's
    members redeemed within the attribution window. Redeemed and the discount
    are `offers.stats`'s definitions (a refund restores an instance and zeroes
    its discount, so it stops counting here too)."""
    if population.offers is None:
        return {}
    kind, ref = population.offers
    pop = population.query.subquery()
    end = _plus_hours(pop.c.start, 24 * population.days)
    query = (
        select(
            pop.c.grp,
            pop.c.variant,
            func.count(MemberOffer.id),
            offer_service.discount_given(),
        )
        .select_from(pop)
        .join(
            MemberOffer,
            and_(
                MemberOffer.member_id == pop.c.member_id,
                MemberOffer.program_id == population.program.id,
                MemberOffer.source_kind == kind,
                MemberOffer.source_ref == ref,
                offer_service.redeemed_clause(),
                MemberOffer.redeemed_at >= pop.c.start,
                MemberOffer.redeemed_at < end,
            ),
        )
        .group_by(pop.c.grp, pop.c.variant)
    )
    return {
        (g, v): (int(n or 0), int(off or 0))
        for g, v, n, off in db.session.execute(query)
    }


def opt_outs(population: Population) -> dict[Key, int]:
    """Rows whose member switched marketing messages off («Получать
    предложения» on the card page: `Member.marketing_off_at`) within the
    attribution window after the send (after the run for the held-out). Only
    the latest switch-off is kept: a member who switched it off and on again
    is not counted."""
    pop = population.query.subquery()
    end = _plus_hours(pop.c.start, 24 * population.days)
    query = (
        select(pop.c.grp, pop.c.variant, func.count(func.distinct(pop.c.row)))
        .select_from(pop)
        .join(
            Member,
            and_(
                Member.id == pop.c.member_id,
                Member.marketing_off_at >= pop.c.start,
                Member.marketing_off_at < end,
            ),
        )
        .group_by(pop.c.grp, pop.c.variant)
    )
    return {(g, v): int(n) for g, v, n in db.session.execute(query)}


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _rub(kopecks: float) -> float:
    return round(kopecks / 100, 2)


def _group_view(
    figures: Mapping[str, Any],
    points: int,
    point_value: Decimal,
    offers: tuple[int, int],
) -> dict[str, Any]:
    members = figures["members"]
    purchases = figures["purchases"]
    revenue = figures["revenue_kopecks"]
    redeemed, discount = offers
    points_kopecks = int(Decimal(points) * point_value * 100)
    return {
        "members": members,
        "reached": figures["reached"],
        "purchasers": figures["purchasers"],
        "purchases": purchases,
        "conversion": round(figures["purchasers"] / members, 4) if members else 0.0,
        "revenue": _rub(revenue),
        "revenue_per_member": _rub(revenue / members) if members else 0.0,
        "average_check": _rub(revenue / purchases) if purchases else 0.0,
        "offers_redeemed": redeemed,
        "discount_cost": _rub(discount),
        "bonus_points": points,
        "bonus_points_cost": _rub(points_kopecks),
        "uninstalls_72h": figures.get("uninstalls", 0),
        "opt_outs": figures.get("opt_outs", 0),
    }


_EMPTY = {
    "members": 0,
    "reached": 0,
    "purchasers": 0,
    "purchases": 0,
    "revenue_kopecks": 0,
    "squares": 0.0,
}


def _combine(parts: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    total: dict[str, Any] = dict(_EMPTY)
    for part in parts:
        for name in (*_EMPTY, "uninstalls", "opt_outs", "points", "redeemed"):
            total[name] = total.get(name, 0) + part.get(name, 0)
        total["discount"] = total.get("discount", 0) + part.get("discount", 0)
    return total


def _compare(
    treated: Mapping[str, Any], control: Mapping[str, Any] | None
) -> dict[str, Any]:
    if control is None or not control["members"] or not treated["members"]:
        return {
            "conversion_difference": None,
            "revenue_per_member_difference": None,
        }
    conversion = proportion_difference(
        treated["purchasers"],
        treated["members"],
        control["purchasers"],
        control["members"],
    )
    # Revenue per member in roubles (kopecks / 100; squares / 100²).
    revenue = mean_difference(
        treated["revenue_kopecks"] / 100,
        treated["squares"] / 10_000,
        treated["members"],
        control["revenue_kopecks"] / 100,
        control["squares"] / 10_000,
        control["members"],
    )
    return {
        "conversion_difference": conversion.as_json() if conversion else None,
        "revenue_per_member_difference": revenue.as_json(2) if revenue else None,
    }


def compute(population: Population, message_cost_kopecks: int = 0) -> dict[str, Any]:
    """The results of a population: groups, differences, incremental revenue and
    ROMI (see the module and docs/architecture.md, "Results"); the cost counts
    `message_cost_kopecks` too (the fallback SMS sent)."""
    program = population.program
    figures = _purchases(population)
    points = _bonus_points(population)
    for key, count in _uninstalls(population).items():
        figures.setdefault(key, dict(_EMPTY))["uninstalls"] = count
    for key, count in opt_outs(population).items():
        figures.setdefault(key, dict(_EMPTY))["opt_outs"] = count
    offers = offer_costs(population)
    for key, value in figures.items():
        value["points"] = points.get(key, 0)
        value["redeemed"], value["discount"] = offers.get(key, (0, 0))
    point_value = Decimal(str(program.rule("point_value")))
    margin = Decimal(str(program.rule("gross_margin_percent")))

    def view(part: Mapping[str, Any]) -> dict[str, Any]:
        return _group_view(
            part,
            int(part.get("points", 0)),
            point_value,
            (int(part.get("redeemed", 0)), int(part.get("discount", 0))),
        )

    treated = _combine(v for (g, _), v in figures.items() if g == TREATMENT)
    control_parts = [v for (g, _), v in figures.items() if g == CONTROL]
    control = _combine(control_parts) if control_parts else None
    groups: dict[str, Any] = {TREATMENT: view(treated)}
    if control is not None:
        groups[CONTROL] = view(control)
    variants: dict[str, Any] = {}
    for (grp, variant), part in sorted(
        figures.items(), key=lambda item: str(item[0][1])
    ):
        if grp == TREATMENT and variant is not None:
            groups[variant] = view(part)
            variants[variant] = _compare(part, control)
    body: dict[str, Any] = {
        "control_group": control is not None and control["members"] > 0,
        "attribution_days": population.days,
        "groups": groups,
        **_compare(treated, control),
        "variants": variants,
    }
    if not body["control_group"]:
        body["note"] = "no control group: nothing to compare with"
    cost_kopecks = (
        groups[TREATMENT]["discount_cost"] * 100
        + groups[TREATMENT]["bonus_points_cost"] * 100
        + message_cost_kopecks
    )
    body["cost"] = _rub(cost_kopecks)
    body["gross_margin_percent"] = float(margin)
    if body["control_group"] and treated["members"]:
        assert control is not None
        per_member = (
            treated["revenue_kopecks"] / treated["members"]
            - control["revenue_kopecks"] / control["members"]
        )
        incremental = per_member * treated["members"]
        body["incremental_revenue"] = _rub(incremental)
        body["romi"] = (
            round((incremental * float(margin) / 100 - cost_kopecks) / cost_kopecks, 4)
            if cost_kopecks > 0
            else None
        )
    else:
        body["incremental_revenue"] = None
        body["romi"] = None
    return body


def daily(population: Population) -> dict[str, list[float]]:
    """Revenue per member by day of the window, cumulative, for treatment and
    control (the results chart): {"days": [...], "treatment": [...], ...}."""
    pop = population.query.subquery()
    first = db.session.scalar(select(func.min(pop.c.start)))
    if first is None:
        return {"days": [], TREATMENT: [], CONTROL: []}
    first = _aware(first)
    end = _plus_hours(pop.c.start, 24 * population.days)
    bounds = _sale_bounds(pop, population.days)
    sale = PosTransaction
    day = func.date(sale.created_at)
    rows = db.session.execute(
        select(pop.c.grp, day, func.sum(sale.amount_kopecks))
        .select_from(pop)
        .join(
            sale,
            and_(
                sale.member_id == pop.c.member_id,
                sale.refunded_at.is_(None),
                sale.created_at >= pop.c.start,
                sale.created_at < end,
                *bounds,
            ),
        )
        .group_by(pop.c.grp, day)
    ).all()
    sizes = dict(
        db.session.execute(select(pop.c.grp, func.count()).group_by(pop.c.grp))
        .tuples()
        .all()
    )
    days = [
        (first.date() + timedelta(days=i)).isoformat()
        for i in range(population.days + 1)
    ]
    series: dict[str, list[float]] = {"days": days}  # type: ignore[dict-item]
    for grp in (TREATMENT, CONTROL):
        by_day = {str(d)[:10]: int(v or 0) for g, d, v in rows if g == grp}
        size = sizes.get(grp, 0)
        total, values = 0, []
        for d in days:
            total += by_day.get(d, 0)
            values.append(round(total / 100 / size, 2) if size else 0.0)
        series[grp] = values
    return series


# -- campaigns and automations -----------------------------------------------------
def campaign_results(campaign: Campaign) -> dict[str, Any]:
    population = campaign_population(campaign)
    reach = channel_reach(population)
    body = {
        "campaign_id": campaign.id,
        "holdout_percent": campaign.holdout_percent,
        **compute(population, reach.sms_cost_kopecks),
    }
    return with_reach(body, reach)


class Reach(NamedTuple):
    """Fallback messages of a population's treated rows: members per channel
    (queued: every message, sent: those out), and the SMS cost in kopecks."""

    queued: dict[str, int]
    sent: dict[str, int]
    sms_cost_kopecks: int


def channel_reach(population: Population) -> Reach:
    """How the treated were reached besides the wallet: one grouped query of
    the fallback messages (`outbound_message`, purpose fallback) of the rows'
    own member and source key, per channel. Campaigns and automations both
    answer with it (`with_reach`)."""
    pop = population.query.subquery()
    message = OutboundMessage
    sent_member = case((message.sent_at.is_not(None), message.member_id))
    rows = db.session.execute(
        select(
            message.channel,
            func.count(func.distinct(message.member_id)),
            func.count(func.distinct(sent_member)),
            func.coalesce(func.sum(message.cost_kopecks), 0),
        )
        .select_from(pop)
        .join(
            message,
            and_(
                message.member_id == pop.c.member_id,
                message.source_key == pop.c.source_key,
                message.purpose == FALLBACK,
            ),
        )
        .where(
            pop.c.grp == TREATMENT,
            *([population.messages] if population.messages is not None else []),
        )
        .group_by(message.channel)
    ).all()
    queued = dict.fromkeys(fallback.CHANNELS, 0)
    sent = dict.fromkeys(fallback.CHANNELS, 0)
    cost = 0
    for channel, members, out, kopecks in rows:
        queued[channel], sent[channel] = int(members), int(out)
        if channel == fallback.SMS:
            cost = int(kopecks or 0)
    return Reach(queued, sent, cost)


def with_reach(body: dict[str, Any], reach: Reach) -> dict[str, Any]:
    """`body` (`compute`'s answer) with the reached by channel: the wallet (the
    treated reached, less those an SMS / e-mail was queued for instead), SMS
    and e-mail (sent), and the SMS cost."""
    reached = int(body["groups"][TREATMENT]["reached"])
    fallbacks = sum(reach.queued.values())
    body["reached_by_channel"] = {
        "wallet": max(0, reached - fallbacks),
        **{channel: reach.sent[channel] for channel in fallback.CHANNELS},
    }
    body["sms_cost"] = _rub(reach.sms_cost_kopecks)
    return body


def parse_period(
    program: Program, start: str | None, end: str | None, today: date | None = None
) -> tuple[datetime, datetime]:
    """?from=&to= (local dates, inclusive) as [start, end) instants; the last 30
    days by default."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(program.timezone)
    today = today or datetime.now(zone).date()

    def day(value: str | None, name: str, default: date) -> date:
        if value is None or value == "":
            return default
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise Invalid(
                "invalid_period", f"{name} must be a date YYYY-MM-DD"
            ) from None

    last = day(end, "to", today)
    first = day(start, "from", last - timedelta(days=29))
    if first > last:
        raise Invalid("invalid_period", "from must not be after to")
    if (last - first).days > 366:
        raise Invalid("invalid_period", "the period may span at most 366 days")
    return (
        datetime.combine(first, time(0), zone).astimezone(UTC),
        datetime.combine(last + timedelta(days=1), time(0), zone).astimezone(UTC),
    )


def automation_results(
    program: Program,
    name: str,
    start: datetime,
    end: datetime,
    holdout_percent: int,
    days: int = ATTRIBUTION_DAYS,
) -> dict[str, Any]:
    population = automation_population(program, name, start, end, days)
    reach = channel_reach(population)
    body = {
        "automation": name,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "holdout_percent": holdout_percent,
        **compute(population, reach.sms_cost_kopecks),
    }
    return with_reach(body, reach)


_CSV_FIELDS = [
    "members",
    "reached",
    "purchasers",
    "purchases",
    "conversion",
    "revenue",
    "revenue_per_member",
    "average_check",
    "offers_redeemed",
    "discount_cost",
    "bonus_points",
    "bonus_points_cost",
    "uninstalls_72h",
    "opt_outs",
]


def to_csv(results: Mapping[str, Any]) -> str:
    """One line per group and variant, then the comparison's figures, then the
    treated reached per channel."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["group", *_CSV_FIELDS])
    for name, group in results["groups"].items():
        writer.writerow([name, *(group[field] for field in _CSV_FIELDS)])
    writer.writerow([])
    writer.writerow(["figure", "estimate", "low", "high", "verdict"])
    for figure in ("conversion_difference", "revenue_per_member_difference"):
        value = results.get(figure)
        if value is None:
            writer.writerow([figure, "", "", "", "no control group"])
        else:
            writer.writerow(
                [
                    figure,
                    value["estimate"],
                    value["low"],
                    value["high"],
                    value["verdict"],
                ]
            )
    for figure in ("incremental_revenue", "cost", "romi", "sms_cost"):
        value = results.get(figure)
        writer.writerow([figure, "" if value is None else value])
    # How the treated were reached (`with_reach`): the wallet, SMS, e-mail.
    writer.writerow([])
    writer.writerow(["channel", "reached"])
    for channel, count in results.get("reached_by_channel", {}).items():
        writer.writerow([channel, count])
    return out.getvalue()


# -- chart -------------------------------------------------------------------------
_LINE = Markup(
    '<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}">'
    "<title>{label}</title></polyline>"
)
_CHART = Markup(
    '<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
    'aria-label="{label}" xmlns="http://www.w3.org/2000/svg">'
    '<line x1="{pad}" y1="{base}" x2="{right}" y2="{base}" stroke="#999"/>{lines}'
    '<text x="{pad}" y="{bottom}" font-size="11">{first}</text>'
    '<text x="{right}" y="{bottom}" font-size="11" text-anchor="end">{last}</text>'
    '<text x="{pad}" y="12" font-size="11">max {top}</text></svg>'
)
COLOURS = {TREATMENT: "#3b6fd6", CONTROL: "#999999"}


def line_chart(
    series: Mapping[str, Any], label: str, names: Mapping[str, str]
) -> Markup:
    """Cumulative revenue per member over the window, a line per group; an
    accessible inline SVG (Markup.format escapes every value)."""
    width, height, pad = 600, 160, 18
    days: list[str] = list(series["days"])
    values = [v for grp in (TREATMENT, CONTROL) for v in series.get(grp, [])]
    top = max(values) if values and max(values) > 0 else 1
    step = (width - 2 * pad) / max(len(days) - 1, 1)
    plot = height - 2 * pad
    lines = Markup("").join(
        _LINE.format(
            colour=COLOURS[grp],
            label=names.get(grp, grp),
            points=" ".join(
                f"{pad + i * step:.1f},{height - pad - plot * v / top:.1f}"
                for i, v in enumerate(series.get(grp, []))
            ),
        )
        for grp in (TREATMENT, CONTROL)
        if series.get(grp)
    )
    return _CHART.format(
        width=width,
        height=height,
        label=label,
        pad=pad,
        base=height - pad,
        right=width - pad,
        bottom=height - 3,
        lines=lines,
        first=days[0][5:] if days else "",
        last=days[-1][5:] if days else "",
        top=top,
    )
