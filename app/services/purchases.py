"""Purchases at the till: the request checked, then recorded once per
Idempotency-Key (earn and redeem points by the loyalty rules, maybe a tier up).

- Money is handled as integer kopecks (parsed with Decimal, never float).
- Redeeming needs the scanned barcode (its MAC proves the card is present), not a
  typed number; points pay at most `loyalty.max_redeem` and never more than the
  balance.
- Earning uses the tier held before the purchase (`loyalty.earned_points`); the
  purchase then counts toward the rolling 12-month spend, and the member moves up
  to the highest tier it reaches. Tiers never move down here (`loyalty.retier`
  does that after a tiers change). The purchase stores what it earned, so a
  refund withdraws exactly that whatever the rules are by then.
- A closed card (erased member, voided pass) is refused (`card_closed`).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import current_app
from sqlalchemy import and_, bindparam, exists, literal, select
from sqlalchemy.exc import IntegrityError

import passes
from app.extensions import db
from app.models import Member, MemberOffer, Pass, PosTransaction
from app.models.base import utcnow
from app.services import (
    cards,
    checks,
    feedback,
    loyalty,
    membership_rules,
    offers,
    online,
    referrals,
    webhooks,
)
from app.services import passes as pass_service
from app.services import stamps as stamp_cards
from app.services.auth import Principal
from app.services.errors import Forbidden, Invalid, Malformed
from app.services.purchase_writes import Movement, write_purchase

CURRENCIES = ("RUB",)
MAX_AMOUNT_KOPECKS = 100_000_000 * 100  # a hundred million roubles per receipt
MAX_REDEEM_POINTS = 10**12  # far above any balance; bounded for the database
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{8,100}$")


# -- the request --------------------------------------------------------------


@dataclass(frozen=True)
class Purchase:
    """A validated purchase request."""

    code: str
    amount_kopecks: int
    receipt_id: str
    redeem_points: int
    currency: str
    # Offer instances (services.offers) the member redeems with this purchase.
    offer_ids: tuple[int, ...] = ()
    # The till says the receipt has a stamp card item (services.stamps).
    qualifying: bool = False

    def fingerprint(self) -> str:
        fields: list[Any] = [
            self.code,
            self.amount_kopecks,
            self.receipt_id,
            self.redeem_points,
            self.currency,
        ]
        if self.offer_ids:  # (purchases without offers keep their old prints)
            fields.append(list(self.offer_ids))
        if self.qualifying:  # (likewise)
            fields.append("qualifying")
        canonical = json.dumps(fields)
        return hashlib.sha256(canonical.encode()).hexdigest()


def parse_amount(value: object) -> int:
    """Roubles (JSON number or string, at most 2 decimals) -> kopecks."""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise Invalid(
            "invalid_amount", "amount must be a number of roubles, e.g. 1499.90"
        )
    try:
        amount = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        raise Invalid(
            "invalid_amount", "amount must be a number, e.g. 1499.90"
        ) from None
    if not amount.is_finite() or amount <= 0:
        raise Invalid("invalid_amount", "amount must be greater than zero")
    if amount > Decimal(MAX_AMOUNT_KOPECKS) / 100:  # before "1e999999" * 100 overflows
        raise Invalid("invalid_amount", "amount is too large")
    kopecks = amount * 100
    if kopecks != kopecks.to_integral_value() or not kopecks:  # "1e-9999999" -> 0
        raise Invalid("invalid_amount", "amount may have at most 2 decimal places")
    return int(kopecks)


def parse_purchase(body: object) -> Purchase:
    """Validate a purchase body; Invalid naming the first bad field."""
    if not isinstance(body, dict):
        raise Invalid("invalid_body", "The body must be a JSON object.")
    code = body.get("code")
    if not isinstance(code, str) or not code.strip() or len(code) > 100:
        raise Invalid(
            "invalid_code", "code (the scanned barcode or card number) is required"
        )
    amount_kopecks = parse_amount(body.get("amount"))
    receipt_id = body.get("receipt_id")
    if isinstance(receipt_id, int) and not isinstance(receipt_id, bool):
        receipt_id = str(receipt_id)
    # No control characters (NUL above all: PostgreSQL refuses it).
    receipt_id = checks.text(receipt_id, "receipt_id", "invalid_receipt_id", longest=64)
    redeem = body.get("redeem_points")
    redeem = checks.whole(
        0 if redeem is None else redeem,
        "redeem_points",
        0,
        MAX_REDEEM_POINTS,
        "invalid_redeem_points",
    )
    currency = checks.one_of(
        body.get("currency", "RUB"), "currency", CURRENCIES, "unknown_currency"
    )
    qualifying = body.get("qualifying")
    qualifying = checks.flag(
        False if qualifying is None else qualifying, "qualifying", "invalid_qualifying"
    )
    return Purchase(
        code=code.strip(),
        amount_kopecks=amount_kopecks,
        receipt_id=receipt_id,
        redeem_points=redeem,
        currency=currency,
        offer_ids=offers.parse_offer_ids(body.get("offer_ids")),
        qualifying=qualifying,
    )


def check_idempotency_key(value: str | None) -> str:
    if not value or not _IDEMPOTENCY_KEY.match(value):
        raise Malformed(
            "idempotency_key_required",
            "Send an Idempotency-Key header (8-100 printable characters, e.g. a "
            "UUID) and reuse it when retrying.",
        )
    return value


# -- recording ------------------------------------------------------------------


def _replay(
    fingerprint: str, body: dict[str, Any], purchase: Purchase
) -> dict[str, Any]:
    if fingerprint != purchase.fingerprint():
        raise Invalid(
            "idempotency_key_reused",
            "This Idempotency-Key was already used for a different purchase. "
            "Check the recent transactions before trying again.",
        )
    return body


def _find(store_id: int, key: str) -> PosTransaction | None:
    return db.session.scalar(
        select(PosTransaction).where(
            PosTransaction.store_id == store_id,
            PosTransaction.idempotency_key == key,
        )
    )


def transaction_body(transaction: PosTransaction) -> dict[str, Any]:
    return {"transaction_id": transaction.id, **transaction.response}


# The card's member row, locked until commit, with what its pass shows. FOR NO
# KEY UPDATE (`key_share`): the purchase changes no key, so it does not wait for
# a transaction that only writes rows referring to the member (their foreign
# keys take KEY SHARE locks), such as a campaign batch's messages, offers and
# results; it still waits for another purchase or update of the member.
_LOCK_CARD = (
    select(
        Member.id,
        Member.program_id,
        Member.points,
        Member.tier,
        Member.card_number,
        Member.card_token,
        Member.name,
        Member.language,
        Member.offer,
        Member.city,
        Member.preferred_store_id,
        Member.erased_at,
        Member.stamps,
        Member.membership_plan_id,
        Member.membership_ends_at,
        Member.feedback_token,
        Pass.id.label("pass_id"),
        Pass.serial_number,
        Pass.authentication_token,
        Pass.voided,
        Pass.content_hash,
        Pass.updated_at,
        # Whether the pass shows offers (then they are read for its content).
        exists()
        .where(MemberOffer.member_id == Member.id, MemberOffer.status == "issued")
        .label("has_offers"),
    )
    .outerjoin(Pass, Pass.member_id == Member.id)
    .where(Member.card_number == bindparam("number"))
    .with_for_update(of=Member, key_share=True)
)

# Under that lock: an earlier purchase with this Idempotency-Key (its first
# attempt may have committed while we waited) and the member's rolling spend.
_ONE_ROW = select(literal(1).label("one")).subquery()
_PRIOR_AND_SPEND = select(
    PosTransaction.id,
    PosTransaction.fingerprint,
    PosTransaction.response,
    loyalty.rolling_spend(bindparam("member_id")).label("spend"),
).select_from(
    _ONE_ROW.outerjoin(
        PosTransaction,
        and_(
            PosTransaction.store_id == bindparam("store_id"),
            PosTransaction.idempotency_key == bindparam("key"),
        ),
    )
)


def record_purchase(
    api_key: Principal, idempotency_key: str, purchase: Purchase
) -> tuple[dict[str, Any], bool]:
    """Record a purchase once per key: (201 body, replayed). Caller commits.

    The member's row lock serialises tills on one card; under it a retry finds the
    purchase its first attempt committed. The unique (store, key) constraint
    catches the one case the lock cannot: the same key sent for another card.
    """
    assert api_key.program is not None
    program = api_key.program
    store_id = online.store_id_for(api_key)
    number, genuine = cards.card_number(purchase.code)
    if (purchase.redeem_points or purchase.offer_ids) and not genuine:
        cards.resolve_code(program.id, purchase.code)  # 404/403/410 come first
        raise Forbidden(
            "barcode_required",
            "Points and offers can be redeemed only with the scanned barcode, "
            "not a typed card number.",
        )
    connection = db.session.connection()
    card = None
    if number is not None:
        card = connection.execute(_LOCK_CARD, {"number": number}).first()
    if card is None and not genuine:
        # An old plastic card's number (member import) earns like a typed one.
        number = cards.alias_number(program.id, purchase.code)
        if number is not None:
            card = connection.execute(_LOCK_CARD, {"number": number}).first()
    if card is None:
        raise cards.unknown_card()
    if card.program_id != program.id:
        raise cards.other_program()
    now = utcnow()
    prior = connection.execute(
        _PRIOR_AND_SPEND,
        {
            "store_id": store_id,
            "key": idempotency_key,
            "member_id": card.id,
            "since": now - loyalty.SPEND_WINDOW,
        },
    ).one()
    if prior.id is not None:
        # A retry of a purchase made before the card closed still gets its answer.
        body = {"transaction_id": prior.id, **prior.response}
        return _replay(prior.fingerprint, body, purchase), True
    cards.check_open(card.erased_at is not None, card.voided)

    applied = None
    discount = 0
    if purchase.offer_ids:
        applied = offers.apply(
            program.id,
            card.id,
            purchase.offer_ids,
            purchase.amount_kopecks,
            card.language,
            now,
        )
        discount = applied.discount
    receipt = purchase.amount_kopecks - discount  # what is left to pay
    redeem = purchase.redeem_points
    if redeem > card.points:
        raise Invalid(
            "insufficient_points",
            f"Not enough points: the balance is {card.points}.",
        )
    limit = loyalty.max_redeem(program, receipt)
    if redeem > limit:
        raise Invalid(
            "redeem_limit",
            f"At most {limit} points can pay for this receipt "
            f"({loyalty.redeem_share(program) * 100:.0f}% of it).",
        )
    paid = receipt - redeem * loyalty.point_kopecks(program)
    # Earned at the tier held before this purchase; the purchase may lift it.
    # A paid membership active now raises the rate (no query without one).
    bonus = membership_rules.earn_bonus(
        card.membership_plan_id, card.membership_ends_at, now
    )
    earned = loyalty.earned_points(program, card.tier, paid, bonus)
    if applied is not None:
        earned = earned * applied.multiplier + applied.bonus
    tier = card.tier
    reached = loyalty.tier_for_spend(program, prior.spend + purchase.amount_kopecks)
    if loyalty.tier_rank(program, reached) > loyalty.tier_rank(program, tier):
        tier = reached
    balance = card.points - redeem + earned
    # None unless the program runs a stamp card and this purchase qualifies.
    stamp = stamp_cards.step(
        program, card.stamps, purchase.amount_kopecks, purchase.qualifying
    )
    # Likewise None unless the program runs referrals and this may be the
    # referred friend's first qualifying purchase.
    referral = referrals.pending(program, card.id, purchase.amount_kopecks)
    # A rating request's token when this purchase asks for one: a hash of the
    # purchase decides (no read); only a sampled one reads the N-days limit.
    # The pass digest below shows its link.
    ask = feedback.ask_about_purchase(program, card.id, store_id, idempotency_key, now)
    # A reward changes the pass's offers or points too: it is refreshed after.
    refresh_after = referral is not None or (stamp is not None and stamp.rewarded)
    response = {
        "receipt_id": purchase.receipt_id,
        "amount": _roubles(purchase.amount_kopecks),
        "currency": purchase.currency,
        "earned": earned,
        "redeemed": redeem,
        "balance": balance,
        "tier": loyalty.tier_view(program, tier),
        "tier_upgraded": tier != card.tier,
        "card_number": card.card_number,
        "created_at": now.isoformat(),
        # Money after offers and points; the offers this purchase used.
        "discount": _roubles(discount),
        "paid": _roubles(paid),
        "offers_redeemed": applied.redeemed if applied is not None else [],
    }
    if bonus:
        response["membership_bonus_percent"] = bonus
    if stamp is not None:
        response["stamps"] = {
            "count": stamp.count,
            "target": stamp.target,
            "rewarded": stamp.rewarded,
        }
    row = {
        "program_id": program.id,
        "member_id": card.id,
        "store_id": store_id,
        "channel": online.channel(api_key),
        "api_key_id": api_key.id,
        "idempotency_key": idempotency_key,
        "fingerprint": purchase.fingerprint(),
        "receipt_id": purchase.receipt_id,
        "currency": purchase.currency,
        "amount_kopecks": purchase.amount_kopecks,
        "redeemed": redeem,
        "earned": earned,
        "stamps": 1 if stamp is not None else 0,
        "response": response,
        "created_at": now,
    }
    key_base = f"pos:{store_id}:{idempotency_key}"
    movements: list[Movement] = [
        (kind, points, f"{key_base}:{kind}")
        for kind, points in (("redeem", -redeem), ("earn", earned))
        if points
    ]
    details = {
        "member_id": card.id,
        "store_id": store_id,
        "amount_kopecks": purchase.amount_kopecks,
        "earned": earned,
        "redeemed": redeem,
    }
    if applied is not None:
        details.update(offer_ids=list(purchase.offer_ids), discount=discount)
    digest = None
    if card.pass_id is not None and not refresh_after:
        held = pass_service.NO_OFFERS
        if card.has_offers:
            held = pass_service.pass_offers(
                [card.id],
                {card.id: card.language},
                program.timezone,
                now,
                redeeming=purchase.offer_ids,
            ).get(card.id, pass_service.NO_OFFERS)
        # What refresh_member_pass would compute, from the values at hand.
        digest = passes.content_fingerprint(
            pass_service.program_view(program),
            pass_service.member_inputs(
                program=program,
                serial_number=card.serial_number,
                authentication_token=card.authentication_token,
                voided=card.voided,
                card_number=card.card_number,
                card_token=card.card_token,
                name=card.name,
                language=card.language,
                points=balance,
                tier=tier,
                offer=card.offer,
                offers=held,
                stamps=stamp.count if stamp is not None else card.stamps,
                membership=membership_rules.pass_membership(
                    program,
                    card.membership_plan_id,
                    card.membership_ends_at,
                    card.language,
                ),
                feedback_token=ask or card.feedback_token,
            ),
            pass_service.stores_near(program, card.preferred_store_id, card.city),
        )
        if digest == card.content_hash:
            digest = None  # the pass shows nothing new: no tag, no push
    try:
        written = write_purchase(
            connection, api_key, card, row, movements, tier, details, digest
        )
    except IntegrityError:
        # The same key, sent at the same moment for another card, won the race.
        # Nothing of ours is worth keeping (at most a last_used_at stamp), and
        # PostgreSQL refuses further statements in this transaction: start over.
        db.session.rollback()
        existing = _find(store_id, idempotency_key)
        if existing is None:
            raise
        return _replay(existing.fingerprint, transaction_body(existing), purchase), True
    assert written.balance in (None, balance), (written.balance, balance)
    if stamp is not None:
        stamp_cards.record(card.id, written.transaction_id, stamp, now)
    if referral is not None:
        referrals.reward(program, referral, written.transaction_id, now)
    if ask is not None:
        feedback.record_purchase_request(
            program, card.id, store_id, written.transaction_id, ask, now
        )
    if refresh_after and card.pass_id is not None:
        db.session.get(Member, card.id, populate_existing=True)
        pass_row = db.session.get(Pass, card.pass_id, populate_existing=True)
        assert pass_row is not None
        pass_service.refresh_pass(pass_row)
    if applied is not None:
        offers.mark_redeemed(applied, written.transaction_id, now)
        for redeemed in applied.redeemed if api_key.webhooks else ():
            webhooks.emit(
                program.id,
                "offer.redeemed",
                {
                    "transaction_id": written.transaction_id,
                    "member_id": card.id,
                    "store_id": store_id,
                    **redeemed,
                },
                member_id=card.id,
            )
    if not api_key.webhooks:  # (no endpoint: nothing to look up or queue)
        return {"transaction_id": written.transaction_id, **response}, False
    webhooks.emit(
        program.id,
        "purchase.created",
        {
            "transaction_id": written.transaction_id,
            "member_id": card.id,
            "store_id": store_id,
            "channel": online.channel(api_key),
            **{k: v for k, v in response.items() if k != "tier_upgraded"},
        },
        member_id=card.id,
    )
    return {"transaction_id": written.transaction_id, **response}, False


def recent_rate(sample: int = 50) -> float:
    """Purchases per second at the tills lately: `sample` purchases over the time
    since the `sample`-th newest was made (a short walk down the primary key,
    whatever the table's size), counted over at least one second."""
    made = db.session.scalar(
        select(PosTransaction.created_at)
        .order_by(PosTransaction.id.desc())
        .offset(sample - 1)
        .limit(1)
    )
    if made is None:
        return 0.0
    return sample / max((utcnow() - made).total_seconds(), 1.0)


def tills_busy() -> bool:
    """Whether the tills sell TILLS_BUSY purchases/s or more (0: never busy):
    then the scheduler's jobs give way to them."""
    busy_at = float(current_app.config.get("TILLS_BUSY") or 0)
    return busy_at > 0 and recent_rate() >= busy_at


def _roubles(kopecks: int) -> str:
    return f"{Decimal(kopecks) / 100:.2f}"


def recent_transactions(api_key: Principal, limit: int = 20) -> list[dict[str, Any]]:
    """The key's store's latest purchases, newest first, with the customer's
    name as the till shows it on a scan (none once they erased themselves)."""
    rows = db.session.execute(
        select(PosTransaction, Member.name, Member.erased_at)
        .join(Member, Member.id == PosTransaction.member_id)
        .where(PosTransaction.store_id == online.store_id_for(api_key))
        .order_by(PosTransaction.id.desc())
        .limit(limit)
    )
    return [
        {
            **transaction_body(t),
            "refunded": t.refunded_at is not None,
            "member_name": name if erased_at is None else None,
        }
        for t, name, erased_at in rows
    ]
