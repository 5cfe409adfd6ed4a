"""Fallback SMS / e-mail keep the program's quiet hours on every attempt, not
only when queued: a retry that would fall in them waits for their end, and a
row claimed in them is deferred (not sent, no attempt counted). Against the
SMS.ru stand-in and a real SMTP server, the worker's real claim / send / record,
with a fixed clock so the moments are exact."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import Flask
from sqlalchemy import select, update

from app.extensions import db
from app.models import Member, OutboundMessage, Program, PushDelivery
from app.push.messages import build_message_senders
from app.push.worker import Settings, Worker
from app.services import messaging, outbound
from tests.app.campaign_support import add_member
from tests.app.test_card_link import msg_app, sms, smtp  # noqa: F401
from tests.support.sms_server import SmsRuStandIn
from tests.support.smtp_server import SmtpStandIn

MOSCOW = ZoneInfo("Europe/Moscow")
# A day well after any row's real creation time, so the fixed clock finds
# the rows due once their next attempt is set to it.
DAY = datetime(2030, 1, 15, tzinfo=MOSCOW)


def at(hour: int, minute: int = 0, days: int = 0) -> datetime:
    return (DAY + timedelta(days=days, hours=hour, minutes=minute)).astimezone(UTC)


def _queue(app: Flask, channel: str, *, due: datetime) -> tuple[int, str]:
    """One member without a wallet card, one fallback message on `channel`,
    due at `due`: (message id, address)."""
    with app.app_context():
        program = db.session.scalar(select(Program).order_by(Program.id))
        assert program is not None
        program.timezone = "Europe/Moscow"
        program.rules = {
            **program.rules,
            "fallback_channels": channel,
            "quiet_hours": [21, 9],
        }
        db.session.execute(update(Member).values(marketing_off_at=datetime.now(UTC)))
        member = add_member(program, email="olga@example.ru")
        db.session.commit()
        messaging.deliver_many(
            program,
            [member.id],
            kind="back_in_stock",
            source_key="restock:7",
            texts={"ru": "Пальто снова в наличии"},
        )
        db.session.commit()
        (message,) = db.session.scalars(
            select(OutboundMessage).where(OutboundMessage.member_id == member.id)
        )
        assert message.channel == channel
        db.session.execute(
            update(PushDelivery)
            .where(PushDelivery.push_token == str(message.id))
            .values(next_attempt_at=due)
        )
        db.session.commit()
        address = message.address
        assert address is not None
        return message.id, address


def _step(app: Flask, now: datetime, retry_base: float = 7200.0) -> None:
    """One claim, send and record of the SMS/e-mail channels at `now`."""

    def clock() -> datetime:
        return now

    with app.app_context():
        db.session.remove()
        senders = build_message_senders(app.config, app)
        for sender in senders.values():
            sender.clock = clock
        settings = Settings.from_config(app.config)
        # A first retry 1-2 hours later (backoff base 2 h, jitter 0.5-1).
        settings.retry_base_seconds = retry_base
        settings.retry_cap_seconds = retry_base
        worker = Worker(db.engine, senders, settings, clock=clock)

        async def once() -> None:
            await worker.process(worker.claim(100))
            for sender in senders.values():
                await sender.close()

        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, once()).result()


def _job(app: Flask, message_id: int) -> PushDelivery:
    with app.app_context():
        job = db.session.scalar(
            select(PushDelivery).where(PushDelivery.push_token == str(message_id))
        )
        assert job is not None
        db.session.expunge(job)
        return job


def _same(a: datetime, b: datetime) -> bool:
    return a.astimezone(UTC) == b.astimezone(UTC)


def test_a_retry_in_quiet_hours_waits_for_their_end(
    msg_app: Flask,  # noqa: F811
    sms: SmsRuStandIn,  # noqa: F811
) -> None:
    message_id, phone = _queue(msg_app, "sms", due=at(20, 30))
    sms.answers = [503]  # the gateway is busy at 20:30
    _step(msg_app, at(20, 30))
    assert [r["to"] for r in sms.requests] == [phone[1:]]
    job = _job(msg_app, message_id)
    # The retry (21:30-22:30 by the backoff) is held to the end of the quiet
    # hours, 09:00 the next morning; the failed attempt counts, once.
    assert job.status == "queued"
    assert job.attempts == 1
    assert _same(job.next_attempt_at, at(9, days=1))
    # Claimed in the quiet hours anyway (due earlier, a worker that was down):
    # deferred to their end, not sent, no attempt counted.
    with msg_app.app_context():
        db.session.execute(
            update(PushDelivery)
            .where(PushDelivery.id == job.id)
            .values(next_attempt_at=at(22, 55))
        )
        db.session.commit()
    _step(msg_app, at(23))
    assert len(sms.requests) == 1
    job = _job(msg_app, message_id)
    assert (job.status, job.attempts) == ("queued", 1)
    assert _same(job.next_attempt_at, at(9, days=1))
    assert job.lease_owner is None
    # At 08:59 it is not due yet; at 09:00 it goes, once.
    _step(msg_app, at(8, 59, days=1))
    assert len(sms.requests) == 1
    _step(msg_app, at(9, days=1))
    assert [r["to"] for r in sms.requests] == [phone[1:]] * 2
    job = _job(msg_app, message_id)
    assert (job.status, job.attempts) == ("sent", 2)
    with msg_app.app_context():
        row = db.session.get(OutboundMessage, message_id)
        assert row is not None
        assert row.sent_at is not None
        assert row.address is None


def test_outside_quiet_hours_a_retry_backs_off_as_before(
    msg_app: Flask,  # noqa: F811
    sms: SmsRuStandIn,  # noqa: F811
) -> None:
    message_id, _ = _queue(msg_app, "sms", due=at(12))
    sms.answers = [503]
    _step(msg_app, at(12))
    job = _job(msg_app, message_id)
    assert (job.status, job.attempts) == ("queued", 1)
    # The backoff alone: 13:00-14:00, not in the quiet hours.
    assert at(13) <= job.next_attempt_at.astimezone(UTC) <= at(14)
    assert job.last_reason == "sms.ru HTTP 503"


def test_fallback_email_keeps_the_quiet_hours_card_links_do_not(
    msg_app: Flask,  # noqa: F811
    sms: SmsRuStandIn,  # noqa: F811
    smtp: SmtpStandIn,  # noqa: F811
) -> None:
    message_id, address = _queue(msg_app, "email", due=at(21, 30))
    with msg_app.app_context():
        program = db.session.scalar(select(Program).order_by(Program.id))
        assert program is not None
        # A card link the member asked for (not a marketing message).
        outbound.queue_message(
            channel="sms",
            purpose="card_link",
            address="+79990001122",
            body="Ваша карта: https://example.test/c/tok",
            program_id=program.id,
        )
        db.session.commit()
        db.session.execute(
            update(PushDelivery)
            .where(PushDelivery.channel == "sms", PushDelivery.status == "queued")
            .values(next_attempt_at=at(21, 30))
        )
        db.session.commit()
    _step(msg_app, at(22))
    assert [m for m in smtp.messages if address in m.recipients] == []
    job = _job(msg_app, message_id)
    assert (job.status, job.attempts) == ("queued", 0)
    assert _same(job.next_attempt_at, at(9, days=1))
    assert [r["to"] for r in sms.requests] == ["79990001122"]
    _step(msg_app, at(9, days=1))
    assert len([m for m in smtp.messages if address in m.recipients]) == 1
    assert _job(msg_app, message_id).status == "sent"
