"""The loyalty rules: what a purchase earns, what points may pay, which tier a
member holds. Pure functions of the program's rules and tiers (plus `retier`,
the set-based re-tiering after a tiers change); purchases, settings and store
refreshes all use these.

- Points pay `point_value` roubles each, at most `max_redeem_share` of a receipt
  (`max_redeem`) and never more than the balance.
- Earned points = paid roubles * tier earn_percent / 100 / point_value, where
  paid = amount - redeemed points' value, rounded to whole points as the
  program's `points_rounding` rule says: down (the default), nearest (halves
  up) or up (`earned_points`).
- A paid membership's earn-rate bonus raises the tier's rate by its percent
  while the membership is active (`earned_points`, `bonus_percent`).
- A member's tier is the highest whose `min_spend` (roubles) their rolling
  12-month spend reaches (`tier_for_spend`; the spend: receipt amounts of
  purchases not refunded, `rolling_spend`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import bindparam, func, select, update

from app.extensions import db
from app.models import Member, PosTransaction, Program

SPEND_WINDOW = timedelta(days=365)

# The program's `points_rounding` rule -> the Decimal rounding of earned points.
ROUNDING = {"down": ROUND_FLOOR, "nearest": ROUND_HALF_UP, "up": ROUND_CEILING}


def earn_percent(program: Program, tier: str) -> Decimal:
    """The tier's earn rate in percent (0 for an unknown tier)."""
    for entry in program.tiers:
        if entry["code"] == tier:
            return Decimal(str(entry.get("earn_percent", 0)))
    return Decimal(0)


def point_kopecks(program: Program) -> int:
    """What one point pays, in kopecks."""
    return int(Decimal(str(program.rule("point_value"))) * 100)


def redeem_share(program: Program) -> Decimal:
    """The share of a receipt points may pay (0..1)."""
    return Decimal(str(program.rule("max_redeem_share")))


def redeem_fraction(program: Program) -> tuple[int, int]:
    """(numerator, denominator): points that may pay for a receipt of K kopecks
    are floor(K * numerator / denominator): the share cap as whole numbers, so
    the till page (pos.js) computes exactly what `max_redeem` does."""
    numerator, denominator = redeem_share(program).as_integer_ratio()
    return numerator, denominator * point_kopecks(program)


def max_redeem(program: Program, amount_kopecks: int) -> int:
    """Points that may pay for a receipt of this amount (the share cap)."""
    numerator, denominator = redeem_fraction(program)
    return max(0, amount_kopecks) * numerator // denominator


def earned_points(
    program: Program, tier: str, paid_kopecks: int, bonus_percent: int = 0
) -> int:
    """paid * earn_percent / 100 / point value, rounded to whole points by the
    program's `points_rounding` rule (down, nearest, up). `bonus_percent`: a paid
    membership's earn-rate bonus, percent more of the tier's rate (5 % earn and
    a 20 % bonus earn 6 %), applied before the one rounding."""
    raw = Decimal(paid_kopecks) * earn_percent(program, tier) / 100
    if bonus_percent:
        raw = raw * (100 + bonus_percent) / 100
    rounding = ROUNDING[program.rule("points_rounding")]
    return int((raw / point_kopecks(program)).to_integral_value(rounding=rounding))


def tier_for_spend(program: Program, spend_kopecks: int) -> str:
    """The highest tier whose min_spend (roubles) the spend reaches."""
    chosen = program.base_tier
    for entry in program.tiers:  # ascending
        if spend_kopecks >= Decimal(str(entry.get("min_spend", 0))) * 100:
            chosen = entry["code"]
    return chosen


def tier_rank(program: Program, code: str) -> int:
    """The tier's place in the program's ascending list (-1: unknown)."""
    codes = [entry["code"] for entry in program.tiers]
    return codes.index(code) if code in codes else -1


def tier_view(program: Program, code: str) -> dict[str, Any]:
    return {"code": code, "name": program.tier_names(code)}


def rolling_spend(member_id: Any) -> Any:
    """The spend tiers are reached by (kopecks), as a scalar subquery: receipt
    amounts of the member's purchases since the `since` parameter
    (now - SPEND_WINDOW), not refunded."""
    return (
        select(func.coalesce(func.sum(PosTransaction.amount_kopecks), 0))
        .where(
            PosTransaction.member_id == member_id,
            PosTransaction.created_at >= bindparam("since"),
            PosTransaction.refunded_at.is_(None),
        )
        .scalar_subquery()
    )


# Members read per statement when re-tiering (ids, tiers and spends only).
RETIER_BATCH = 1000


def retier(
    program: Program, after_id: int, upto_id: int | None, now: datetime
) -> list[int]:
    """Give each of the program's members with after_id < id <= upto_id (None:
    no upper bound) the tier their rolling 12-month spend reaches
    (`tier_for_spend`, the purchase's rule), up or down: after a tiers change.

    Set-based: per RETIER_BATCH members one SELECT of (id, tier, spend) rows and
    one UPDATE per (old, new) tier pair; no ORM objects. The UPDATE only moves a
    member still holding the tier read, so a purchase that changed it meanwhile
    (under its row lock) wins. Returns the ids of the members moved; the caller
    refreshes their passes in the same transaction and commits."""
    connection = db.session.connection()
    moved: list[int] = []
    lower = after_id
    while True:
        query = (
            select(Member.id, Member.tier, rolling_spend(Member.id).label("spend"))
            .where(
                Member.program_id == program.id,
                Member.id > lower,
                Member.erased_at.is_(None),
            )
            .order_by(Member.id)
            .limit(RETIER_BATCH)
        )
        if upto_id is not None:
            query = query.where(Member.id <= upto_id)
        rows = connection.execute(query, {"since": now - SPEND_WINDOW}).all()
        changes: dict[tuple[str, str], list[int]] = {}
        for member_id, tier, spend in rows:
            reached = tier_for_spend(program, spend)
            if reached != tier:
                changes.setdefault((tier, reached), []).append(member_id)
        for (old, new), ids in changes.items():
            result = connection.execute(
                update(Member)
                .where(Member.id.in_(ids), Member.tier == old)
                .values(tier=new)
                .returning(Member.id)
            )
            moved.extend(result.scalars())
        if len(rows) < RETIER_BATCH:
            return moved
        lower = rows[-1].id
