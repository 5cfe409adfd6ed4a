"""A member's own data: download it, or be erased.

Erasure scrubs every personal field, forfeits the balance (a ledger `forfeit`
entry brings it to 0), voids the pass (devices are told through the usual pass
update; `closed_cards` forgets their registrations and tokens once that went out)
and retires the card token; the member row stays, anonymous, so the points ledger
still adds up for accounting. The till refuses the card from then on
(`card_closed`).
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import delete, func, select, update

from app.extensions import db
from app.models import (
    CardAlias,
    Feedback,
    LedgerEntry,
    Member,
    MemberMessage,
    PosTransaction,
    ProductSubscription,
    Referral,
)
from app.models.base import utcnow
from app.models.catalog import CANCELLED, RESTOCKED, WAITING
from app.services import ledger, outbox, wallet, webhooks
from app.services.passes import pass_for_member, refresh_pass


def _referral_export(member: Member) -> dict[str, Any]:
    joined = db.session.scalar(select(Referral).where(Referral.friend_id == member.id))
    invited = db.session.scalar(
        select(func.count(Referral.id)).where(Referral.referrer_id == member.id)
    )
    return {
        "joined_through_a_friend": joined is not None,
        "friends_signed_up": int(invited or 0),
    }


def _feedback_export(member: Member) -> list[dict[str, Any]]:
    """The member's ratings (feedback): when asked, the score and comment."""
    return [
        {
            "asked_at": row.created_at.isoformat(),
            "kind": row.kind,
            "score": row.score,
            "comment": row.comment,
            "answered_at": row.answered_at.isoformat() if row.answered_at else None,
        }
        for row in db.session.scalars(
            select(Feedback)
            .where(Feedback.member_id == member.id)
            .order_by(Feedback.id)
        )
    ]


def export_member(member: Member) -> dict[str, Any]:
    """Everything we hold about the member, as JSON-ready data."""
    pass_ = pass_for_member(member)
    devices = wallet.device_list(pass_)
    return {
        "program": member.program.name,
        "card_number": member.card_number,
        "name": member.name,
        "phone": member.phone,
        "email": member.email,
        "birthday": member.birthday.isoformat() if member.birthday else None,
        "language": member.language,
        "preferred_store": member.preferred_store.name
        if member.preferred_store
        else None,
        "city": member.city,
        "consent": {
            "version": member.consent_version,
            "given_at": member.consent_at.isoformat(),
        },
        "consents": _consents(member),
        "joined_at": member.created_at.isoformat(),
        "points": member.points,
        "tier": member.program.tier_name(member.tier, member.language),
        "offer": member.offer or None,
        # Loyalty mechanics: the stamp card, and referrals (no other member's data).
        "stamps": member.stamps,
        "referral": _referral_export(member),
        "feedback": _feedback_export(member),
        "back_in_stock": [
            {
                "sku": sub.product.sku,
                "product": sub.product.name.get(member.language)
                or sub.product.name["ru"],
                "size": sub.size,
                "store": sub.store.name if sub.store else None,
                "status": sub.status,
                "subscribed_at": sub.created_at.isoformat(),
            }
            for sub in db.session.scalars(
                select(ProductSubscription)
                .where(ProductSubscription.member_id == member.id)
                .order_by(ProductSubscription.id)
            )
        ],
        "purchases": _purchases(member),
        "points_history": _points_history(member),
        "messages": _messages(member),
        "wallet_pass": None
        if pass_ is None
        else {
            "serial_number": pass_.serial_number,
            "voided": pass_.voided,
            "last_updated": pass_.updated_at.isoformat(),
            "devices": devices,
        },
    }


# -- ux: the rest of «Скачать мои данные» ---------------------------------------------
def _consents(member: Member) -> list[dict[str, Any]]:
    """What the member agreed to, and when; offers switched off is one too."""
    given: list[dict[str, Any]] = [
        {
            "what": "personal_data",
            "version": member.consent_version,
            "at": member.consent_at.isoformat(),
        },
        {
            "what": "marketing_messages",
            "given": member.marketing_off_at is None,
            "withdrawn_at": member.marketing_off_at.isoformat()
            if member.marketing_off_at
            else None,
        },
    ]
    return given


def _purchases(member: Member) -> list[dict[str, Any]]:
    rows = db.session.scalars(
        select(PosTransaction)
        .where(PosTransaction.member_id == member.id)
        .order_by(PosTransaction.id)
    )
    names = {store.id: store.name for store in member.program.stores}
    return [
        {
            "at": row.created_at.isoformat(),
            "store": names.get(row.store_id),
            "receipt_id": row.receipt_id,
            "amount": f"{row.amount_kopecks // 100}.{row.amount_kopecks % 100:02d}",
            "currency": row.currency,
            "points_earned": row.earned,
            "points_redeemed": row.redeemed,
            "refunded_at": row.refunded_at.isoformat() if row.refunded_at else None,
        }
        for row in rows
    ]


def _points_history(member: Member) -> list[dict[str, Any]]:
    rows = db.session.scalars(
        select(LedgerEntry)
        .where(LedgerEntry.member_id == member.id)
        .order_by(LedgerEntry.id)
    )
    return [
        {
            "at": row.created_at.isoformat(),
            "kind": row.kind,
            "points": row.points,
            "receipt_id": row.receipt_id,
            "note": row.note or None,
        }
        for row in rows
    ]


def _messages(member: Member) -> list[dict[str, Any]]:
    rows = db.session.scalars(
        select(MemberMessage)
        .where(MemberMessage.member_id == member.id)
        .order_by(MemberMessage.id)
    )
    return [
        {
            "at": row.created_at.isoformat(),
            "kind": row.kind,
            "header": row.header,
            "text": row.body,
        }
        for row in rows
    ]


def erase_member(member: Member) -> None:
    """Scrub personal data, forfeit the balance, void the pass and retire the card
    token. Caller commits."""
    # First: the lock re-reads the row (a purchase may have just moved it).
    ledger.forfeit(member.id, "erased")
    member.name = ""
    # Unique per program, and never a real number: the phone can sign up afresh.
    member.phone = f"erased:{member.id}"
    member.email = None
    member.birthday = None
    member.city = None
    member.preferred_store = None
    member.offer = ""
    member.card_token = secrets.token_urlsafe(24)
    member.erased_at = utcnow()
    # Nothing is waiting for them any more.
    db.session.execute(
        update(ProductSubscription)
        .where(
            ProductSubscription.member_id == member.id,
            ProductSubscription.status.in_((WAITING, RESTOCKED)),
        )
        .values(status=CANCELLED, cancelled_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    # Their comments are their words; the scores stay in the stats (no person).
    db.session.execute(
        update(Feedback)
        .where(Feedback.member_id == member.id)
        .values(comment="")
        .execution_options(synchronize_session=False)
    )
    member.feedback_token = None
    # The old plastic card number (member import) no longer finds them.
    db.session.execute(delete(CardAlias).where(CardAlias.member_id == member.id))
    pass_ = pass_for_member(member)
    if pass_ is not None:
        pass_.voided = True
        # Registrations stay so the devices learn of the voided pass.
        refresh_pass(pass_)
    outbox.enqueue_google(member.id, outbox.GOOGLE_EXPIRE)
    # Only the id: the personal data is gone (receivers erase theirs too).
    webhooks.emit(
        member.program_id, "member.erased", {"member_id": member.id}, member.id
    )
