"""Outbound SMS and e-mail (card links, sign-up codes) and sign-up codes.

A message is queued as an `outbound_message` row plus a `push_delivery` row on the
"sms" or "email" channel (token = the message id), so the worker's leases and
retries carry it. The address and text (which holds a card link or a code) are
cleared once the message is out; `recipient_key`, a keyed hash of the address,
stays for the hourly limit.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow

# Purposes.
CARD_LINK, SIGNUP_CODE = "card_link", "signup_code"
# A campaign or automation message by SMS or e-mail (services.fallback).
FALLBACK = "fallback"


class OutboundMessage(Base):
    __tablename__ = "outbound_message"
    __table_args__ = (
        Index(
            "ix_outbound_message_recipient", "recipient_key", "purpose", "created_at"
        ),
        # Fallback messages (services.fallback): a campaign's progress and cost,
        # and the results' reach by channel.
        Index("ix_outbound_message_campaign", "campaign_id"),
        Index("ix_outbound_message_source", "source_key", "member_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Plain columns, not foreign keys: the record outlives an erased member.
    program_id: Mapped[int | None]
    member_id: Mapped[int | None]
    purpose: Mapped[str] = mapped_column(String(20))
    channel: Mapped[str] = mapped_column(String(10))  # "sms" or "email"
    recipient_key: Mapped[str] = mapped_column(String(64))
    # E.164 phone or e-mail address; NULL once sent.
    address: Mapped[str | None] = mapped_column(String(254))
    subject: Mapped[str | None] = mapped_column(String(200))
    body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    # A campaign or automation message sent instead of a wallet message (fallback
    # channels): its campaign, its MemberMessage source key, the SMS parts it
    # takes and what the provider charges for it (kopecks, set when sent).
    campaign_id: Mapped[int | None]
    source_key: Mapped[str | None] = mapped_column(String(80))
    segments: Mapped[int | None]
    cost_kopecks: Mapped[int | None]

    def __repr__(self) -> str:
        return f"<OutboundMessage {self.id} {self.channel} {self.purpose}>"


class SignupCode(Base):
    """A one-time code sent by SMS when a program wants verified phones."""

    __tablename__ = "signup_code"
    __table_args__ = (Index("ix_signup_code_phone", "program_id", "phone_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int]
    phone_key: Mapped[str] = mapped_column(String(64))
    code_hash: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(default=0)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"<SignupCode {self.id}>"
