"""Referrals: each card has a personal share link (`/join?ref=CODE`); a friend
who signs up through it is recorded once, and after the friend's first purchase
over the program's minimum both get the referral reward (points or an offer).

- Settings live in `program.rules["referrals"]`: enabled, min_amount (kopecks),
  reward_points and/or reward_offer_id, monthly_limit (rewarded referrals per
  referrer per calendar month, UTC).
- The code is the member's id and a MAC of it (no column, nothing to guess):
  a forged or another program's code is ignored, as is a closed card's.
- Refused quietly (the friend signs up or buys as usual, nothing is said): a
  self-referral (same member or same phone), a friend referred before, a
  referrer over the monthly limit or whose card closed since.
- A purchase reads the referral only when the program runs referrals and the
  amount reaches the minimum (one lookup by the unique friend id); else nothing.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app import database
from app.extensions import db
from app.models import Member, Program
from app.models.base import utcnow
from app.models.referral import PENDING, REFUSED, REWARDED, Referral, ReferralOpen
from app.services import audit, checks, ledger
from app.services.audit import Actor

FIELDS = ("enabled", "min_amount", "reward_points", "reward_offer_id", "monthly_limit")
MAX_REWARD_POINTS = 100_000
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
_MAC_LENGTH = 8


# -- codes ---------------------------------------------------------------------


def _mac(member_id: int) -> str:
    key = str(current_app.config["SECRET_KEY"]).encode()
    digest = hmac.new(key, f"referral:{member_id}".encode(), hashlib.sha256)
    return digest.hexdigest()[:_MAC_LENGTH]


def code_for(member: Member) -> str:
    """The member's share code: base-36 id + 8 hex of its MAC."""
    number, digits = member.id, ""
    while True:
        number, rest = divmod(number, 36)
        digits = _DIGITS[rest] + digits
        if not number:
            break
    return digits + _mac(member.id)


def resolve(program: Program, code: object) -> Member | None:
    """The referrer a code names in this program (open card), else None."""
    if not isinstance(code, str) or not 9 <= len(code) <= 20:
        return None
    code = code.strip().lower()
    head, mac = code[:-_MAC_LENGTH], code[-_MAC_LENGTH:]
    if not head or any(c not in _DIGITS for c in head):
        return None
    member_id = int(head, 36)
    if member_id > 2**31 - 1 or not hmac.compare_digest(mac, _mac(member_id)):
        return None
    member = db.session.get(Member, member_id)
    if member is None or member.program_id != program.id:
        return None
    if member.erased_at is not None:
        return None
    return member


# -- settings ------------------------------------------------------------------


def settings(program: Program) -> dict[str, Any] | None:
    value = (program.rules or {}).get("referrals")
    if not isinstance(value, dict) or not value.get("enabled"):
        return None
    return value


def view(program: Program) -> dict[str, Any]:
    value = (program.rules or {}).get("referrals") or {}
    return {
        "enabled": bool(value.get("enabled")),
        "min_amount": f"{int(value.get('min_amount') or 0) / 100:.2f}",
        "reward_points": int(value.get("reward_points") or 0),
        "reward_offer_id": value.get("reward_offer_id"),
        "monthly_limit": int(value.get("monthly_limit") or 5),
    }


def update_settings(
    program: Program, body: dict[str, Any], key: Actor | None
) -> dict[str, Any]:
    """Change the referral program (a partial body). The caller commits."""
    checks.known_keys(body, FIELDS, code="invalid_referrals")
    before = (program.rules or {}).get("referrals") or {}
    current = view(program)
    min_kopecks = int(before.get("min_amount") or 0)
    if "enabled" in body:
        current["enabled"] = checks.flag(
            body["enabled"], "enabled", "invalid_referrals"
        )
    if "min_amount" in body:
        amount = checks.money(body["min_amount"], "min_amount", "invalid_referrals")
        min_kopecks = int(amount * 100)
    if "reward_points" in body:
        current["reward_points"] = checks.whole(
            body["reward_points"],
            "reward_points",
            0,
            MAX_REWARD_POINTS,
            "invalid_referrals",
        )
    if "monthly_limit" in body:
        current["monthly_limit"] = checks.whole(
            body["monthly_limit"], "monthly_limit", 1, 100, "invalid_referrals"
        )
    if "reward_offer_id" in body:
        current["reward_offer_id"] = body["reward_offer_id"]
    if current["reward_offer_id"] is not None:
        from app.services import offers

        offer = offers.get_offer(program.id, current["reward_offer_id"])
        current["reward_offer_id"] = offer.id
    if current["enabled"] and not (
        current["reward_points"] or current["reward_offer_id"]
    ):
        checks.fail(
            "invalid_referrals",
            "A referral program needs a reward: reward_points or reward_offer_id.",
        )
    stored = {
        "enabled": current["enabled"],
        "min_amount": min_kopecks,
        "reward_points": current["reward_points"],
        "reward_offer_id": current["reward_offer_id"],
        "monthly_limit": current["monthly_limit"],
    }
    program.rules = {**(program.rules or {}), "referrals": stored}
    audit.record(
        "program.referrals",
        target=f"program:{program.id}",
        program_id=program.id,
        key=key,
        details=stored,
    )
    return view(program)


# -- invites and sign-ups -----------------------------------------------------------


def record_open(referrer: Member, now: datetime | None = None) -> None:
    """Count one opening of the referrer's link (per day, one row)."""
    day = (now or utcnow()).date()
    table = ReferralOpen.__table__
    statement = (
        database.insert(table)
        .values(
            program_id=referrer.program_id, referrer_id=referrer.id, day=day, count=1
        )
        .on_conflict_do_update(
            index_elements=["referrer_id", "day"],
            set_={"count": table.c.count + 1},
        )
    )
    db.session.execute(statement)


def record_signup(program: Program, referrer: Member | None, friend: Member) -> bool:
    """Record that `friend` signed up through `referrer`'s link; False (quietly)
    when the program runs no referrals or the referral does not count."""
    if referrer is None or settings(program) is None:
        return False
    if referrer.id == friend.id or referrer.phone == friend.phone:
        return False
    if referrer.program_id != program.id or referrer.erased_at is not None:
        return False
    try:
        with db.session.begin_nested():
            db.session.add(
                Referral(
                    program_id=program.id,
                    referrer_id=referrer.id,
                    friend_id=friend.id,
                    status=PENDING,
                )
            )
            db.session.flush()
    except IntegrityError:
        return False  # referred before
    return True


# -- the friend's first purchase -------------------------------------------------


def pending(program: Program, friend_id: int, amount_kopecks: int) -> int | None:
    """The friend's pending referral this purchase may reward (its id), else
    None; reads nothing when the program runs no referrals or the amount is
    below the minimum."""
    current = settings(program)
    if current is None or amount_kopecks < int(current.get("min_amount") or 0):
        return None
    return db.session.scalar(
        select(Referral.id).where(
            Referral.friend_id == friend_id, Referral.status == PENDING
        )
    )


def _month_start(now: datetime) -> datetime:
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def reward(
    program: Program, referral_id: int, transaction_id: int, now: datetime
) -> bool:
    """Reward both members for the friend's first qualifying purchase (the
    friend's row is locked by the purchase); refused quietly over the
    referrer's monthly limit or when their card closed. True when rewarded."""
    current = settings(program)
    referral = db.session.execute(
        select(Referral)
        .where(Referral.id == referral_id, Referral.status == PENDING)
        .with_for_update()
    ).scalar_one_or_none()
    if current is None or referral is None:
        return False
    referrer = ledger.lock_member(referral.referrer_id)
    friend = ledger.lock_member(referral.friend_id)
    referral.decided_at = now
    referral.transaction_id = transaction_id
    rewarded = db.session.scalar(
        select(func.count(Referral.id)).where(
            Referral.referrer_id == referrer.id,
            Referral.status == REWARDED,
            Referral.decided_at >= _month_start(now),
        )
    )
    if referrer.erased_at is not None:
        referral.status, referral.reason = REFUSED, "closed"
        return False
    if (rewarded or 0) >= int(current.get("monthly_limit") or 5):
        referral.status, referral.reason = REFUSED, "limit"
        return False
    referral.status = REWARDED
    points = int(current.get("reward_points") or 0)
    if points:
        for member, side in ((friend, "friend"), (referrer, "referrer")):
            ledger.post(
                member,
                "bonus",
                points,
                idempotency_key=f"referral:{referral.id}:{side}",
                note="referral",
                created_at=now,
            )
    offer_id = current.get("reward_offer_id")
    if offer_id is not None:
        from app.services import offers

        offer = db.session.get(offers.Offer, offer_id)
        if offer is not None and offer.archived_at is None:
            offers.issue_each(
                offer,
                {m.id: f"referral:{referral.id}" for m in (friend, referrer)},
                source_kind="referral",
                source_ref=str(referral.id),
                now=now,
            )
    db.session.flush()
    ledger.refresh_member_pass(referrer)
    return True


# -- counts ----------------------------------------------------------------------


def stats(program_id: int) -> dict[str, int]:
    """Invites opened, sign-ups, first purchases (rewarded or refused), rewards
    paid (referrals rewarded: each pays both members)."""
    opened = db.session.scalar(
        select(func.coalesce(func.sum(ReferralOpen.count), 0)).where(
            ReferralOpen.program_id == program_id
        )
    )
    rows: dict[str, int] = {
        status: int(count)
        for status, count in db.session.execute(
            select(Referral.status, func.count(Referral.id))
            .where(Referral.program_id == program_id)
            .group_by(Referral.status)
        ).all()
    }
    return {
        "invites_opened": int(opened or 0),
        "signups": sum(rows.values()),
        "first_purchases": rows.get(REWARDED, 0) + rows.get(REFUSED, 0),
        "rewards_paid": rows.get(REWARDED, 0),
    }
