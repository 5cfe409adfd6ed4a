"""Stamp cards («6-й кофе в подарок»): a qualifying purchase adds a stamp; at the
program's N stamps the member gets the reward offer and the card restarts.

- Settings live in `program.rules["stamps"]`: enabled, target (N), min_amount
  (kopecks; 0 = any amount) and reward_offer_id. A purchase qualifies when its
  amount reaches min_amount (min_amount > 0) or the till flags it
  `"qualifying": true`.
- The stamp is written in the purchase's transaction (the purchase's
  idempotency covers it): `pos_transaction.stamps` records it and
  `member.stamps` holds the current card. Programs without stamp cards skip
  all of it (`step` answers None from the rules already loaded).
- The reward is an offer instance with source `stamps:<transaction id>`, so a
  purchase rewards at most once. A refund takes the stamp back; when its stamp
  completed a card, an unused reward is cancelled and the card goes back to
  N - 1 (a used reward stays used, the card stays restarted).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from app.extensions import db
from app.models import Member, MemberOffer, PosTransaction, Program
from app.models.offer import CANCELLED, ISSUED
from app.services import audit, checks
from app.services.audit import Actor

MAX_TARGET = 20
SOURCE_KIND = "stamps"
FIELDS = ("enabled", "target", "min_amount", "reward_offer_id")


def settings(program: Program) -> dict[str, Any] | None:
    """The program's stamp card settings when it runs one, else None."""
    value = (program.rules or {}).get("stamps")
    if not isinstance(value, dict) or not value.get("enabled"):
        return None
    return value


def target(program: Program) -> int:
    """N stamps for the reward; 0 when the program runs no stamp card."""
    current = settings(program)
    return int(current["target"]) if current else 0


@dataclass(frozen=True)
class Step:
    """What one purchase does to the card: the count after it and whether it
    completed the card (then the count restarted at 0)."""

    count: int
    rewarded: bool
    target: int
    offer_id: int | None


def step(
    program: Program, stamps: int, amount_kopecks: int, qualifying: bool
) -> Step | None:
    """None when the purchase adds no stamp (the fast path)."""
    current = settings(program)
    if current is None:
        return None
    minimum = int(current.get("min_amount") or 0)
    if not (qualifying or (minimum > 0 and amount_kopecks >= minimum)):
        return None
    n = int(current["target"])
    count = stamps + 1
    if count >= n:
        return Step(0, True, n, current.get("reward_offer_id"))
    return Step(count, False, n, current.get("reward_offer_id"))


def record(
    member_id: int, transaction_id: int, result: Step, now: datetime
) -> int | None:
    """Write the card's new count after a purchase (under the member's row lock;
    the purchase row itself says it stamped); issue the reward when the purchase
    completed the card: the instance's id, else None."""
    db.session.execute(
        update(Member).where(Member.id == member_id).values(stamps=result.count)
    )
    if not result.rewarded or result.offer_id is None:
        return None
    from app.services import offers  # offers -> passes -> stamps: import late

    offer = db.session.get(offers.Offer, result.offer_id)
    if offer is None or offer.archived_at is not None:
        return None  # the marketer archived the reward: the card still restarts
    offers.issue_each(
        offer,
        {member_id: f"stamps:{transaction_id}"},
        source_kind=SOURCE_KIND,
        source_ref=str(transaction_id),
        now=now,
    )
    return db.session.scalar(
        select(MemberOffer.id).where(
            MemberOffer.member_id == member_id,
            MemberOffer.source == f"stamps:{transaction_id}",
        )
    )


def take_back(member: Member, transaction: PosTransaction) -> None:
    """A refund takes its purchase's stamp back (the member is locked)."""
    if not transaction.stamps:
        return
    transaction.stamps = 0
    reward = db.session.scalar(
        select(MemberOffer).where(
            MemberOffer.member_id == member.id,
            MemberOffer.source == f"stamps:{transaction.id}",
        )
    )
    n = target(member.program)
    if reward is not None:
        if reward.status == ISSUED:
            reward.status = CANCELLED
            member.stamps = max(0, n - 1)
            db.session.flush()  # the pass refresh reads the member's offers
        return
    member.stamps = max(0, member.stamps - 1)


# -- settings for marketers -------------------------------------------------------


def view(program: Program) -> dict[str, Any]:
    value = (program.rules or {}).get("stamps") or {}
    return {
        "enabled": bool(value.get("enabled")),
        "target": int(value.get("target") or 6),
        "min_amount": f"{int(value.get('min_amount') or 0) / 100:.2f}",
        "reward_offer_id": value.get("reward_offer_id"),
    }


def update_settings(
    program: Program, body: dict[str, Any], key: Actor | None
) -> dict[str, Any]:
    """Change the stamp card (a partial body); every pass is refreshed when
    what they show changes. The caller commits."""
    checks.known_keys(body, FIELDS, code="invalid_stamps")
    old = view(program)
    current = dict(old)
    if "enabled" in body:
        current["enabled"] = checks.flag(body["enabled"], "enabled", "invalid_stamps")
    if "target" in body:
        current["target"] = checks.whole(
            body["target"], "target", 2, MAX_TARGET, "invalid_stamps"
        )
    stored_before = (program.rules or {}).get("stamps") or {}
    min_kopecks = int(stored_before.get("min_amount") or 0)
    if "min_amount" in body:
        amount = checks.money(body["min_amount"], "min_amount", "invalid_stamps")
        min_kopecks = int(amount * 100)
    if "reward_offer_id" in body:
        current["reward_offer_id"] = body["reward_offer_id"]
    if current["enabled"] and current["reward_offer_id"] is None:
        checks.fail("invalid_stamps", "reward_offer_id: the reward offer is needed")
    if current["reward_offer_id"] is not None:
        from app.services import offers

        offer = offers.get_offer(program.id, current["reward_offer_id"])
        current["reward_offer_id"] = offer.id
    stored = {
        "enabled": current["enabled"],
        "target": current["target"],
        "min_amount": min_kopecks,
        "reward_offer_id": current["reward_offer_id"],
    }
    shown_before = target(program)
    program.rules = {**(program.rules or {}), "stamps": stored}
    refresh = None
    if target(program) != shown_before:
        from app.services import stores

        db.session.flush()
        refresh = stores.refresh_view(stores.queue_refresh(program))
    audit.record(
        "program.stamps",
        target=f"program:{program.id}",
        program_id=program.id,
        key=key,
        details=stored,
    )
    return {**view(program), "refresh": refresh}


def stats(program_id: int) -> dict[str, int]:
    """Stamps given (not taken back), rewards issued, members holding stamps."""
    given = db.session.scalar(
        select(func.coalesce(func.sum(PosTransaction.stamps), 0)).where(
            PosTransaction.program_id == program_id
        )
    )
    rewards = db.session.scalar(
        select(func.count(MemberOffer.id)).where(
            MemberOffer.program_id == program_id,
            MemberOffer.source_kind == SOURCE_KIND,
            MemberOffer.status != CANCELLED,
        )
    )
    collecting = db.session.scalar(
        select(func.count(Member.id)).where(
            Member.program_id == program_id, Member.stamps > 0
        )
    )
    return {
        "stamps_given": int(given or 0),
        "rewards_issued": int(rewards or 0),
        "members_collecting": int(collecting or 0),
    }
