"""Card lookup at the till: a scanned barcode or a typed number -> the member,
and what the till shows after a scan.

A barcode's MAC proves the card is present ("genuine"); a typed number can only
earn. A closed card (the member erased themselves, or the pass was voided)
answers `card_closed` (Gone) wherever the till would use it: scan, purchase,
redemption, refund, back-in-stock.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy import exists, select

import passes
from app.extensions import db
from app.models import CardAlias, Member, Pass
from app.services import catalog, membership_rules, offers
from app.services.errors import Forbidden, Gone, NotFound
from app.services.loyalty import earn_percent, tier_view
from app.services.masking import mask_phone
from app.services.passes import barcode_secret


class CardCode(NamedTuple):
    """A scanned or typed code: the card number it names, and whether it was the
    barcode (with its MAC) rather than a number typed by hand."""

    number: str | None
    genuine: bool


class Card(NamedTuple):
    """The member a code opens, and whether the barcode was scanned."""

    member: Member
    genuine: bool


def card_number(code: str) -> CardCode:
    """(card number, genuine) from a barcode payload or a typed number.

    `genuine` is True only for a barcode whose MAC checks out.
    """
    number = passes.parse_barcode_payload(code, barcode_secret())
    if number is not None:
        return CardCode(number, True)
    return CardCode(passes.normalize_card_number(code), False)


def unknown_card() -> NotFound:
    return NotFound("unknown_card", "No card with this code. Scan again.")


def other_program() -> Forbidden:
    return Forbidden("other_program", "This card belongs to another loyalty program.")


def card_closed() -> Gone:
    return Gone(
        "card_closed",
        "This card is closed (the member left the program or the card was "
        "withdrawn); it can no longer earn or pay.",
    )


def check_open(erased: bool, voided: bool | None) -> None:
    """Gone (`card_closed`) for an erased member or a voided pass."""
    if erased or voided:
        raise card_closed()


def is_closed(member: Member) -> bool:
    """Whether the member erased themselves or their pass was voided."""
    if member.erased_at is not None:
        return True
    return bool(
        db.session.scalar(
            select(exists().where(Pass.member_id == member.id, Pass.voided.is_(True)))
        )
    )


def alias_number(program_id: int, code: str) -> str | None:
    """The card number behind an old (plastic) card number of the program, if the
    code is one (member import). Such a card can only earn, like a typed number."""
    compact = "".join(ch for ch in code if ch not in " -\u00a0")
    if not compact or len(compact) > 40:
        return None
    return db.session.scalar(
        select(Member.card_number)
        .join(CardAlias, CardAlias.member_id == Member.id)
        .where(CardAlias.program_id == program_id, CardAlias.number == compact)
    )


def resolve_code(program_id: int, code: str) -> Card:
    """(member, genuine) for a barcode payload or a typed card number of an open
    card: NotFound if none, Forbidden if the card is another program's (card
    numbers are unique overall), Gone if it is closed."""
    if not code.isprintable():  # NUL and the like: no card (PostgreSQL refuses them)
        raise unknown_card()
    number, genuine = card_number(code)
    member = None
    if number is not None:
        member = db.session.scalar(select(Member).where(Member.card_number == number))
    if member is None and not genuine:
        number = alias_number(program_id, code)
        if number is not None:
            member = db.session.scalar(
                select(Member).where(Member.card_number == number)
            )
    if member is None:
        raise unknown_card()
    if member.program_id != program_id:
        raise other_program()
    if is_closed(member):
        raise card_closed()
    return Card(member, genuine)


def member_summary(member: Member, genuine: bool) -> dict[str, Any]:
    """What the till shows after a scan."""
    program = member.program
    return {
        "member_id": member.id,
        "name": member.name,
        "phone": mask_phone(member.phone),
        "card_number": member.card_number,
        "balance": member.points,
        "tier": tier_view(program, member.tier),
        "earn_percent": earn_percent(program, member.tier),
        # The member's usable offer instances (ids for the purchase's offer_ids).
        "offers": [
            offers.till_view(held, member.language) for held in offers.active(member.id)
        ],
        # What the member is waiting for (the cashier can check the shelf).
        "back_in_stock": [
            {
                "subscription_id": sub.id,
                "sku": sub.product.sku,
                "name": sub.product.name,
                "size": sub.size,
                "store": sub.store.name if sub.store else None,
            }
            for sub in catalog.waiting(member)
        ],
        # Redemption needs the barcode; a typed number can only earn.
        "can_redeem": genuine,
        "language": member.language,
        # The paid membership held (null: none): the till can renew it.
        "membership": membership_rules.member_view(member),
    }
