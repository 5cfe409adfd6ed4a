"""What a paid membership does to a purchase and a pass (services.memberships
sells them): kept apart so that services.passes can import it without a cycle."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

import passes
from app.extensions import db
from app.i18n import date_text
from app.models import Member, MembershipPlan, MembershipSale, Program
from app.models.base import utcnow
from app.models.membership import CHANGE


def is_active(plan_id: int | None, ends_at: datetime | None, now: datetime) -> bool:
    return plan_id is not None and ends_at is not None and ends_at > now


def earn_bonus(plan_id: int | None, ends_at: datetime | None, now: datetime) -> int:
    """The earn-rate bonus (percent) of a membership active at `now`, else 0
    (no query for members without one: the purchase's fast path)."""
    if not is_active(plan_id, ends_at, now):
        return 0
    plan = db.session.get(MembershipPlan, plan_id)
    return plan.earn_bonus_percent if plan is not None else 0


def pass_membership(
    program: Program,
    plan_id: int | None,
    ends_at: datetime | None,
    language: str,
) -> passes.Membership | None:
    """What the pass shows of the member's membership: the plan's name, its last
    day (in the program's time zone) and the perks. The pass shows the stored
    membership (not the clock): the expiry job clears it and refreshes."""
    if plan_id is None or ends_at is None:
        return None
    plan = db.session.get(MembershipPlan, plan_id)
    if plan is None:
        return None
    last = ends_at.astimezone(ZoneInfo(program.timezone)).date()
    return passes.Membership(
        title=passes.pick(plan.name, language),
        until=date_text(last, language),
        perks=tuple(passes.pick(p, language) for p in plan.perks),
    )


def member_view(member: Member, now: datetime | None = None) -> dict[str, Any] | None:
    """The member's membership for the API and the card page, or None."""
    now = now or utcnow()
    if not is_active(member.membership_plan_id, member.membership_ends_at, now):
        return None
    assert member.membership_ends_at is not None
    plan = db.session.get(MembershipPlan, member.membership_plan_id)
    if plan is None:
        return None
    return {
        "plan": {"code": plan.code, "name": dict(plan.name)},
        "ends_at": member.membership_ends_at.isoformat(),
        "earn_bonus_percent": plan.earn_bonus_percent,
        "perks": [dict(p) for p in plan.perks],
        # Taken off another plan's price if the member changes to it.
        "credit": f"{Decimal(unused_value(member.id, now)) / 100:.2f}",
    }


DAY = timedelta(days=1)


def unused_value(member_id: int, now: datetime) -> int:
    """What is left of the member's paid periods at `now`, in kopecks: every
    unrefunded sale since the latest change (a change took over what came before)
    counts its value, the fee plus any credit it carried, by `unused_part`.
    Rounded down to a kopeck."""
    sales = list(
        db.session.scalars(
            select(MembershipSale)
            .where(
                MembershipSale.member_id == member_id,
                MembershipSale.refunded_at.is_(None),
            )
            .order_by(MembershipSale.id)
        )
    )
    since = max((s.id for s in sales if s.kind == CHANGE), default=0)
    left = Decimal(0)
    for sale in sales:
        if sale.id < since:
            continue
        value = sale.amount_kopecks + (sale.credit_kopecks or 0)
        left += unused_part(sale, value, now)
    return int(left)


def unused_part(sale: MembershipSale, kopecks: int, now: datetime) -> Decimal:
    """`kopecks` pro rata of the days of the sale's period still to come at
    `now`, the day begun counted as unused (whole days: the price the till
    shows after a scan holds for the rest of that day; a period just bought, or
    not begun, is whole). A plan change credits it (`unused_value`), a refund
    pays the fee's part back (`memberships.refund`)."""
    if sale.ends_at <= now:
        return Decimal(0)
    length = (sale.ends_at - sale.starts_at).total_seconds()
    days = -(-(sale.ends_at - max(sale.starts_at, now)) // DAY)  # rounded up
    still = min(days * 86400.0, length)
    return Decimal(kopecks) * Decimal(still) / Decimal(length)
