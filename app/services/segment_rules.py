"""Behaviour segment rules (issue 16), compiled like the rules of `segments`:
each is a boolean SQL expression over `member`, set-based (an IN over one
grouped query of purchases, not a subquery per member).

    {"spend": {"days": 365, "min": 1000, "max": 50000}}   roubles spent (not
        refunded) in the last N days (default 365); min and/or max
    {"purchases": {"days": 90, "min": 2}}                 purchases in N days
    {"avg_check": {"days": 365, "min": 1500}}             average purchase in
        N days (members with none never match)
    {"last_store": {"stores": [1, 2]}}                    their latest purchase
        was in one of these stores
    {"points": {"min": 500, "max": 10000}}                balance range
    {"holdout_of": {"campaign": 12}} or {"holdout_of": {"automation":
        "win_back", "days": 90}}                          members held out (the
        control group) of a campaign, or of an automation in the last N days
    {"rfm": "champions" | "loyal" | "at_risk" | "lost"}   presets (RFM_CUTOFFS)
    {"offer_redeemed": {"offer": 7, "days": 30}}          members who redeemed
        that offer (without "offer": any offer) at the till in the last N days
        (default 365); a refunded purchase gives the offer back, so it no
        longer counts
    {"saved": 3}                                          a saved segment's
        definition as it is now (campaigns reuse saved segments this way)
    {"membership": "club" | ["club", "year"] | "any" | "none"}   members with
        an active paid membership of those plans (or of any), or without one
        (members-only offers go to a campaign with this rule)

A missing min means 0 (members without purchases have spent 0 and made 0
purchases, so they match "max" rules); a missing max means no upper bound.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Subquery,
    and_,
    exists,
    func,
    not_,
    select,
    true,
)

from app.extensions import db
from app.ids import is_id
from app.models import (
    Assignment,
    Campaign,
    Member,
    MemberOffer,
    MemberPurchaseTotal,
    Offer,
    PosTransaction,
    Program,
    SavedSegment,
    Store,
)
from app.models.base import utcnow
from app.models.campaign import CANCELLED, DONE
from app.models.results import CONTROL
from app.services.errors import Conflict, Invalid, NotFound

RULES = (
    "spend",
    "purchases",
    "avg_check",
    "last_store",
    "points",
    "holdout_of",
    "rfm",
    "offer_redeemed",
    "saved",
    "membership",
)
# RFM presets: R = days since the last purchase, F = purchases in the last 365
# days, lifetime = all purchases (none refunded). The four are disjoint.
RFM_CUTOFFS = {
    "champions": "bought within 30 days and 5+ purchases in 365 days",
    "loyal": "bought within 90 days and 3+ purchases in 365 days (not champions)",
    "at_risk": "last purchase 91-180 days ago and 2+ purchases ever",
    "lost": "last purchase more than 180 days ago",
}
MAX_DAYS = 3650
AUTOMATIONS = (
    "birthday",
    "win_back",
    "welcome",
    "points_reminder",
    "membership_renewal",
)


def _invalid(message: str) -> Invalid:
    return Invalid("invalid_segment", message)


def _object(args: Any, name: str, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(args, dict):
        raise _invalid(f"{name} takes an object")
    unknown = set(args) - allowed
    if unknown:
        raise _invalid(f"unknown field(s) for {name}: {', '.join(sorted(unknown))}")
    return args


def _number(args: dict[str, Any], name: str, key: str) -> float | None:
    value = args.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _invalid(f"{name}.{key} must be a number")
    if not 0 <= value <= 10**12:
        raise _invalid(f"{name}.{key} must be between 0 and 10^12")
    return float(value)


def _range(args: dict[str, Any], name: str) -> tuple[float, float | None]:
    low = _number(args, name, "min")
    high = _number(args, name, "max")
    if low is None and high is None:
        raise _invalid(f"{name} needs min and/or max")
    if low is not None and high is not None and high < low:
        raise _invalid(f"{name}.max must not be below {name}.min")
    return low or 0.0, high


def _days(args: dict[str, Any], name: str, default: int) -> int:
    value = args.get("days", default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid(f"{name}.days must be a whole number of days")
    if not 0 < value <= MAX_DAYS:
        raise _invalid(f"{name}.days must be between 1 and {MAX_DAYS}")
    return value


def _sales(program: Program, since: datetime | None) -> list[ColumnElement[bool]]:
    where = [
        PosTransaction.program_id == program.id,
        PosTransaction.refunded_at.is_(None),
    ]
    if since is not None:
        where.append(PosTransaction.created_at >= since)
    return where


def window_totals(program: Program, now: datetime, days: int) -> Subquery:
    """(member_id, purchases, spend in kopecks) of every member with at least
    one unrefunded purchase in the last `days` days.

    The 365-day window of a large program is read from its year totals
    snapshot plus what moved since (services.year_totals): one row per member
    instead of every purchase of the year. Any other window groups its
    purchases."""
    if days == 365:
        from app.services import year_totals  # (it imports the scheduler's users)

        kept = year_totals.window(program, now)
        if kept is not None:
            return kept
    from app.services.segments import unindexed  # (segments imports this module)

    p = PosTransaction
    return (
        select(
            p.member_id.label("member_id"),
            func.count().label("purchases"),
            func.sum(p.amount_kopecks).label("spend"),
        )
        # On SQLite the window is checked while walking ix_pos_transaction_sales
        # in member order: with statistics on the time index (for the year
        # totals' short ranges) it chose that index for a 90-day window, 2.77 s
        # against 2.21 s at 1M.
        .where(
            *_sales(program, None),
            unindexed(p.created_at) >= now - timedelta(days=days),
        )
        .group_by(p.member_id)
        .subquery("window")
    )


def _aggregate_rule(
    name: str, args: Any, program: Program, now: datetime
) -> ColumnElement[bool]:
    """The member's spend, purchase count or average purchase in the window
    within [min, max] (roubles for money)."""
    args = _object(args, name, {"days", "min", "max"})
    low, high = _range(args, name)
    w = window_totals(program, now, _days(args, name, 365))
    n, spend = w.c.purchases, w.c.spend

    def sides(value: float) -> tuple[ColumnElement[Any], ColumnElement[Any] | float]:
        """What is compared with the rule's bound, and the bound in its unit
        (kopecks; avg_check as spend against bound x count, no division)."""
        if name == "purchases":
            return n, value
        if name == "spend":
            return spend, value * 100
        return spend, value * 100 * n

    def at_least(value: float) -> ColumnElement[bool]:
        measure, bound = sides(value)
        return measure >= bound

    def above(value: float) -> ColumnElement[bool]:
        measure, bound = sides(value)
        return measure > bound

    if low > 0 or name == "avg_check":
        wanted = [at_least(low)]
        if high is not None:
            wanted.append(not_(above(high)))
        return Member.id.in_(select(w.c.member_id).where(*wanted))
    # min 0: members with no purchase in the window match too.
    if high is None:
        return true()
    # NOT EXISTS, not NOT IN: PostgreSQL plans NOT IN over a subquery bigger
    # than work_mem as a re-scan per member (minutes at 1M), and NOT EXISTS as
    # one hash anti-join.
    return ~exists().where(w.c.member_id == Member.id, above(high))


def _last_store(args: Any, program: Program) -> ColumnElement[bool]:
    args = _object(args, "last_store", {"stores"})
    ids = args.get("stores")
    if (
        not isinstance(ids, list)
        or not 0 < len(ids) <= 100
        or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids)
    ):
        raise _invalid("last_store.stores must be a list of 1-100 store ids")
    known = set(
        db.session.scalars(
            select(Store.id).where(Store.program_id == program.id, Store.id.in_(ids))
        )
    )
    missing = [i for i in ids if i not in known]
    if missing:
        raise _invalid(f"last_store.stores: unknown store(s): {missing}")
    # The store of the member's latest purchase (highest id), kept per member
    # (services.purchase_totals): one row per member, not every purchase.
    return Member.id.in_(
        select(MemberPurchaseTotal.member_id).where(
            MemberPurchaseTotal.program_id == program.id,
            MemberPurchaseTotal.last_store_id.in_(ids),
        )
    )


def _points(args: Any) -> ColumnElement[bool]:
    args = _object(args, "points", {"min", "max"})
    low, high = _range(args, "points")
    parts = [Member.points >= low]
    if high is not None:
        parts.append(Member.points <= high)
    return and_(*parts)


def _membership(args: Any, program: Program, now: datetime) -> ColumnElement[bool]:
    """Active paid membership of the named plans ("any": of any), or "none"."""
    from app.models import MembershipPlan

    active = and_(
        Member.membership_plan_id.is_not(None), Member.membership_ends_at > now
    )
    if args == "none":
        return not_(active)
    if args == "any":
        return active
    codes = [args] if isinstance(args, str) else args
    if (
        not isinstance(codes, list)
        or not codes
        or not all(isinstance(c, str) for c in codes)
    ):
        raise _invalid('membership takes a plan code, a list of them, "any" or "none"')
    rows = db.session.execute(
        select(MembershipPlan.code, MembershipPlan.id).where(
            MembershipPlan.program_id == program.id
        )
    )
    known = {code: plan_id for code, plan_id in rows}
    unknown = sorted(set(codes) - set(known))
    if unknown:
        raise _invalid(f"membership: no plan {', '.join(unknown)}")
    return and_(active, Member.membership_plan_id.in_([known[c] for c in codes]))


def _holdout_of(args: Any, program: Program, now: datetime) -> ColumnElement[bool]:
    args = _object(args, "holdout_of", {"campaign", "automation", "days"})
    if ("campaign" in args) == ("automation" in args):
        raise _invalid("holdout_of takes a campaign id or an automation name")
    held = select(Assignment.member_id).where(
        Assignment.program_id == program.id, Assignment.grp == CONTROL
    )
    if "campaign" in args:
        campaign_id = args["campaign"]
        if isinstance(campaign_id, bool) or not isinstance(campaign_id, int):
            raise _invalid("holdout_of.campaign must be a campaign id")
        campaign = db.session.get(Campaign, campaign_id)
        if campaign is None or campaign.program_id != program.id:
            raise _invalid(f"holdout_of.campaign: no campaign {campaign_id}")
        return Member.id.in_(held.where(Assignment.campaign_id == campaign_id))
    name = args["automation"]
    if name not in AUTOMATIONS:
        raise _invalid(f"holdout_of.automation must be one of {', '.join(AUTOMATIONS)}")
    since = now - timedelta(days=_days(args, "holdout_of", 90))
    return Member.id.in_(
        held.where(Assignment.automation == name, Assignment.created_at >= since)
    )


def _rfm(args: Any, program: Program, now: datetime) -> ColumnElement[bool]:
    if args not in RFM_CUTOFFS:
        raise _invalid(f"rfm must be one of {', '.join(RFM_CUTOFFS)}")
    if args in ("at_risk", "lost"):
        # Recency and the lifetime count only: from the per-member totals
        # (services.purchase_totals), one row per member.
        t = MemberPurchaseTotal
        since = {
            "at_risk": and_(
                t.last_at < now - timedelta(days=90),
                t.last_at >= now - timedelta(days=180),
                t.purchases >= 2,
            ),
            "lost": t.last_at < now - timedelta(days=180),
        }[args]
        return Member.id.in_(
            select(t.member_id).where(t.program_id == program.id, since)
        )
    # Champions and loyal: recency (the per-member totals) and the year's
    # purchase count (`window_totals`); both need 3+ purchases in the year.
    w = window_totals(program, now, 365)
    t = MemberPurchaseTotal
    recent, last = w.c.purchases, t.last_at
    champions = and_(last >= now - timedelta(days=30), recent >= 5)
    chosen = champions
    if args == "loyal":
        chosen = and_(last >= now - timedelta(days=90), recent >= 3, not_(champions))
    return Member.id.in_(
        select(w.c.member_id).join(t, t.member_id == w.c.member_id).where(chosen)
    )


def compile_behaviour(
    name: str,
    args: Any,
    program: Program,
    now: datetime,
    nested: Callable[[Any], ColumnElement[bool]],
) -> ColumnElement[bool] | None:
    """The rule `name` if it is a behaviour rule, else None; `nested` compiles
    a definition one level deeper (a saved segment's)."""
    if name == "saved":
        return nested(saved_segment(program, args).definition)
    if name in ("spend", "purchases", "avg_check"):
        return _aggregate_rule(name, args, program, now)
    if name == "last_store":
        return _last_store(args, program)
    if name == "points":
        return _points(args)
    if name == "membership":
        return _membership(args, program, now)
    if name == "holdout_of":
        return _holdout_of(args, program, now)
    if name == "rfm":
        return _rfm(args, program, now)
    if name == "offer_redeemed":
        return _offer_redeemed(args, program, now)
    return None


def _offer_redeemed(args: Any, program: Program, now: datetime) -> ColumnElement[bool]:
    from app.services.offers import redeemed_clause  # (offers imports segments' users)

    args = _object(args, "offer_redeemed", {"offer", "days"})
    since = now - timedelta(days=_days(args, "offer_redeemed", 365))
    where = [
        MemberOffer.program_id == program.id,
        redeemed_clause(),
        MemberOffer.redeemed_at >= since,
    ]
    if "offer" in args:
        offer_id = args["offer"]
        if not is_id(offer_id):
            raise _invalid("offer_redeemed.offer must be an offer id")
        offer = db.session.get(Offer, offer_id)
        if offer is None or offer.program_id != program.id:
            raise _invalid(f"offer_redeemed.offer: no offer {offer_id}")
        where.append(MemberOffer.offer_id == offer_id)
    return Member.id.in_(select(MemberOffer.member_id).where(*where))


# -- saved segments ----------------------------------------------------------------
MAX_NAME = 120
MAX_SAVED = 200  # per program


def saved_segment(program: Program, segment_id: Any) -> SavedSegment:
    if isinstance(segment_id, bool) or not isinstance(segment_id, int):
        raise _invalid("saved takes a saved segment's id")
    saved = db.session.get(SavedSegment, segment_id)
    if saved is None or saved.program_id != program.id:
        raise _invalid(f"saved: no saved segment {segment_id}")
    return saved


def get_saved(program: Program, segment_id: int) -> SavedSegment:
    saved = db.session.get(SavedSegment, segment_id)
    if saved is None or saved.program_id != program.id:
        raise NotFound("not_found", "No such saved segment.")
    return saved


def _saved_fields(
    program: Program, body: Any, saved: SavedSegment | None
) -> tuple[str, Any]:
    from app.services import segments  # (segments imports this module)

    if not isinstance(body, dict) or set(body) - {"name", "segment", "program_id"}:
        raise Invalid(
            "invalid_saved_segment", 'the body must be {"name": ..., "segment": {...}}'
        )
    name = body.get("name", saved.name if saved else None)
    if not isinstance(name, str) or not 0 < len(name.strip()) <= MAX_NAME:
        raise Invalid("invalid_saved_segment", f"name must be 1-{MAX_NAME} characters")
    if "segment" not in body and saved is None:
        raise Invalid("invalid_saved_segment", "segment is required")
    definition = body.get("segment", saved.definition if saved else None)
    segments.validate(program, definition)
    if saved is not None and _names(program, definition, saved.id, 0):
        raise _invalid("a saved segment cannot include itself")
    clash = db.session.scalar(
        select(SavedSegment.id).where(
            SavedSegment.program_id == program.id,
            SavedSegment.name == name.strip(),
            SavedSegment.id != (saved.id if saved else 0),
        )
    )
    if clash is not None:
        raise Conflict("name_taken", "A saved segment has that name already.")
    return name.strip(), definition


def create_saved(program: Program, body: Any) -> SavedSegment:
    """A new saved segment (its definition must compile). Caller commits."""
    count = db.session.scalar(
        select(func.count()).where(SavedSegment.program_id == program.id)
    )
    if (count or 0) >= MAX_SAVED:
        raise Conflict("too_many_saved_segments", f"At most {MAX_SAVED} per program.")
    name, definition = _saved_fields(program, body, None)
    saved = SavedSegment(program_id=program.id, name=name, definition=definition)
    db.session.add(saved)
    db.session.flush()
    return saved


def update_saved(program: Program, saved: SavedSegment, body: Any) -> None:
    saved.name, saved.definition = _saved_fields(program, body, saved)
    saved.updated_at = utcnow()


def _names(program: Program, definition: Any, target: int, depth: int) -> bool:
    """Whether `definition` includes the saved segment `target`, directly or
    through other saved segments."""
    if depth > 8:
        return True
    if isinstance(definition, list):
        return any(_names(program, d, target, depth) for d in definition)
    if not isinstance(definition, dict):
        return False
    for name, args in definition.items():
        if name == "saved":
            if args == target:
                return True
            inner = (
                db.session.get(SavedSegment, args) if isinstance(args, int) else None
            )
            if inner is not None and _names(
                program, inner.definition, target, depth + 1
            ):
                return True
        elif _names(program, args, target, depth):
            return True
    return False


def _users(program: Program, saved: SavedSegment) -> list[int]:
    """Unfinished campaigns whose segment names this saved segment."""

    def names(definition: Any) -> bool:
        if isinstance(definition, dict):
            if definition.get("saved") == saved.id:
                return True
            return any(names(v) for v in definition.values())
        if isinstance(definition, list):
            return any(names(v) for v in definition)
        return False

    unfinished = db.session.scalars(
        select(Campaign).where(
            Campaign.program_id == program.id,
            Campaign.state.not_in((DONE, CANCELLED)),
        )
    )
    return [c.id for c in unfinished if names(c.segment)]


def delete_saved(program: Program, saved: SavedSegment) -> None:
    """Refused while an unfinished campaign uses it (its sending would fail)."""
    users = _users(program, saved)
    if users:
        raise Conflict(
            "saved_segment_in_use",
            f"Campaign(s) {', '.join(map(str, users))} use this segment.",
        )
    db.session.delete(saved)


def saved_view(saved: SavedSegment) -> dict[str, Any]:
    return {
        "id": saved.id,
        "name": saved.name,
        "segment": saved.definition,
        "created_at": saved.created_at.isoformat(),
        "updated_at": saved.updated_at.isoformat(),
    }


def saved_listing(program: Program) -> list[SavedSegment]:
    return list(
        db.session.scalars(
            select(SavedSegment)
            .where(SavedSegment.program_id == program.id)
            .order_by(SavedSegment.name)
        )
    )
