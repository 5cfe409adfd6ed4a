"""SMS and e-mail senders for the worker ("sms" and "email" outbox channels).

A job's token is an `outbound_message` id; the sender reads the row, hands it to
the provider and clears the address and text once it is out (they hold a card
link or a code). Providers are small: `SmsProvider.send(phone, text) -> Outcome`
and `SmsProvider.cost([(phone, text), ...]) -> Quote` (what sending would cost;
campaign estimates, and the cost recorded for each fallback SMS sent).
The text is logged only by the console provider (development); phones are masked.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import smtplib
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from email.message import EmailMessage
from email.utils import make_msgid
from typing import TYPE_CHECKING, Any, Protocol

from app.push.senders import DEFER, FAIL, RETRY, SENT, Job, Outcome

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


def digits(phone: str) -> str:
    return "".join(ch for ch in phone if ch.isascii() and ch.isdigit())


# -- SMS parts --------------------------------------------------------------------
# GSM 03.38's basic alphabet (plus its extension table, two septets each): a text
# of only these goes as GSM-7 (160 characters, 153 per part when split), anything
# else as UCS-2 (70, 67 per part) — Cyrillic always does.
_GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ ÆæßÉ!\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = set("^{}\\[~]|€\f")


def sms_segments(text: str) -> int:
    """How many SMS parts `text` takes (what providers charge for)."""
    if all(ch in _GSM7 or ch in _GSM7_EXTENDED for ch in text):
        length = sum(2 if ch in _GSM7_EXTENDED else 1 for ch in text)
        single, part = 160, 153
    else:
        # UCS-2 counts UTF-16 code units: an emoji takes two.
        length = len(text.encode("utf-16-le")) // 2
        single, part = 70, 67
    if length <= single:
        return 1
    return -(-length // part)


class CostError(Exception):
    """The provider could not price the messages (unreachable, refused)."""


@dataclass
class Quote:
    """What sending the messages would cost: kopecks per number and in all, the
    SMS parts; `development`: a provider that sends nothing (zero cost)."""

    total_kopecks: int
    sms: int
    per_number: dict[str, int] = field(default_factory=dict)
    development: bool = False


def kopecks(value: Any) -> int:
    """'1.50' / 1.5 -> 150; CostError for anything that is not a price."""
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise CostError(f"not a price: {value!r}") from None
    if not amount.is_finite() or amount < 0:
        raise CostError(f"not a price: {value!r}")
    return int((amount * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


class SmsProvider(Protocol):
    name: str

    def send(self, phone: str, text: str) -> Outcome: ...

    def cost(self, messages: Sequence[tuple[str, str]]) -> Quote: ...


class ConsoleSms:
    """Development: the message goes to the worker's log instead of a phone."""

    name = "console"

    def cost(self, messages: Sequence[tuple[str, str]]) -> Quote:
        """Nothing is sent, so nothing is paid: zero, marked as development."""
        return Quote(
            0,
            sum(sms_segments(text) for _, text in messages),
            {digits(phone): 0 for phone, _ in messages},
            development=True,
        )

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
        self.base = url.rstrip("/")
        self.url = self.base + "/sms/send"
        self.api_id, self.timeout = api_id, timeout

    def cost(self, messages: Sequence[tuple[str, str]]) -> Quote:
        """`POST {url}/sms/cost` (api_id, to, msg, json=1): one request per
        distinct text, its numbers comma-separated. CostError when SMS.ru is
        unreachable or refuses."""
        by_text: dict[str, list[str]] = {}
        for phone, text in messages:
            by_text.setdefault(text, []).append(digits(phone))
        quote = Quote(0, 0)
        for text, numbers in by_text.items():
            reply = self._post(
                "/sms/cost",
                {
                    "api_id": self.api_id,
                    "to": ",".join(numbers),
                    "msg": text,
                    "json": "1",
                },
            )
            if not isinstance(reply, dict) or reply.get("status") != "OK":
                code = reply.get("status_code") if isinstance(reply, dict) else None
                raise CostError(f"sms.ru /sms/cost refused: {code}")
            for number in numbers:
                one = (reply.get("sms") or {}).get(number)
                if not isinstance(one, dict) or one.get("status") != "OK":
                    raise CostError("sms.ru /sms/cost: no price for a number")
                price = kopecks(one.get("cost", 0))
                quote.per_number[number] = quote.per_number.get(number, 0) + price
                quote.total_kopecks += price
                parts = one.get("sms", 1)
                quote.sms += parts if isinstance(parts, int) else 1
        return quote

    def _post(self, path: str, fields: dict[str, str]) -> Any:
        request = urllib.request.Request(  # noqa: S310 - scheme checked in __init__
            self.base + path,
            data=urllib.parse.urlencode(fields).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:  # noqa: S310
                return json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            raise CostError(f"sms.ru HTTP {exc.code}") from None
        except (OSError, TimeoutError) as exc:
            raise CostError(f"sms.ru unreachable: {exc.__class__.__name__}") from None
        except ValueError:
            raise CostError("sms.ru: answer is not JSON") from None

    def send(self, phone: str, text: str) -> Outcome:
        to = digits(phone)
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


class Prices:
    """What one fallback SMS cost, for the campaign's progress: the provider's
    price for a message of the same number of parts to a number of the same
    prefix (country and operator code), asked once an hour per (prefix, parts)
    rather than once per message. None when the provider cannot tell."""

    TTL = 3600.0

    def __init__(self, provider: SmsProvider) -> None:
        self.provider = provider
        self._known: dict[tuple[str, int], tuple[float, int]] = {}

    def __call__(self, phone: str, text: str) -> int | None:
        key = (digits(phone)[:4], sms_segments(text))
        now = time.monotonic()
        known = self._known.get(key)
        if known is not None and now - known[0] < self.TTL:
            return known[1]
        try:
            price = self.provider.cost([(phone, text)]).total_kopecks
        except CostError as exc:
            log.warning("SMS price unknown: %s", exc)
            return None
        self._known[key] = (now, price)
        return price


def _utcnow() -> datetime:
    from app.models.base import utcnow

    return utcnow()


class MessageSender:
    """One outbox channel ("sms" or "email"): reads the rows in an app context.

    A fallback message (a campaign or automation message instead of the wallet)
    keeps the program's quiet hours on every attempt, not only when queued: in
    them it is not sent but deferred to their end (DEFER, no attempt counted),
    and a failed attempt's retry is held out of them (`Outcome.hold`). Card
    links and sign-up codes are answers to the member's own request: any time."""

    def __init__(
        self, channel: str, app: Flask, deliver: Any, price: Any = None
    ) -> None:
        self.channel, self.app, self.deliver = channel, app, deliver
        # SMS: what a fallback message cost (Prices), recorded when it is out.
        self.price = price
        self._forgotten_at = 0.0
        # The time quiet hours are checked against (tests pass a fixed moment).
        self.clock: Callable[[], datetime] = _utcnow

    async def send(self, jobs: list[Job]) -> list[Outcome]:
        return await asyncio.to_thread(self._send_all, jobs)

    def _send_all(self, jobs: list[Job]) -> list[Outcome]:
        with self.app.app_context():
            try:
                holds: dict[int | None, Callable[[datetime], datetime] | None] = {}
                outcomes = [self._send_one(job, holds) for job in jobs]
                if time.monotonic() - self._forgotten_at > 600:
                    self._forgotten_at = time.monotonic()
                    self._forget_old()
                return outcomes
            finally:
                from app.extensions import db

                db.session.remove()

    @staticmethod
    def _hold(
        program_id: int | None,
        holds: dict[int | None, Callable[[datetime], datetime] | None],
    ) -> Callable[[datetime], datetime] | None:
        """The program's quiet hours as `open_at(moment)` (read once a batch)."""
        if program_id not in holds:
            from app.extensions import db
            from app.models import Program
            from app.services import messaging

            program = db.session.get(Program, program_id) if program_id else None
            holds[program_id] = (
                functools.partial(
                    messaging.open_at,
                    messaging.send_window(program),
                    program.timezone,
                )
                if program is not None
                else None
            )
        return holds[program_id]

    def _send_one(
        self,
        job: Job,
        holds: dict[int | None, Callable[[datetime], datetime] | None],
    ) -> Outcome:
        from sqlalchemy import select, update

        from app.extensions import db
        from app.models import Member
        from app.models.base import utcnow
        from app.models.outbound import FALLBACK, OutboundMessage

        message_id = int(job.token)
        row = db.session.execute(
            select(
                OutboundMessage.address,
                OutboundMessage.subject,
                OutboundMessage.body,
                OutboundMessage.purpose,
                OutboundMessage.program_id,
                Member.erased_at,
            )
            .outerjoin(Member, Member.id == OutboundMessage.member_id)
            .where(OutboundMessage.id == message_id)
        ).first()
        hold = None
        if row is not None and row.purpose == FALLBACK:
            hold = self._hold(row.program_id, holds)
        # No transaction stays open while the provider is talking (SQLite would
        # then refuse the write below: a reader cannot become the writer).
        db.session.rollback()
        if row is None or row.address is None or row.body is None:
            return Outcome(SENT, "nothing to send")
        if hold is not None and row.erased_at is None:
            now = self.clock()
            until = hold(now)
            if until != now:
                # Due, but in the quiet hours (a retry, a late claim): not sent now.
                return Outcome(DEFER, "quiet hours", until=until)
        if row.erased_at is not None:
            # Erased since it was queued: nothing goes to them; forget the address.
            outcome = Outcome(FAIL, "member erased")
        elif self.channel == "sms":
            outcome = self.deliver(row.address, row.body)
        else:
            outcome = self.deliver(row.address, row.subject or "", row.body)
        if outcome.kind in (SENT, FAIL):
            cost: dict[str, int | None] = {}
            if outcome.kind == SENT and row.purpose == FALLBACK and self.price:
                # Asked before the write below: no transaction is open.
                cost["cost_kopecks"] = self.price(row.address, row.body)
            # Out (or never going out): the address and the text go.
            db.session.execute(
                update(OutboundMessage)
                .where(OutboundMessage.id == message_id)
                .values(
                    address=None,
                    body=None,
                    sent_at=utcnow() if outcome.kind == SENT else None,
                    **cost,
                )
            )
            db.session.commit()
        if outcome.kind == RETRY and hold is not None:
            outcome = Outcome(RETRY, outcome.reason, hold=hold)
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
    provider = sms_provider(config)
    senders: dict[str, Any] = {
        "sms": MessageSender("sms", app, provider.send, Prices(provider))
    }
    if config.get("SMTP_URL"):
        mailer = Smtp(
            str(config["SMTP_URL"]),
            str(config.get("MAIL_FROM") or "loyalty@localhost"),
            config.get("SMTP_CA_FILE"),
        )
        senders["email"] = MessageSender("email", app, mailer.send)
    return senders
