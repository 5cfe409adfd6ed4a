"""Refunds at the till: a purchase's points reversed exactly once.

- A refund is made in the store of the purchase. It reverses the purchase's
  earned and redeemed points exactly once; asking again answers the same body.
- The balance may go below zero when the earned points were already spent (the
  ledger keeps the debt visible).
- A purchase of a card closed since (erased member, voided pass) is not refunded
  in points (`card_closed`): the balance was forfeited when the card closed, and
  a refund must not start a new one. The money side is the till's business.
- Offers the purchase redeemed are usable again if they have not expired.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from app.extensions import db
from app.ids import MAX_ID
from app.models import PosTransaction
from app.models.base import utcnow
from app.services import audit, cards, ledger, offers, online, webhooks
from app.services import stamps as stamp_cards
from app.services.auth import Principal
from app.services.errors import Forbidden, NotFound
from app.services.loyalty import tier_view


def get_transaction(api_key: Principal, transaction_id: int) -> PosTransaction:
    """The key's store's purchase: NotFound, or Forbidden for another store's."""
    # The route accepts any digits; larger ids cannot exist, and would overflow
    # the column type or the driver (a 500 the API fuzzer found).
    transaction = None
    if 0 < transaction_id <= MAX_ID:
        transaction = db.session.get(PosTransaction, transaction_id)
    if transaction is None:
        raise NotFound("unknown_transaction", "No such transaction.")
    if transaction.store_id != online.store_id_for(api_key):
        raise Forbidden("other_store", "This purchase was made in another store.")
    return transaction


class Refunded(NamedTuple):
    """The refund's answer, and whether it was a replay of an earlier refund."""

    body: dict[str, Any]
    replayed: bool


def refund(api_key: Principal, transaction_id: int) -> Refunded:
    """Reverse a purchase's points once: (body, already refunded). Caller commits."""
    transaction = get_transaction(api_key, transaction_id)
    member = ledger.lock_member(transaction.member_id)
    # Re-read under the member lock: a concurrent refund may have just committed.
    db.session.refresh(transaction)
    if transaction.refunded_at is not None:
        assert transaction.refund_response is not None
        return Refunded(dict(transaction.refund_response), True)
    if cards.is_closed(member):
        raise cards.card_closed()

    now = utcnow()
    fields: dict[str, Any] = {
        "store_id": online.store_id_for(api_key),
        "receipt_id": transaction.receipt_id,
        "api_key_id": api_key.id,
        "transaction_id": transaction.id,
        "amount_kopecks": transaction.amount_kopecks,
        "created_at": now,
        "note": "refund",
    }
    # Unique keys: even a bug elsewhere cannot reverse the same purchase twice.
    if transaction.earned:
        ledger.post(
            member,
            "refund",
            -transaction.earned,
            idempotency_key=f"refund:{transaction.id}:earn",
            **fields,
        )
    if transaction.redeemed:
        ledger.post(
            member,
            "refund",
            transaction.redeemed,
            idempotency_key=f"refund:{transaction.id}:redeem",
            **fields,
        )
    # Offers the purchase used come back while still valid.
    restored = offers.restore(transaction.id, now)
    stamped = transaction.stamps
    stamp_cards.take_back(member, transaction)
    transaction.refunded_at = now
    transaction.refund_response = {
        "transaction_id": transaction.id,
        "refunded": True,
        "points_returned": transaction.redeemed,
        "points_withdrawn": transaction.earned,
        "balance": member.points,
        "tier": tier_view(member.program, member.tier),
        "refunded_at": now.isoformat(),
        "offers_restored": restored,
    }
    if stamped:
        transaction.refund_response["stamps"] = member.stamps
    audit.record(
        "pos.refund",
        target=f"pos_transaction:{transaction.id}",
        key=api_key,
        details={"member_id": member.id, "store_id": online.store_id_for(api_key)},
    )
    webhooks.emit(
        member.program_id,
        "purchase.refunded",
        {
            **transaction.refund_response,
            "member_id": member.id,
            "store_id": online.store_id_for(api_key),
            "receipt_id": transaction.receipt_id,
        },
        member_id=member.id,
    )
    ledger.refresh_member_pass(member)
    return Refunded(dict(transaction.refund_response), False)
