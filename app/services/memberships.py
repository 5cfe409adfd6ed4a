"""Paid premium membership: plans a program sells, and the fees members pay.

- A plan (`membership_plan`): code, ru/en name, price, period in days, an
  earn-rate bonus (percent extra points on purchases while active), perk texts
  for the pass's back, an optional welcome offer (issued once per member, on
  their first activation; source `membership:<member id>`).
- A sale (`membership_sale`) is one paid period, recorded like a purchase (the
  fee, store, channel and the Idempotency-Key's answer) but apart from
  purchases: it is revenue from fees, never loyalty spend (no points, no tier).
- The member row holds the current membership (plan, end). A new sale while
  the same plan is active extends it from its current end ("renewal"), else it
  starts now ("new"). Another plan while one is active is a "change": it starts
  now, and the unused value of the current period (each fee pro rata of its
  period still to come) is taken off its price; a credit above the price buys
  a longer period of the cheaper plan.
- Idempotency as for purchases: the member's row lock serialises sales of one
  card, and under it a retry finds the sale its first attempt committed; the
  unique (api key, Idempotency-Key) catches the same key sent for another card.
- A refund (within the sale's period, of the member's latest sale) takes the
  period back: a renewal's end goes back to where it started, a new membership
  ends now, a change's gives back the plan it replaced until that plan's end.
  It pays back the unused part of the fee, pro rata of the days still to come
  (the plan change's credit rule, `unused_part`): all of it for a renewal not
  begun or a period bought today.
  An unused welcome offer it issued is cancelled.
- The end is silent: `expire` clears lapsed memberships and refreshes passes.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, case, exists, func, select
from sqlalchemy.exc import IntegrityError

from app import database
from app.extensions import db
from app.ids import MAX_ID
from app.models import Member, MemberOffer, MembershipPlan, MembershipSale, Program
from app.models.base import utcnow
from app.models.membership import CHANGE, NEW, RENEWAL
from app.models.offer import CANCELLED, ISSUED
from app.services import audit, cards, checks, ledger, online, webhooks
from app.services.audit import Actor
from app.services.errors import Conflict, Forbidden, Invalid, NotFound
from app.services.membership_rules import (
    earn_bonus,
    is_active,
    member_view,
    pass_membership,
    unused_part,
    unused_value,
)
from app.services.scheduler import scheduled

__all__ = [
    "earn_bonus",
    "is_active",
    "member_view",
    "pass_membership",
    "unused_value",
]

FIELDS = (
    "code",
    "name",
    "price",
    "period_days",
    "earn_bonus_percent",
    "perks",
    "welcome_offer_id",
)
CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
MAX_PERIOD_DAYS = 3660
MAX_BONUS_PERCENT = 1000
MAX_PERKS = 10
MAX_PRICE = Decimal(10_000_000)
SOURCE_KIND = "membership"
API = "api"  # the channel of a sale made with a marketer key


# -- plans ------------------------------------------------------------------------


def _roubles(kopecks: int) -> str:
    return f"{Decimal(kopecks) / 100:.2f}"


def plan_view(plan: MembershipPlan) -> dict[str, Any]:
    return {
        "id": plan.id,
        "code": plan.code,
        "name": dict(plan.name),
        "price": _roubles(plan.price_kopecks),
        "currency": "RUB",
        "period_days": plan.period_days,
        "earn_bonus_percent": plan.earn_bonus_percent,
        "perks": [dict(p) for p in plan.perks],
        "welcome_offer_id": plan.welcome_offer_id,
        "archived": plan.archived_at is not None,
        "created_at": plan.created_at.isoformat(),
    }


def list_plans(program_id: int, *, archived: bool = True) -> list[MembershipPlan]:
    query = select(MembershipPlan).where(MembershipPlan.program_id == program_id)
    if not archived:
        query = query.where(MembershipPlan.archived_at.is_(None))
    return list(db.session.scalars(query.order_by(MembershipPlan.id)))


def get_plan(program_id: int, plan_id: int) -> MembershipPlan:
    plan = db.session.get(MembershipPlan, plan_id) if 0 < plan_id <= MAX_ID else None
    if plan is None or plan.program_id != program_id:
        raise NotFound("unknown_plan", "No such membership plan in this program.")
    return plan


def _check(body: dict[str, Any], program: Program, partial: bool) -> dict[str, Any]:
    """The plan fields of a (partial) body, checked; 422 `invalid_plan`."""
    code = "invalid_plan"
    checks.known_keys(body, FIELDS, code=code)
    if not partial:
        missing = [f for f in ("code", "name", "price", "period_days") if f not in body]
        if missing:
            checks.fail(code, f"{', '.join(missing)}: required")
    out: dict[str, Any] = {}
    if "code" in body:
        value = body["code"]
        if not isinstance(value, str) or not CODE.match(value):
            checks.fail(
                code,
                "code: 1-40 lowercase letters, digits, '-' or '_' (e.g. \"club\")",
            )
        out["code"] = value
    if "name" in body:
        out["name"] = checks.localized(
            body["name"], "name", code, longest=60, multiline=False
        )
    if "price" in body:
        price = checks.money(
            body["price"], "price", code, low=Decimal("0.01"), high=MAX_PRICE
        )
        out["price_kopecks"] = int(price * 100)
    if "period_days" in body:
        out["period_days"] = checks.whole(
            body["period_days"], "period_days", 1, MAX_PERIOD_DAYS, code
        )
    if "earn_bonus_percent" in body:
        out["earn_bonus_percent"] = checks.whole(
            body["earn_bonus_percent"], "earn_bonus_percent", 0, MAX_BONUS_PERCENT, code
        )
    if "perks" in body:
        perks = body["perks"]
        if not isinstance(perks, list) or len(perks) > MAX_PERKS:
            checks.fail(
                code, f'perks: a list of at most {MAX_PERKS} {{"ru", "en"}} texts'
            )
        out["perks"] = [
            checks.localized(p, f"perks[{i}]", code, longest=80, multiline=False)
            for i, p in enumerate(perks)
        ]
    if "welcome_offer_id" in body:
        offer_id = body["welcome_offer_id"]
        if offer_id is not None:
            from app.services import offers

            if not checks.is_whole(offer_id, 1, MAX_ID):
                checks.fail(code, "welcome_offer_id: an offer id or null")
            offer_id = offers.get_offer(program.id, offer_id).id
        out["welcome_offer_id"] = offer_id
    return out


def create_plan(
    program: Program, body: dict[str, Any], key: Actor | None
) -> MembershipPlan:
    """A new plan (the caller commits); 409 `plan_exists` for a taken code."""
    fields = _check(body, program, partial=False)
    taken = db.session.scalar(
        select(MembershipPlan.id).where(
            MembershipPlan.program_id == program.id,
            MembershipPlan.code == fields["code"],
        )
    )
    if taken is not None:
        raise Conflict("plan_exists", f"A plan with code {fields['code']} exists.")
    plan = MembershipPlan(program_id=program.id, **fields)
    db.session.add(plan)
    db.session.flush()
    audit.record(
        "membership_plan.create",
        target=f"membership_plan:{plan.id}",
        program_id=program.id,
        key=key,
        details={"code": plan.code, "price_kopecks": plan.price_kopecks},
    )
    return plan


def update_plan(
    program: Program, plan: MembershipPlan, body: dict[str, Any], key: Actor | None
) -> dict[str, Any]:
    """Change a plan (partial; the code stays). Passes of its members follow
    when what they show changed. The caller commits."""
    fields = _check(body, program, partial=True)
    if "code" in fields and fields["code"] != plan.code:
        checks.fail("invalid_plan", "code: a plan's code cannot change")
    shown = (dict(plan.name), list(plan.perks))
    for name, value in fields.items():
        setattr(plan, name, value)
    refresh = None
    if (dict(plan.name), list(plan.perks)) != shown:
        from app.services import stores

        db.session.flush()
        refresh = stores.refresh_view(stores.queue_refresh(program))
    audit.record(
        "membership_plan.update",
        target=f"membership_plan:{plan.id}",
        program_id=program.id,
        key=key,
        details={k: v for k, v in fields.items() if k not in ("name", "perks")},
    )
    return {**plan_view(plan), "refresh": refresh}


def archive_plan(program: Program, plan: MembershipPlan, key: Actor | None) -> None:
    """No more sales of the plan; memberships already bought run to their end."""
    if plan.archived_at is None:
        plan.archived_at = utcnow()
        audit.record(
            "membership_plan.archive",
            target=f"membership_plan:{plan.id}",
            program_id=program.id,
            key=key,
        )


# -- what a membership does -----------------------------------------------------------


# -- sales ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SaleRequest:
    """A checked sale: the card (code or member id) and the plan's code."""

    plan: str
    code: str = ""
    member_id: int = 0

    def fingerprint(self) -> str:
        canonical = json.dumps([self.code, self.member_id, self.plan])
        return hashlib.sha256(canonical.encode()).hexdigest()


def _plan_code(body: dict[str, Any]) -> str:
    plan = body.get("plan")
    if not isinstance(plan, str) or not CODE.match(plan):
        raise Invalid("invalid_plan", "plan (the plan's code) is required")
    return plan


def parse_till_sale(body: dict[str, Any]) -> SaleRequest:
    checks.known_keys(body, ("code", "plan"), code="invalid_body")
    code = body.get("code")
    if not isinstance(code, str) or not code.strip() or len(code) > 100:
        raise Invalid(
            "invalid_code", "code (the scanned barcode or card number) is required"
        )
    return SaleRequest(plan=_plan_code(body), code=code.strip())


def parse_activation(body: dict[str, Any], member_id: int) -> SaleRequest:
    checks.known_keys(body, ("plan",), code="invalid_body")
    return SaleRequest(plan=_plan_code(body), member_id=member_id)


def _prior(api_key_id: int, key: str) -> MembershipSale | None:
    return db.session.scalar(
        select(MembershipSale).where(
            MembershipSale.api_key_id == api_key_id,
            MembershipSale.idempotency_key == key,
        )
    )


def _replay(sale: MembershipSale, request: SaleRequest) -> dict[str, Any]:
    if sale.fingerprint != request.fingerprint():
        raise Invalid(
            "idempotency_key_reused",
            "This Idempotency-Key was already used for a different sale.",
        )
    return {"sale_id": sale.id, **sale.response}


def sell(
    key: Any, program: Program, idempotency_key: str, request: SaleRequest
) -> tuple[dict[str, Any], bool]:
    """Record a sale once per (api key, Idempotency-Key): (201 body, replayed).

    `key`: the authenticated key (id, role, program_id, store_id). A till's or a
    web shop's key names the card by `code`; a marketer key by member id. The
    caller commits."""
    prior = _prior(key.id, idempotency_key)
    if prior is not None:
        return _replay(prior, request), True
    found: Member | None
    if request.code:
        if not request.code.isprintable():
            raise cards.unknown_card()
        found = cards.resolve_code(program.id, request.code).member
    else:
        found = (
            db.session.get(Member, request.member_id)
            if 0 < request.member_id <= MAX_ID
            else None
        )
        if found is None or found.program_id != program.id:
            raise NotFound("unknown_member", "No such member in this program.")
    member = ledger.lock_member(found.id)
    # Under the lock: a concurrent attempt with this key may have just committed.
    prior = _prior(key.id, idempotency_key)
    if prior is not None:
        return _replay(prior, request), True
    if cards.is_closed(member):
        raise cards.card_closed()
    plan = db.session.scalar(
        select(MembershipPlan).where(
            MembershipPlan.program_id == program.id,
            MembershipPlan.code == request.plan,
            MembershipPlan.archived_at.is_(None),
        )
    )
    if plan is None:
        raise Invalid(
            "unknown_plan", f"No plan {request.plan} on sale in this program."
        )
    now = utcnow()
    active = is_active(member.membership_plan_id, member.membership_ends_at, now)
    previous = (member.membership_plan_id, member.membership_ends_at)
    credit: int | None = None
    amount = plan.price_kopecks
    if active and member.membership_plan_id != plan.id:
        kind, starts = CHANGE, now
        credit = unused_value(member.id, now)
        amount = max(0, plan.price_kopecks - credit)
        seconds = plan.period_days * 86400
        if credit > plan.price_kopecks > 0:
            # A cheaper plan: what is left over buys more of it.
            seconds = seconds * credit // plan.price_kopecks
        ends = now + timedelta(seconds=seconds)
    else:
        kind = RENEWAL if active else NEW
        held_until = member.membership_ends_at
        starts = held_until if active and held_until is not None else now
        ends = starts + timedelta(days=plan.period_days)
    if key.role in ("pos", "shop"):
        store_id: int | None = online.store_id_for(key)
        channel = online.channel(key)
    else:
        store_id, channel = None, API
    welcome = False
    response: dict[str, Any] = {
        "member_id": member.id,
        "card_number": member.card_number,
        "plan": {"code": plan.code, "name": dict(plan.name)},
        "kind": kind,
        "amount": _roubles(amount),
        "currency": "RUB",
        "channel": channel,
        "starts_at": starts.isoformat(),
        "ends_at": ends.isoformat(),
        "earn_bonus_percent": plan.earn_bonus_percent,
        "created_at": now.isoformat(),
    }
    if credit is not None:
        response["credit"] = _roubles(credit)
    sale = MembershipSale(
        program_id=program.id,
        member_id=member.id,
        plan_id=plan.id,
        store_id=store_id,
        api_key_id=key.id,
        channel=channel,
        idempotency_key=idempotency_key,
        fingerprint=request.fingerprint(),
        kind=kind,
        amount_kopecks=amount,
        starts_at=starts,
        ends_at=ends,
        response=response,
        credit_kopecks=credit,
        previous_plan_id=previous[0] if kind == CHANGE else None,
        previous_ends_at=previous[1] if kind == CHANGE else None,
        created_at=now,
    )
    try:
        with db.session.begin_nested():
            db.session.add(sale)
            db.session.flush()
    except IntegrityError:
        # The same key, sent at the same moment for another card, won the race.
        db.session.rollback()
        existing = _prior(key.id, idempotency_key)
        if existing is None:
            raise
        return _replay(existing, request), True
    member.membership_plan_id = plan.id
    member.membership_ends_at = ends
    if plan.welcome_offer_id is not None and kind == NEW:
        welcome = _welcome(plan, member.id, sale.id, now)
    db.session.flush()
    response = {
        **response,
        "welcome_offer_issued": welcome,
        # The membership as a scan would now show it (with its credit).
        "membership": member_view(member, now),
    }
    sale.response = response
    audit.record(
        "membership.sale",
        target=f"membership_sale:{sale.id}",
        program_id=program.id,
        key=key,
        details={
            "member_id": member.id,
            "plan": plan.code,
            "kind": kind,
            "amount_kopecks": amount,
            "credit_kopecks": credit,
            "store_id": store_id,
        },
    )
    webhooks.emit(
        program.id,
        "membership.sold",
        {"sale_id": sale.id, "store_id": store_id, **response},
        member_id=member.id,
    )
    db.session.flush()
    ledger.refresh_member_pass(member)
    return {"sale_id": sale.id, **response}, False


def _welcome(plan: MembershipPlan, member_id: int, sale_id: int, now: datetime) -> bool:
    """Issue the plan's welcome offer once per member (the first activation)."""
    from app.services import offers

    offer = db.session.get(offers.Offer, plan.welcome_offer_id)
    if offer is None or offer.archived_at is not None:
        return False
    return bool(
        offers.issue_each(
            offer,
            {member_id: f"membership:{member_id}"},
            source_kind=SOURCE_KIND,
            source_ref=str(sale_id),
            now=now,
        )
    )


def get_sale(key: Any, sale_id: int) -> MembershipSale:
    """The key's store's (or, for a marketer key, program's) sale."""
    sale = db.session.get(MembershipSale, sale_id) if 0 < sale_id <= MAX_ID else None
    if sale is None or sale.program_id != key.program_id:
        raise NotFound("unknown_sale", "No such membership sale.")
    if key.role in ("pos", "shop") and sale.store_id != online.store_id_for(key):
        raise Forbidden("other_store", "This membership was sold in another store.")
    return sale


def refund(key: Any, sale_id: int) -> tuple[dict[str, Any], bool]:
    """Refund a sale within its period: (body, already refunded). The caller
    commits."""
    sale = get_sale(key, sale_id)
    member = ledger.lock_member(sale.member_id)
    db.session.refresh(sale)
    if sale.refunded_at is not None:
        assert sale.refund_response is not None
        return dict(sale.refund_response), True
    now = utcnow()
    if sale.ends_at <= now:
        raise Conflict("refund_period_over", "The period this fee paid for is over.")
    later = db.session.scalar(
        select(
            exists().where(
                MembershipSale.member_id == sale.member_id,
                MembershipSale.id > sale.id,
                MembershipSale.refunded_at.is_(None),
            )
        )
    )
    if later:
        raise Conflict(
            "later_sale",
            "A later renewal or plan change stands on this period: refund it first.",
        )
    if sale.kind == CHANGE:
        # The change undone: the plan it replaced, until that plan's end.
        back = sale.previous_ends_at is not None and sale.previous_ends_at > now
        member.membership_plan_id = sale.previous_plan_id if back else None
        member.membership_ends_at = sale.previous_ends_at if back else None
    elif sale.starts_at > now:
        # A renewal not started yet: the membership ends where it began.
        member.membership_ends_at = sale.starts_at
    else:
        member.membership_plan_id = None
        member.membership_ends_at = None
    cancelled = 0
    for offer in db.session.scalars(
        select(MemberOffer).where(
            MemberOffer.member_id == member.id,
            MemberOffer.source == f"membership:{member.id}",
            MemberOffer.source_ref == str(sale.id),
            MemberOffer.status == ISSUED,
        )
    ):
        offer.status = CANCELLED
        cancelled += 1
    # The unused part of the fee goes back (as a plan change credits it): a
    # period refunded on its last day paid for all but that day.
    back_kopecks = int(unused_part(sale, sale.amount_kopecks, now))
    sale.refunded_at = now
    sale.refund_kopecks = back_kopecks
    sale.refund_response = {
        "sale_id": sale.id,
        "refunded": True,
        "amount": _roubles(back_kopecks),
        "fee": _roubles(sale.amount_kopecks),
        "membership_ends_at": member.membership_ends_at.isoformat()
        if member.membership_ends_at
        else None,
        "welcome_offer_cancelled": bool(cancelled),
        "refunded_at": now.isoformat(),
    }
    audit.record(
        "membership.refund",
        target=f"membership_sale:{sale.id}",
        program_id=sale.program_id,
        key=key,
        details={
            "member_id": member.id,
            "amount_kopecks": back_kopecks,
            "fee_kopecks": sale.amount_kopecks,
        },
    )
    webhooks.emit(
        sale.program_id,
        "membership.refunded",
        {**sale.refund_response, "member_id": member.id, "store_id": sale.store_id},
        member_id=member.id,
    )
    db.session.flush()
    ledger.refresh_member_pass(member)
    return dict(sale.refund_response), False


# -- the end -------------------------------------------------------------------------

EXPIRE_BATCH = 500


def expire(now: datetime | None = None) -> int:
    """Clear memberships whose end has passed and refresh those passes, quietly
    (the pass field changes without a changeMessage). One batch; the caller
    commits and calls again while it answers EXPIRE_BATCH."""
    now = now or utcnow()
    ids = list(
        db.session.scalars(
            select(Member.id)
            .where(
                Member.membership_plan_id.is_not(None),
                Member.membership_ends_at <= now,
            )
            .order_by(Member.id)
            .limit(EXPIRE_BATCH)
        )
    )
    for member_id in ids:
        member = ledger.lock_member(member_id)
        if member.membership_ends_at is None or member.membership_ends_at > now:
            continue  # renewed meanwhile
        member.membership_plan_id = None
        member.membership_ends_at = None
        db.session.flush()
        ledger.refresh_member_pass(member)
    return len(ids)


@scheduled("membership_expiry")
def membership_expiry_job(now: datetime) -> None:
    """End lapsed memberships in batches (one transaction each), silently."""
    while True:
        database.begin_write()  # SQLite: a writer from the start
        seen = expire(now)
        db.session.commit()
        if seen < EXPIRE_BATCH:
            return


# -- stats -----------------------------------------------------------------------------


def stats(program_id: int, since: datetime, until: datetime) -> dict[str, Any]:
    """One definition for the API and /admin, over the window [since, until):

    - active: members holding a membership now (not ended);
    - new / renewed / changed: sales (not refunded) of each kind made in the
      window;
    - lapsed: memberships whose end fell in the window with no renewal (the end
      of the member's latest unrefunded sale, which a renewal or change moves);
    - revenue: fees of the window's sales, less what refunds paid back (the
      unused part of a fee);
    - spend per member vs non-member: purchase amounts (not refunded) in the
      window per active member, and per other member who bought in the window.
    """
    from app.models import PosTransaction

    now = utcnow()
    active = (
        db.session.scalar(
            select(func.count(Member.id)).where(
                Member.program_id == program_id,
                Member.membership_plan_id.is_not(None),
                Member.membership_ends_at > now,
            )
        )
        or 0
    )
    in_window = and_(
        MembershipSale.program_id == program_id,
        MembershipSale.created_at >= since,
        MembershipSale.created_at < until,
        MembershipSale.refunded_at.is_(None),
    )
    counts: dict[str, int] = {
        kind: int(n)
        for kind, n in db.session.execute(
            select(MembershipSale.kind, func.count())
            .where(in_window)
            .group_by(MembershipSale.kind)
        )
    }
    # Fees of the window's sales less what refunds paid back (a refund returns
    # the unused part; NULL on a refunded sale: refunded in full, before that).
    kept = MembershipSale.amount_kopecks - case(
        (MembershipSale.refunded_at.is_(None), 0),
        else_=func.coalesce(
            MembershipSale.refund_kopecks, MembershipSale.amount_kopecks
        ),
    )
    revenue = (
        db.session.scalar(
            select(func.coalesce(func.sum(kept), 0)).where(
                MembershipSale.program_id == program_id,
                MembershipSale.created_at >= since,
                MembershipSale.created_at < until,
            )
        )
        or 0
    )
    # The end of each member's latest unrefunded sale (sales of a card are made
    # one at a time, so the latest holds the membership's end); lapsed when it
    # fell in the window. A change may end before the sales it took over did.
    latest = (
        select(func.max(MembershipSale.id).label("id"))
        .where(
            MembershipSale.program_id == program_id,
            MembershipSale.refunded_at.is_(None),
        )
        .group_by(MembershipSale.member_id)
        .subquery()
    )
    lapsed = (
        db.session.scalar(
            select(func.count())
            .select_from(MembershipSale)
            .join(latest, latest.c.id == MembershipSale.id)
            .where(
                MembershipSale.ends_at >= since,
                MembershipSale.ends_at < until,
                MembershipSale.ends_at <= now,
            )
        )
        or 0
    )
    is_member = and_(
        Member.membership_plan_id.is_not(None), Member.membership_ends_at > now
    )
    spend = db.session.execute(
        select(
            is_member.label("member"),
            func.count(func.distinct(PosTransaction.member_id)),
            func.coalesce(func.sum(PosTransaction.amount_kopecks), 0),
        )
        .join(Member, Member.id == PosTransaction.member_id)
        .where(
            PosTransaction.program_id == program_id,
            PosTransaction.created_at >= since,
            PosTransaction.created_at < until,
            PosTransaction.refunded_at.is_(None),
        )
        .group_by(is_member)
    ).all()
    member_spend = sum(int(total) for flag, _, total in spend if flag)
    other_buyers = sum(int(n) for flag, n, _ in spend if not flag)
    other_spend = sum(int(total) for flag, _, total in spend if not flag)
    return {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "active": int(active),
        "new": int(counts.get(NEW, 0)),
        "renewed": int(counts.get(RENEWAL, 0)),
        "changed": int(counts.get(CHANGE, 0)),
        "lapsed": int(lapsed),
        "revenue": _roubles(int(revenue)),
        "member_spend_avg": _roubles(member_spend // active) if active else "0.00",
        "non_member_spend_avg": _roubles(other_spend // other_buyers)
        if other_buyers
        else "0.00",
    }
