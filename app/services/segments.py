"""Segments: a JSON definition of a set of members, compiled to one SQL query.

A definition is an object with exactly one key (the rule) and its argument:

    {"all": {}}
    {"tier": ["gold", "silver"]}
    {"new": {"days": 30}}                      joined within N days
    {"active": {"days": 30}}                   a purchase within N days
    {"lapsed": {"factor": 2, "days": 90, "stat": "median"}}
        3+ purchases: the last one is older than factor x the member's own
        median (or mean) interval between purchases; 1-2 purchases: older than
        N days; members who never bought are not lapsed (see never_scanned)
    {"birthday": {"from": "12-25", "to": "01-05"}}   month-day, year-agnostic,
        wraps over New Year; "YYYY-MM-DD" also accepted (the year only decides
        29 Feb: a 29 Feb birthday counts on 28 Feb unless the year is a leap one)
    {"near": {"stores": [1, 2], "km": 5}}      the member's location (preferred
        store, else their city's centre, as on the pass) within R km
    {"installed_never_scanned": {}}            a device or saved Google card,
                                               no purchase
    {"reachable": {}} or {"reachable": {"platform": "apple|android|google"}}
    behaviour rules: spend, purchases, avg_check, last_store, points,
    holdout_of, rfm (app/services/segment_rules.py)
    {"and": [...]}, {"or": [...]}, {"not": {...}}

Erased members never match. Everything is SQLAlchemy Core that runs on SQLite
and PostgreSQL: correlated EXISTS on indexed columns, and the near-store rule
is worked out in Python over the (few) stores into IN lists.
"""

from __future__ import annotations

import calendar
import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    String,
    and_,
    case,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    text,
    true,
    union_all,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import AsBoolean, False_
from sqlalchemy.sql.functions import FunctionElement

from app.extensions import db
from app.ids import is_id
from app.models import (
    Device,
    GoogleObject,
    Member,
    Pass,
    PosTransaction,
    Program,
    Registration,
    Store,
)
from app.services import checks, segment_rules
from app.services.errors import Invalid
from app.services.masking import mask_name, mask_phone

MAX_DEPTH = 8
MAX_RULES = 50
SAMPLE_SIZE = 5
PLATFORMS = ("apple", "android", "google")


# -- portable SQL helpers ------------------------------------------------------------
class epoch_seconds(FunctionElement[float]):  # noqa: N801 (SQL function style)
    """Seconds since 1970 of a timestamp column, on both databases."""

    type = Float()
    inherit_cache = True


@compiles(epoch_seconds, "sqlite")
def _epoch_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    return f"((julianday({column}) - 2440587.5) * 86400.0)"


@compiles(epoch_seconds, "postgresql")
def _epoch_pg(element: Any, compiler: Any, **kw: Any) -> str:
    return f"EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)})"


class unindexed(FunctionElement[Any]):  # noqa: N801
    """A column's value that no index serves (the same type) on SQLite: a
    filter on it is checked while walking another index instead of choosing
    one on it. The bare column elsewhere: on PostgreSQL `+ interval '0'` cost
    more per row (4.1 s against 2.2-2.5 s for a 90-day window at 1M) than
    the index choice it avoids."""

    inherit_cache = True

    def __init__(self, column: Any) -> None:
        super().__init__(column)
        self.type = column.type


@compiles(unindexed)
def _unindexed_any(element: Any, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.clauses, **kw))


@compiles(unindexed, "sqlite")
def _unindexed_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    # SQLite's documented way: unary + is a no-op that disqualifies the term.
    return f"+{compiler.process(element.clauses, **kw)}"


class month_day(FunctionElement[str]):  # noqa: N801
    """'MM-DD' of a date column, on both databases."""

    type = String()
    inherit_cache = True


@compiles(month_day, "sqlite")
def _md_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    return f"strftime('%m-%d', {compiler.process(element.clauses, **kw)})"


@compiles(month_day, "postgresql")
def _md_pg(element: Any, compiler: Any, **kw: Any) -> str:
    return f"to_char({compiler.process(element.clauses, **kw)}, 'MM-DD')"


def invalid(message: str) -> Invalid:
    return Invalid("invalid_segment", message)


# -- compiling -------------------------------------------------------------------------
@dataclass
class Context:
    program: Program
    now: datetime
    rules: int = 0
    # What the query already knows of the member's channels (see `counts`):
    # None nothing; "device" a registered device; "google" a saved Google card;
    # "none" neither. Lets the reachable rules compile to constants.
    known: str | None = None
    # Rules that read the channels (`known` changes them) and rules that group
    # every purchase of the program (see `counts`).
    channel_rules: int = 0
    grouping_rules: int = 0


def _days(args: Any, name: str, key: str = "days", maximum: int = 36500) -> int:
    value = args.get(key) if isinstance(args, dict) else None
    return checks.whole(value, f"{name}.{key}", 1, maximum, "invalid_segment")


def _only(args: Any, name: str, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(args, dict):
        raise invalid(f"{name} takes an object")
    unknown = set(args) - allowed
    if unknown:
        raise invalid(f"unknown field(s) for {name}: {', '.join(sorted(unknown))}")
    return args


def _purchases() -> Any:
    return select(PosTransaction.id).where(
        PosTransaction.member_id == Member.id, PosTransaction.refunded_at.is_(None)
    )


def _registered(platform: str | None = None) -> ColumnElement[bool]:
    query = (
        select(Registration.id)
        .join(Pass, Pass.id == Registration.pass_id)
        .where(Pass.member_id == Member.id, Pass.voided.is_(False))
    )
    if platform is not None:
        query = query.join(Device, Device.id == Registration.device_id).where(
            Device.platform == platform
        )
    return exists(query)


def _google_saved() -> ColumnElement[bool]:
    return exists(
        select(GoogleObject.id).where(
            GoogleObject.member_id == Member.id,
            GoogleObject.saved.is_(True),
            GoogleObject.state == "ACTIVE",
        )
    )


def reachable_expr(platform: str | None = None) -> ColumnElement[bool]:
    if platform == "google":
        return _google_saved()
    if platform in ("apple", "android"):
        return _registered(platform)
    return or_(_registered(), _google_saved())


def _reachable(platform: str | None, context: Context) -> ColumnElement[bool]:
    """reachable_expr, or a constant where the query already knows the answer."""
    context.channel_rules += 1
    if context.known == "none":
        return false()
    if context.known == "device" and platform is None:
        return true()
    if context.known == "google" and platform in (None, "google"):
        return true()
    return reachable_expr(platform)


def _month_day(value: Any, name: str) -> tuple[str, int | None]:
    if not isinstance(value, str):
        raise invalid(f"birthday.{name} must be 'MM-DD' or 'YYYY-MM-DD'")
    match = re.fullmatch(r"(?:(\d{4})-)?(\d{2})-(\d{2})", value)
    if match is None:
        raise invalid(f"birthday.{name} must be 'MM-DD' or 'YYYY-MM-DD'")
    year = int(match[1]) if match[1] else None
    month, day = int(match[2]), int(match[3])
    try:
        date(year or 2000, month, day)  # 2000 is a leap year: 02-29 is fine
    except ValueError:
        raise invalid(f"birthday.{name} is not a date: {value}") from None
    return f"{month:02d}-{day:02d}", year


def _in_range(md: Any, start: str, end: str) -> ColumnElement[bool]:
    if start <= end:
        return and_(md >= start, md <= end)
    return or_(md >= start, md <= end)  # over New Year


def _birthday(args: Any) -> ColumnElement[bool]:
    args = _only(args, "birthday", {"from", "to"})
    start, start_year = _month_day(args.get("from"), "from")
    end, end_year = _month_day(args.get("to"), "to")
    md = month_day(Member.birthday)
    years = {y for y in (start_year, end_year) if y is not None}
    leap = bool(years) and all(calendar.isleap(y) for y in years)
    match = and_(Member.birthday.is_not(None), _in_range(md, start, end))
    if leap or not _in_range_py("02-28", start, end):
        return match
    # In a common year a 29 Feb birthday is celebrated on 28 Feb.
    return or_(match, and_(md == "02-29", Member.birthday.is_not(None)))


def _in_range_py(md: str, start: str, end: str) -> bool:
    return start <= md <= end if start <= end else (md >= start or md <= end)


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 6371.0088 * 2 * math.asin(math.sqrt(a))


def _near(args: Any, context: Context) -> ColumnElement[bool]:
    args = _only(args, "near", {"stores", "km"})
    ids = args.get("stores")
    km = args.get("km")
    if (
        not isinstance(ids, list)
        or not ids
        or len(ids) > 100
        or not all(is_id(i) for i in ids)
    ):
        raise invalid("near.stores must be a list of 1-100 store ids")
    if checks.number(km, "near.km", 0, 1000, "invalid_segment") == 0:
        raise invalid("near.km must be more than 0")
    stores = list(
        db.session.scalars(
            select(Store).where(
                Store.program_id == context.program.id, Store.active.is_(True)
            )
        )
    )
    by_id = {s.id: s for s in stores}
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise invalid(f"near.stores: unknown or closed store(s): {missing}")
    chosen = [by_id[i] for i in ids]

    def near(lat: float, lon: float) -> bool:
        return any(
            haversine_km(lat, lon, s.latitude, s.longitude) <= km for s in chosen
        )

    def centre(group: list[Store]) -> tuple[float, float]:
        return (
            sum(s.latitude for s in group) / len(group),
            sum(s.longitude for s in group) / len(group),
        )

    # The same location as passes.member_location, decided per store and city.
    near_store_ids = [s.id for s in stores if near(s.latitude, s.longitude)]
    cities: dict[str, list[Store]] = {}
    for s in stores:
        cities.setdefault(s.city, []).append(s)
    near_cities = [c for c, group in cities.items() if near(*centre(group))]
    without_store = or_(
        Member.preferred_store_id.is_(None),
        Member.preferred_store_id.not_in(list(by_id)),
    )
    parts: list[ColumnElement[bool]] = [Member.preferred_store_id.in_(near_store_ids)]
    parts.append(and_(without_store, Member.city.in_(near_cities)))
    if stores and near(*centre(stores)):  # no store and no known city: all stores
        parts.append(
            and_(
                without_store,
                or_(Member.city.is_(None), Member.city.not_in(list(cities))),
            )
        )
    return or_(*parts)


def _lapsed(args: Any, context: Context) -> ColumnElement[bool]:
    args = _only(args, "lapsed", {"factor", "days", "stat"})
    factor = args.get("factor", 2)
    factor = checks.number(factor, "lapsed.factor", 1, 20, "invalid_segment")
    days = _days({"days": args.get("days", 90)}, "lapsed")
    stat = args.get("stat", "median")
    if stat not in LAPSE_STATS:
        raise invalid("lapsed.stat must be 'median' or 'mean'")
    lapsed = lapsed_members(
        context.program.id, context.now, float(factor), days, LAPSE_MIN_PURCHASES, stat
    )
    return Member.id.in_(select(lapsed.c.member_id))


# -- lapse: the one definition (the `lapsed` segment and the win-back automation) --
LAPSE_STATS = ("median", "mean")
LAPSE_MIN_PURCHASES = 3  # the segment's; win-back has its own setting (default 3)


def lapsed_members(
    program_id: int,
    now: datetime,
    factor: float,
    days: int,
    min_purchases: int,
    stat: str = "median",
    member_ids: list[int] | None = None,
) -> Any:
    """Members lapsed at `now` and when their lapse began (`start`, epoch
    seconds), as a subquery (member_id, start). A buyer with `min_purchases`+
    purchases (not refunded) lapses `factor` x their usual interval after the
    last one — the usual interval is the MEDIAN gap between consecutive
    purchases (one long pause does not hide a regular's lapse; "mean" only when
    a segment asks for it); fewer purchases: `days` after the last one. Members
    who never bought are not lapsed. See docs/architecture.md, "Segments"."""
    t = PosTransaction
    at = epoch_seconds(t.created_at)
    where = [t.program_id == program_id, t.refunded_at.is_(None)]
    if member_ids is not None:
        where.append(t.member_id.in_(member_ids))
    gaps = (
        select(
            t.member_id.label("member_id"),
            (
                at
                - func.lag(at).over(
                    partition_by=t.member_id, order_by=(t.created_at, t.id)
                )
            ).label("gap"),
        )
        .where(*where)
        .subquery("gaps")
    )
    ranked = (
        select(
            gaps.c.member_id,
            gaps.c.gap,
            func.row_number()
            .over(partition_by=gaps.c.member_id, order_by=gaps.c.gap)
            .label("rn"),
            func.count().over(partition_by=gaps.c.member_id).label("n"),
        )
        .where(gaps.c.gap.is_not(None))
        .subquery("ranked")
    )
    usual = select(ranked.c.member_id, func.avg(ranked.c.gap).label("usual"))
    if stat == "median":  # the middle gap, or the mean of the middle two
        usual = usual.where(
            ranked.c.rn.in_([(ranked.c.n + 1) / 2, (ranked.c.n + 2) / 2])
        )
    usual_sq = usual.group_by(ranked.c.member_id).subquery("usual")
    stats = (
        select(
            t.member_id.label("member_id"),
            func.count().label("n"),
            func.max(at).label("last"),
        )
        .where(*where)
        .group_by(t.member_id)
        .subquery("stats")
    )
    start = case(
        (
            and_(stats.c.n >= min_purchases, usual_sq.c.usual.is_not(None)),
            stats.c.last + literal(factor) * usual_sq.c.usual,
        ),
        else_=stats.c.last + literal(days * 86400.0),
    )
    starts = (
        select(stats.c.member_id, start.label("start"))
        .outerjoin(usual_sq, usual_sq.c.member_id == stats.c.member_id)
        .subquery("starts")
    )
    return (
        select(starts.c.member_id, starts.c.start)
        .where(starts.c.start <= literal(now.timestamp()))
        .subquery("lapsed")
    )


def compile_rule(
    definition: Any, context: Context, depth: int = 0
) -> ColumnElement[bool]:
    """A definition -> a boolean SQL expression over `member` (422 on bad input)."""
    if depth > MAX_DEPTH:
        raise invalid(f"segment nested deeper than {MAX_DEPTH}")
    context.rules += 1
    if context.rules > MAX_RULES:
        raise invalid(f"segment has more than {MAX_RULES} rules")
    if not isinstance(definition, dict) or len(definition) != 1:
        raise invalid("each rule must be an object with exactly one key")
    ((name, args),) = definition.items()
    if name in ("and", "or"):
        if not isinstance(args, list) or not args:
            raise invalid(f"{name} takes a non-empty list of rules")
        parts = [compile_rule(a, context, depth + 1) for a in args]
        return and_(*parts) if name == "and" else or_(*parts)
    if name == "not":
        return not_(compile_rule(args, context, depth + 1))
    if name == "all":
        _only(args, "all", set())
        return true()
    if name == "tier":
        codes = {t["code"] for t in context.program.tiers} or {"base"}
        if not isinstance(args, list) or not args:
            raise invalid("tier takes a non-empty list of tier codes")
        unknown = [a for a in args if a not in codes]
        if unknown:
            raise invalid(
                f"unknown tier(s) {unknown}; known: {', '.join(sorted(codes))}"
            )
        return Member.tier.in_(args)
    if name == "new":
        days = _days(_only(args, "new", {"days"}), "new")
        return Member.created_at >= context.now - timedelta(days=days)
    if name == "active":
        days = _days(_only(args, "active", {"days"}), "active")
        return exists(
            _purchases().where(
                PosTransaction.created_at >= context.now - timedelta(days=days)
            )
        )
    if name == "lapsed":
        context.grouping_rules += 1
        return _lapsed(args, context)
    if name == "birthday":
        return _birthday(args)
    if name == "near":
        return _near(args, context)
    if name == "installed_never_scanned":
        _only(args, name, set())
        return and_(_reachable(None, context), not_(exists(_purchases())))
    if name == "reachable":
        args = _only(args, name, {"platform"})
        platform = args.get("platform")
        if platform is not None and platform not in PLATFORMS:
            raise invalid(f"reachable.platform must be one of {', '.join(PLATFORMS)}")
        return _reachable(platform, context)
    # Behaviour rules (results, issue 16): app/services/segment_rules.py.
    if name in GROUPING_RULES:
        context.grouping_rules += 1
    behaviour = segment_rules.compile_behaviour(
        name,
        args,
        context.program,
        context.now,
        lambda nested: compile_rule(nested, context, depth + 1),
    )
    if behaviour is not None:
        return behaviour
    raise invalid(
        f"unknown rule {name!r}; known: all, tier, new, active, lapsed, birthday, "
        "near, installed_never_scanned, reachable, "
        f"{', '.join(segment_rules.RULES)}, and, or, not"
    )


# Rules whose SQL groups the program's purchases by member: evaluated once per
# count (see `counts`).
GROUPING_RULES = frozenset({"spend", "purchases", "avg_check", "last_store", "rfm"})


def where(
    program: Program,
    definition: Any,
    now: datetime | None = None,
    known: str | None = None,
) -> ColumnElement[bool]:
    """The full WHERE clause: this program, not erased, and the segment
    (`known`: what the query already knows of the member's channels)."""
    context = Context(program=program, now=now or datetime.now(UTC), known=known)
    return and_(
        Member.program_id == program.id,
        Member.erased_at.is_(None),
        # Campaigns reach only customers who still want offers.
        Member.marketing_off_at.is_(None),
        compile_rule(definition, context),
    )


def validate(program: Program, definition: Any) -> None:
    """422 unless `definition` compiles for this program."""
    where(program, definition)


def _is_false(expr: ColumnElement[bool]) -> bool:
    """True when SQLAlchemy folded `expr` to the constant false."""
    while isinstance(expr, AsBoolean):
        expr = expr.element
    return isinstance(expr, False_)


def counts(
    program: Program, definition: Any, now: datetime | None = None
) -> dict[str, int]:
    """members, and reachable (any channel and by channel).

    Reachable counts are driven from the (smaller) registration and Google
    tables joined to the segment's members, not by an EXISTS per member; on
    those rows the `reachable` rules are known true, so the segment is compiled
    without their EXISTS. When the segment can't match an unreachable member
    ("reachable", "installed_never_scanned" and anything AND-ed with them),
    members = reachable and the walk over all members is skipped."""
    now = now or datetime.now(UTC)
    # Aliases: the segment's own EXISTS subqueries use these tables too and must
    # not correlate to the join here.
    p, r, d, go = (
        aliased(Pass),
        aliased(Registration),
        aliased(Device),
        aliased(GoogleObject),
    )
    context = Context(program=program, now=now)
    compile_rule(definition, context)
    if context.grouping_rules and not context.channel_rules:
        return _counts_once(program, definition, now, (p, r, d, go))
    by_device = (
        select(Member.id.label("member_id"), d.platform.label("channel"))
        .join(p, p.member_id == Member.id)
        .join(r, r.pass_id == p.id)
        .join(d, d.id == r.device_id)
        .where(where(program, definition, now, known="device"), p.voided.is_(False))
    )
    by_google = (
        select(Member.id.label("member_id"), literal("google").label("channel"))
        .join(go, go.member_id == Member.id)
        .where(
            where(program, definition, now, known="google"),
            go.saved.is_(True),
            go.state == "ACTIVE",
        )
    )
    reach = union_all(by_device, by_google).subquery("reach")

    def has(channel: str) -> Any:
        return func.max(case((reach.c.channel == channel, 1), else_=0))

    # One row per reachable member with a flag per channel, then one count each.
    flags = (
        select(
            has("apple").label("apple"),
            has("android").label("android"),
            has("google").label("google"),
        )
        .group_by(reach.c.member_id)
        .subquery("flags")
    )
    row = db.session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(flags.c.apple), 0),
            func.coalesce(func.sum(flags.c.android), 0),
            func.coalesce(func.sum(flags.c.google), 0),
        )
    ).one()
    unreachable = Context(program=program, now=now, known="none")
    if _is_false(compile_rule(definition, unreachable)):
        members = row[0]
    else:
        members = db.session.scalar(
            select(func.count()).where(where(program, definition, now))
        )
    return {
        "members": int(members or 0),
        "reachable": int(row[0]),
        "reachable_apple": int(row[1]),
        "reachable_android": int(row[2]),
        "reachable_google": int(row[3]),
    }


def _counts_once(
    program: Program, definition: Any, now: datetime, aliases: tuple[Any, ...]
) -> dict[str, int]:
    """`counts` for a segment that groups the program's purchases (spend, RFM,
    ...) and does not read the channels: its members are found ONCE (a
    materialized CTE) and the channels joined to them, all in one statement.
    `counts`' usual plan evaluates the segment in each of its three parts, and
    each evaluation groups every purchase (10M at the scale target)."""
    p, r, d, go = aliases
    seg = (
        select(Member.id.label("member_id"))
        .where(where(program, definition, now))
        .cte("seg")
        .prefix_with("MATERIALIZED")
    )
    by_device = (
        select(seg.c.member_id, d.platform.label("channel"))
        .join(p, p.member_id == seg.c.member_id)
        .join(r, r.pass_id == p.id)
        .join(d, d.id == r.device_id)
        .where(p.voided.is_(False))
    )
    by_google = (
        select(seg.c.member_id, literal("google").label("channel"))
        .join(go, go.member_id == seg.c.member_id)
        .where(go.saved.is_(True), go.state == "ACTIVE")
    )
    reach = union_all(by_device, by_google).subquery("reach")

    def has(channel: str) -> Any:
        return func.max(case((reach.c.channel == channel, 1), else_=0))

    flags = (
        select(
            has("apple").label("apple"),
            has("android").label("android"),
            has("google").label("google"),
        )
        .group_by(reach.c.member_id)
        .subquery("flags")
    )
    # Plan hints on PostgreSQL, for this statement only:
    # - no nested loops: the rows a grouped or computed filter keeps are a
    #   guess (a third per condition), and for a guessed-small segment the
    #   planner probed the member index once per member (640k probes, ~12 s at
    #   1M); the real segments here are large;
    # - no hash aggregation: a window other than the year's (which reads the
    #   year totals) is then grouped while walking the member-ordered sales
    #   index, and meets the member index in a merge join. Hashing the window's
    #   purchases from the time index instead spilled to disk and needed a sort
    #   for the join: 2.03-2.08 s against 1.58-1.69 s for the 90-day rule at 1M
    #   members (docs/performance.md, stop 16).
    postgresql = db.session.get_bind().dialect.name == "postgresql"
    if postgresql:
        db.session.execute(text("SET LOCAL enable_nestloop = off"))
        db.session.execute(text("SET LOCAL enable_hashagg = off"))
    row = db.session.execute(
        select(
            select(func.count()).select_from(seg).scalar_subquery(),
            func.count(),
            func.coalesce(func.sum(flags.c.apple), 0),
            func.coalesce(func.sum(flags.c.android), 0),
            func.coalesce(func.sum(flags.c.google), 0),
        )
    ).one()
    if postgresql:
        db.session.execute(text("SET LOCAL enable_nestloop TO DEFAULT"))
        db.session.execute(text("SET LOCAL enable_hashagg TO DEFAULT"))
    return {
        "members": int(row[0] or 0),
        "reachable": int(row[1]),
        "reachable_apple": int(row[2]),
        "reachable_android": int(row[3]),
        "reachable_google": int(row[4]),
    }


def sample(
    program: Program, definition: Any, now: datetime | None = None
) -> list[dict[str, Any]]:
    rows = db.session.execute(
        select(Member.id, Member.name, Member.phone)
        .where(where(program, definition, now))
        .order_by(Member.id)
        .limit(SAMPLE_SIZE)
    )
    return [
        {"id": r.id, "name": mask_name(r.name), "phone": mask_phone(r.phone)}
        for r in rows
    ]
