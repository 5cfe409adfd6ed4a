"""SMS and e-mail senders for the worker ("sms" and "email" outbox channels).

A job's token is an `outbound_message` id; the sender reads the row, hands it to
the provider and clears the address and text once it is out (they hold a card
link or a code). Providers are small: `SmsProvider.send(phone, text) -> Outcome`.
The text is logged only by the console provider (development); phones are masked.
"""

from __future__ import annotations

import asyncio
import json
import logging
import smtplib
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from datetime import timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from typing import TYPE_CHECKING, Any, Protocol

from app.push.senders import FAIL, RETRY, SENT, Job, Outcome

if TYPE_CHECKING:
    from flask import Flask

log = logging.getLogger(__name__)

# SMS.ru request-level codes worth another try: no money yet, service busy, and
# key/IP trouble the operator can fix (like APNs 403, retried with backoff).
SMSRU_RETRY_CODES = {200, 201, 220, 300, 301, 302}
# Addresses and texts of messages that never went out are cleared after this.
KEEP_UNSENT = timedelta(days=2)


def mask_phone(phone: str) -> str:
    return f"{phone[:2]}*******{phone[-2:]}" if len(phone) > 6 else "***"


def mask_email(address: str) -> str:
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}"


class SmsProvider(Protocol):
    name: str

    def send(self, phone: str, text: str) -> Outcome: ...


class ConsoleSms:
    """Development: the message goes to the worker's log instead of a phone."""

    name = "console"

    def send(self, phone: str, text: str) -> Outcome:
        log.warning(
            "DEVELOPMENT SMS (SMS_PROVIDER=console, not sent) to %s: %s",
            mask_phone(phone),
            text,
        )
        return Outcome(SENT)


class SmsRu:
    """SMS.ru's HTTP API: `POST {url}/sms/send` with api_id, to, msg, json=1."""

    name = "smsru"

    def __init__(self, url: str, api_id: str | None, timeout: float = 15.0) -> None:
        if not url.startswith(("https://", "http://")):
            raise ValueError(f"SMS_API_URL must be http(s), not {url!r}")
        if not api_id:
            raise ValueError("SMS_PROVIDER=smsru needs SMS_API_ID")
        self.url = url.rstrip("/") + "/sms/send"
        self.api_id, self.timeout = api_id, timeout

    def send(self, phone: str, text: str) -> Outcome:
        to = "".join(ch for ch in phone if ch.isascii() and ch.isdigit())
        body = urllib.parse.urlencode(
            {"api_id": self.api_id, "to": to, "msg": text, "json": "1"}
        ).encode()
        # The scheme is checked in __init__ (http/https only).
        request = urllib.request.Request(  # noqa: S310
            self.url,
            data=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:  # noqa: S310
                reply = json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            if exc.code == 429 or exc.code >= 500:
                return Outcome(RETRY, f"sms.ru HTTP {exc.code}")
            return Outcome(FAIL, f"sms.ru HTTP {exc.code}")
        except (OSError, TimeoutError) as exc:
            return Outcome(RETRY, f"sms.ru unreachable: {exc}")
        except ValueError:
            return Outcome(RETRY, "sms.ru: answer is not JSON")
        return self.classify(reply, to)

    @staticmethod
    def classify(reply: Any, to: str) -> Outcome:
        if not isinstance(reply, dict):
            return Outcome(RETRY, "sms.ru: unexpected answer")
        if reply.get("status") != "OK":
            code = reply.get("status_code")
            kind = RETRY if code in SMSRU_RETRY_CODES else FAIL
            return Outcome(kind, f"sms.ru {code}: {reply.get('status_text', '')}")
        number = (reply.get("sms") or {}).get(to)
        if not isinstance(number, dict):
            return Outcome(RETRY, "sms.ru: no status for the number")
        if number.get("status") == "OK":
            return Outcome(SENT)
        code = number.get("status_code")
        kind = RETRY if code in SMSRU_RETRY_CODES else FAIL
        return Outcome(kind, f"sms.ru {code}: {number.get('status_text', '')}")


def sms_provider(config: Mapping[str, Any]) -> SmsProvider:
    """The configured provider (SMS_PROVIDER); add others here."""
    name = str(config.get("SMS_PROVIDER") or "console")
    if name == "console":
        return ConsoleSms()
    if name == "smsru":
        return SmsRu(str(config["SMS_API_URL"]), config.get("SMS_API_ID"))
    raise ValueError(f"SMS_PROVIDER must be smsru or console, not {name!r}")


class Smtp:
    """E-mail over SMTP: smtp:// with STARTTLS (required), smtps:// with TLS."""

    def __init__(
        self,
        url: str,
        sender: str,
        ca_file: str | None = None,
        timeout: float = 20.0,
    ) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("SMTP_URL must look like smtp://user:pass@host:587")
        self.tls = parts.scheme == "smtps"
        self.host = parts.hostname
        self.port = parts.port or (465 if self.tls else 587)
        self.user = urllib.parse.unquote(parts.username) if parts.username else None
        self.password = urllib.parse.unquote(parts.password or "")
        self.sender, self.timeout = sender, timeout
        self.context = ssl.create_default_context(cafile=ca_file)

    def send(self, address: str, subject: str, text: str) -> Outcome:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = address
        message["Subject"] = subject
        message["Message-ID"] = make_msgid()
        message.set_content(text)
        try:
            client: smtplib.SMTP
            if self.tls:
                client = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=self.context
                )
            else:
                client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with client:
                if not self.tls:
                    client.starttls(context=self.context)
                if self.user:
                    client.login(self.user, self.password)
                client.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            kind = RETRY if all(400 <= c < 500 for c in codes) else FAIL
            return Outcome(kind, f"smtp: recipient refused {codes}")
        except smtplib.SMTPResponseException as exc:
            kind = RETRY if 400 <= exc.smtp_code < 500 else FAIL
            if isinstance(exc, smtplib.SMTPAuthenticationError):
                kind = RETRY  # the operator can fix the password
            return Outcome(kind, f"smtp {exc.smtp_code}")
        except (smtplib.SMTPException, OSError, TimeoutError) as exc:
            return Outcome(RETRY, f"smtp: {exc.__class__.__name__}: {exc}"[:200])
        return Outcome(SENT)


class MessageSender:
    """One outbox channel ("sms" or "email"): reads the rows in an app context."""

    def __init__(self, channel: str, app: Flask, deliver: Any) -> None:
        self.channel, self.app, self.deliver = channel, app, deliver
        self._forgotten_at = 0.0

    async def send(self, jobs: list[Job]) -> list[Outcome]:
        return await asyncio.to_thread(self._send_all, jobs)

    def _send_all(self, jobs: list[Job]) -> list[Outcome]:
        with self.app.app_context():
            try:
                outcomes = [self._send_one(job) for job in jobs]
                if time.monotonic() - self._forgotten_at > 600:
                    self._forgotten_at = time.monotonic()
                    self._forget_old()
                return outcomes
            finally:
                from app.extensions import db

                db.session.remove()

    def _send_one(self, job: Job) -> Outcome:
        from sqlalchemy import select, update

        from app.extensions import db
        from app.models import Member
        from app.models.base import utcnow
        from app.models.outbound import OutboundMessage

        message_id = int(job.token)
        row = db.session.execute(
            select(
                OutboundMessage.address,
                OutboundMessage.subject,
                OutboundMessage.body,
                Member.erased_at,
            )
            .outerjoin(Member, Member.id == OutboundMessage.member_id)
            .where(OutboundMessage.id == message_id)
        ).first()
        # No transaction stays open while the provider is talking (SQLite would
        # then refuse the write below: a reader cannot become the writer).
        db.session.rollback()
        if row is None or row.address is None or row.body is None:
            return Outcome(SENT, "nothing to send")
        if row.erased_at is not None:
            # Erased since it was queued: nothing goes to them; forget the address.
            outcome = Outcome(FAIL, "member erased")
        elif self.channel == "sms":
            outcome = self.deliver(row.address, row.body)
        else:
            outcome = self.deliver(row.address, row.subject or "", row.body)
        if outcome.kind in (SENT, FAIL):
            # Out (or never going out): the address and the text go.
            db.session.execute(
                update(OutboundMessage)
                .where(OutboundMessage.id == message_id)
                .values(
                    address=None,
                    body=None,
                    sent_at=utcnow() if outcome.kind == SENT else None,
                )
            )
            db.session.commit()
        if outcome.kind == FAIL:
            log.error(
                "%s message %s failed for good: %s",
                self.channel,
                job.token,
                outcome.reason,
            )
        return outcome

    @staticmethod
    def _forget_old() -> None:
        """Clear what messages that never went out still hold (retries ran out)."""
        from sqlalchemy import update

        from app.extensions import db
        from app.models.base import utcnow
        from app.models.outbound import OutboundMessage

        db.session.execute(
            update(OutboundMessage)
            .where(
                OutboundMessage.created_at < utcnow() - KEEP_UNSENT,
                OutboundMessage.address.is_not(None),
            )
            .values(address=None, body=None)
        )
        db.session.commit()

    async def close(self) -> None:
        return None


def build_message_senders(config: Mapping[str, Any], app: Flask) -> dict[str, Any]:
    """ "sms" always (console by default); "email" when SMTP_URL is set."""
    senders: dict[str, Any] = {
        "sms": MessageSender("sms", app, sms_provider(config).send)
    }
    if config.get("SMTP_URL"):
        mailer = Smtp(
            str(config["SMTP_URL"]),
            str(config.get("MAIL_FROM") or "loyalty@localhost"),
            config.get("SMTP_CA_FILE"),
        )
        senders["email"] = MessageSender("email", app, mailer.send)
    return senders
