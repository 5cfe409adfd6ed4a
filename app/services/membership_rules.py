"""What a paid membership does to a purchase and a pass (services.memberships
sells them): kept apart so that services.passes can import it without a cycle."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import passes
from app.extensions import db
from app.i18n import date_text
from app.models import Member, MembershipPlan, Program
from app.models.base import utcnow


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
    }
