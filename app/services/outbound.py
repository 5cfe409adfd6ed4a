"""Card links and sign-up codes by SMS and e-mail: queued, limited, never sent here.

`queue_message` adds an `outbound_message` row and its outbox row ("sms" or
"email" channel) to the caller's transaction; the worker sends it
(`app.push.messages`). At most MESSAGES_PER_HOUR messages of one purpose go to one
phone or address per hour: more are dropped silently, so the page a visitor sees
is the same either way and nobody can SMS-bomb a number or run up the bill.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

import phonenumbers
from flask import current_app
from sqlalchemy import func, select, text

from app.extensions import db
from app.i18n import N_, TextSource, text_in
from app.models import Member
from app.models.base import utcnow
from app.models.outbound import CARD_LINK, SIGNUP_CODE, OutboundMessage
from app.services import outbox
from app.services import passes as pass_service

SMS, EMAIL = "sms", "email"

# -- Message texts (ru/en) --------------------------------------------------------
TEXTS: dict[str, TextSource] = {
    "card_link.sms": N_("{program}: your card — {url}"),
    "card_link.subject": N_("{program}: the link to your card"),
    "card_link.email": N_(
        "Hello,\n\nYou (or someone else) asked for the link to your {program} "
        "card:\n\n{url}\n\nIt opens your card, your balance and the Add to Apple "
        "Wallet and Save to Google Wallet buttons. Do not forward it. If you did "
        "not ask for it, just delete this e-mail.\n"
    ),
    "signup_code.sms": N_("{program}: your card code is {code}. Do not share it."),
}
# ---------------------------------------------------------------------------------


def _text(key: str, language: str, **values: str) -> str:
    return text_in(language, TEXTS[key]).format(**values)


def recipient_key(address: str) -> str:
    """A keyed hash of a phone or address: the hourly limit without keeping it."""
    secret = str(current_app.config["SECRET_KEY"]).encode()
    key = hmac.new(secret, b"outbound-recipient-v1", hashlib.sha256).digest()
    return hmac.new(key, address.strip().lower().encode(), hashlib.sha256).hexdigest()


def email_enabled() -> bool:
    return bool(current_app.config.get("SMTP_URL"))


def mask_phone(phone: str) -> str:
    """'+79161234567' -> '+7 ••• •••-45-67' (what the visitor typed, masked)."""
    try:
        country = phonenumbers.parse(phone).country_code
    except phonenumbers.NumberParseException:
        return "•••"
    return f"+{country} ••• •••-{phone[-4:-2]}-{phone[-2:]}"


def _lock(key: str) -> None:
    """Serialise the count-then-insert per recipient. PostgreSQL: a transaction
    advisory lock; SQLite has one writer at a time anyway."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": key}
        )


def sent_within_hour(key: str, purpose: str) -> int:
    since = utcnow() - timedelta(hours=1)
    return (
        db.session.scalar(
            select(func.count())
            .select_from(OutboundMessage)
            .where(
                OutboundMessage.recipient_key == key,
                OutboundMessage.purpose == purpose,
                OutboundMessage.created_at > since,
            )
        )
        or 0
    )


def queue_message(
    *,
    channel: str,
    purpose: str,
    address: str,
    body: str,
    subject: str | None = None,
    program_id: int | None = None,
    member_id: int | None = None,
) -> bool:
    """Queue one message in the caller's transaction; False if over the limit."""
    key = recipient_key(address)
    _lock(f"outbound:{key}")
    if sent_within_hour(key, purpose) >= int(current_app.config["MESSAGES_PER_HOUR"]):
        return False
    message = OutboundMessage(
        program_id=program_id,
        member_id=member_id,
        purpose=purpose,
        channel=channel,
        recipient_key=key,
        address=address,
        subject=subject,
        body=body,
    )
    db.session.add(message)
    db.session.flush()
    outbox.enqueue(channel, purpose, str(message.id))
    return True


def card_url(member: Member) -> str:
    return card_url_for(member.card_token)


def card_url_for(card_token: str) -> str:
    return pass_service.public_url(f"/c/{card_token}")


def send_card_link(member: Member) -> int:
    """Queue the card link by SMS to the member's phone, and by e-mail when they
    have one (and e-mail is configured); the number of messages queued."""
    program = member.program
    values = {"program": program.name, "url": card_url(member)}
    language = member.language
    queued = int(
        queue_message(
            channel=SMS,
            purpose=CARD_LINK,
            address=member.phone,
            body=_text("card_link.sms", language, **values),
            program_id=program.id,
            member_id=member.id,
        )
    )
    if member.email and email_enabled():
        queued += queue_message(
            channel=EMAIL,
            purpose=CARD_LINK,
            address=member.email,
            subject=_text("card_link.subject", language, **values),
            body=_text("card_link.email", language, **values),
            program_id=program.id,
            member_id=member.id,
        )
    return queued


def send_signup_code(
    program_id: int, program_name: str, phone: str, code: str, language: str
) -> bool:
    """Queue a sign-up code by SMS; False if the phone had its codes this hour."""
    return queue_message(
        channel=SMS,
        purpose=SIGNUP_CODE,
        address=phone,
        body=_text("signup_code.sms", language, program=program_name, code=code),
        program_id=program_id,
    )
