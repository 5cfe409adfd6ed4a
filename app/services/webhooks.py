"""Signed webhooks: endpoints, events queued with the change, and their delivery.

`emit` writes one `WebhookDelivery` per subscribed endpoint in the caller's
transaction (the outbox: an event exists exactly when its change committed). The
worker's `webhooks` job sends them:

- in order per member: only the oldest queued delivery of each (endpoint, member)
  queue is due; the next one waits until it is sent (or given up);
- signed: `Wallet-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
  "<t>.<body>" with the endpoint's secret>` (Stripe's scheme), with
  `Wallet-Event` and `Wallet-Event-Id` headers (receivers dedupe by the id:
  delivery is at least once);
- retried with backoff (BACKOFF) for a day (GIVE_UP_AFTER) since the event; then
  the delivery is marked failed, the endpoint is disabled and the marketer told
  (an audit entry `webhook.disabled`, and /admin/webhooks shows it).

URLs: https; in production (PUBLIC_BASE_URL https) hosts that resolve to
private, loopback, link-local or reserved addresses are refused when created and
again before each send (SSRF). Loopback targets (http too) only in development,
or with WEBHOOK_ALLOW_LOOPBACK (tests; never set it in production).
Payloads carry ids and facts; personal data only in member events.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import time
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import requests
from flask import current_app
from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.orm import aliased

from app import database
from app.extensions import db
from app.models import Member, WebhookDelivery, WebhookEndpoint
from app.models.base import utcnow
from app.models.webhooks import FAILED, QUEUED, SENT
from app.services import audit
from app.services.errors import Invalid, NotFound
from app.services.scheduler import scheduled

log = logging.getLogger(__name__)

EVENTS = (
    "member.created",
    "member.updated",
    "member.erased",
    "purchase.created",
    "purchase.refunded",
    "offer.redeemed",
    "pass.installed",
    "pass.uninstalled",
    "campaign.finished",
    "membership.sold",
    "membership.refunded",
    "feedback.received",
)
MAX_ENDPOINTS = 20
GIVE_UP_AFTER = timedelta(days=1)
# Seconds before attempt n+1 (the last value repeats): about 30 tries in a day.
BACKOFF = (10, 30, 60, 120, 300, 600, 1800, 3600)
LEASE = timedelta(minutes=2)
TIMEOUT = (5, 10)  # connect, read
BATCH = 50
THREADS = 8
RUN_SECONDS = 20.0
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


def _production() -> bool:
    return str(current_app.config.get("PUBLIC_BASE_URL", "")).startswith("https://")


def _is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def public_host(host: str, port: int) -> bool:
    """Whether every address the host resolves to is a public one."""
    try:
        found = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return False
    if not found:
        return False
    for *_, address in found:
        ip = ipaddress.ip_address(str(address[0]).split("%")[0])
        if not ip.is_global or ip.is_multicast:
            return False
    return True


def _loopback_allowed(host: str) -> bool:
    """Loopback targets: development (http PUBLIC_BASE_URL), or tests with
    WEBHOOK_ALLOW_LOOPBACK (their receivers run on 127.0.0.1)."""
    allowed = current_app.config.get("WEBHOOK_ALLOW_LOOPBACK")
    if allowed is None:
        allowed = not _production()
    return bool(allowed) and _is_loopback(host)


def check_url(url: object) -> str:
    """The endpoint URL, or Invalid (see the module's rules)."""
    if not isinstance(url, str) or not 8 <= len(url) <= 500:
        raise Invalid("invalid_url", "url: an https URL of at most 500 characters.")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise Invalid("invalid_url", "url: not a URL.") from None
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or not host:
        raise Invalid("invalid_url", "url: an https URL.")
    if parts.username or parts.password:
        raise Invalid("invalid_url", "url: no user name or password in the URL.")
    if _loopback_allowed(host):
        return url.strip()
    if parts.scheme != "https":
        raise Invalid("https_required", "url: must be https (http only to loopback).")
    if _production() and not public_host(host, port or 443):
        raise Invalid(
            "private_url", "url: the host must resolve to public addresses only."
        )
    return url.strip()


def check_events(events: object) -> list[str]:
    if (
        not isinstance(events, list)
        or not events
        or not all(isinstance(e, str) for e in events)
    ):
        raise Invalid("invalid_events", f"events: a list, some of {', '.join(EVENTS)}.")
    unknown = sorted(set(events) - set(EVENTS))
    if unknown:
        raise Invalid(
            "invalid_events",
            f"events: unknown {', '.join(unknown)}; known: {', '.join(EVENTS)}.",
        )
    return sorted(set(events), key=EVENTS.index)


class Created(NamedTuple):
    endpoint: WebhookEndpoint
    secret: str


def create(program_id: int, body: object, api_key_id: int | None = None) -> Created:
    """A new endpoint and its secret (shown once). Caller commits."""
    if not isinstance(body, dict):
        raise Invalid("invalid_body", "The body must be a JSON object.")
    unknown = set(body) - {"url", "events"}
    if unknown:
        raise Invalid("invalid_body", f"Unknown fields: {', '.join(sorted(unknown))}.")
    url = check_url(body.get("url"))
    events = check_events(body.get("events"))
    count = db.session.scalar(
        select(func.count())
        .select_from(WebhookEndpoint)
        .where(WebhookEndpoint.program_id == program_id)
    )
    if (count or 0) >= MAX_ENDPOINTS:
        raise Invalid("too_many_endpoints", f"At most {MAX_ENDPOINTS} endpoints.")
    secret = "whsec_" + secrets.token_urlsafe(32)
    endpoint = WebhookEndpoint(
        program_id=program_id,
        url=url,
        secret=secret,
        events=events,
        active=True,
        api_key_id=api_key_id,
    )
    db.session.add(endpoint)
    db.session.flush()
    return Created(endpoint, secret)


def endpoint_for(program_id: int, endpoint_id: int) -> WebhookEndpoint:
    endpoint = db.session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or endpoint.program_id != program_id:
        raise NotFound("unknown_webhook", "No such webhook endpoint.")
    return endpoint


def endpoints(program_id: int) -> list[WebhookEndpoint]:
    return list(
        db.session.scalars(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.program_id == program_id)
            .order_by(WebhookEndpoint.id)
        )
    )


def remove(endpoint: WebhookEndpoint) -> None:
    """Delete the endpoint and its deliveries. Caller commits."""
    db.session.execute(
        WebhookDelivery.__table__.delete().where(
            WebhookDelivery.__table__.c.endpoint_id == endpoint.id
        )
    )
    db.session.delete(endpoint)


def enable(endpoint: WebhookEndpoint) -> None:
    """Turn a disabled endpoint on again; its queued deliveries go on."""
    endpoint.active = True
    endpoint.disabled_at = None
    endpoint.disabled_reason = ""


def view(endpoint: WebhookEndpoint, secret: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": endpoint.id,
        "url": endpoint.url,
        "events": list(endpoint.events),
        "active": endpoint.active,
        "disabled_at": endpoint.disabled_at.isoformat()
        if endpoint.disabled_at
        else None,
        "disabled_reason": endpoint.disabled_reason,
        "created_at": endpoint.created_at.isoformat(),
    }
    if secret is not None:
        body["secret"] = secret
    return body


# -- events ------------------------------------------------------------------------
# Built once from the table (plain Core, not ORM entities): SQLAlchemy reuses
# the compiled SQL and skips the ORM's per-execution work (an event may be
# emitted per purchase); the session still autoflushes first.
_ENDPOINT_TABLE = WebhookEndpoint.__table__
_ENDPOINTS = select(_ENDPOINT_TABLE.c.id, _ENDPOINT_TABLE.c.events).where(
    _ENDPOINT_TABLE.c.program_id == bindparam("program_id")
)


def _subscribed(program_id: int, event: str) -> list[int]:
    rows = db.session.execute(_ENDPOINTS, {"program_id": program_id}).all()
    return [endpoint_id for endpoint_id, events in rows if event in (events or [])]


def _body(event_id: str, event: str, now: datetime, data: dict[str, Any]) -> str:
    return json.dumps(
        {"id": event_id, "type": event, "created_at": now.isoformat(), "data": data},
        ensure_ascii=False,
        separators=(",", ":"),
        sort_keys=True,
    )


def emit_many(
    program_id: int, event: str, items: Iterable[tuple[int | None, dict[str, Any]]]
) -> int:
    """Queue an event per (member id or None, data) for every endpoint of the
    program subscribed to it (disabled ones too: they go on when enabled), in the
    caller's transaction; the number of deliveries queued."""
    assert event in EVENTS, event
    targets = _subscribed(program_id, event)
    if not targets:
        return 0
    now = utcnow()
    rows = []
    for member_id, data in items:
        event_id = "evt_" + uuid.uuid4().hex
        body = _body(event_id, event, now, data)
        for endpoint_id in targets:
            rows.append(
                {
                    "endpoint_id": endpoint_id,
                    "event_id": event_id,
                    "event": event,
                    "member_id": member_id,
                    "order_key": f"m:{member_id}" if member_id is not None else "",
                    "body": body,
                    "status": QUEUED,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "last_reason": "",
                    "created_at": now,
                }
            )
    if rows:
        db.session.connection().execute(insert(WebhookDelivery), rows)
    return len(rows)


def emit(
    program_id: int, event: str, data: dict[str, Any], member_id: int | None = None
) -> int:
    return emit_many(program_id, event, [(member_id, data)])


def member_data(member: Member) -> dict[str, Any]:
    """A member event's facts: the member is what it is about."""
    return {
        "member_id": member.id,
        "card_number": member.card_number,
        "name": member.name,
        "phone": member.phone,
        "email": member.email,
        "birthday": member.birthday.isoformat() if member.birthday else None,
        "tier": member.tier,
        "balance": member.points,
    }


# -- delivery ------------------------------------------------------------------
def signature(secret: str, body: str, timestamp: int) -> str:
    mac = hmac.new(
        secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256
    ).hexdigest()
    return f"t={timestamp},v1={mac}"


class Job(NamedTuple):
    delivery_id: int
    url: str
    secret: str
    event: str
    event_id: str
    body: str


class Result(NamedTuple):
    delivery_id: int
    ok: bool
    status: int | None
    reason: str


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=BACKOFF[min(attempts, len(BACKOFF)) - 1])


def _due(now: datetime) -> list[Job]:
    """Lease the heads of the queues that are due (oldest queued per endpoint and
    member) and commit; what to send."""
    database.begin_write()  # SQLite: read then write without a lock upgrade
    head = aliased(WebhookDelivery)
    first = (
        select(func.min(head.id))
        .where(
            head.endpoint_id == WebhookDelivery.endpoint_id,
            head.order_key == WebhookDelivery.order_key,
            head.status == QUEUED,
        )
        .scalar_subquery()
    )
    rows = db.session.execute(
        select(
            WebhookDelivery.id,
            WebhookEndpoint.url,
            WebhookEndpoint.secret,
            WebhookDelivery.event,
            WebhookDelivery.event_id,
            WebhookDelivery.body,
        )
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(
            WebhookDelivery.status == QUEUED,
            WebhookDelivery.next_attempt_at <= now,
            (WebhookDelivery.leased_until.is_(None))
            | (WebhookDelivery.leased_until < now),
            WebhookEndpoint.active.is_(True),
            WebhookDelivery.id == first,
        )
        .order_by(WebhookDelivery.id)
        .limit(BATCH)
    ).all()
    jobs = []
    for row in rows:
        # Claim each (another worker may have taken it meanwhile).
        claimed = db.session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id == row.id,
                WebhookDelivery.status == QUEUED,
                (WebhookDelivery.leased_until.is_(None))
                | (WebhookDelivery.leased_until < now),
            )
            .values(leased_until=now + LEASE, attempts=WebhookDelivery.attempts + 1)
            .execution_options(synchronize_session=False)
        )
        if getattr(claimed, "rowcount", 0) == 1:
            jobs.append(
                Job(row.id, row.url, row.secret, row.event, row.event_id, row.body)
            )
    db.session.commit()
    return jobs


def send(job: Job, strict: bool) -> Result:
    """POST one delivery; no database here (runs in a thread). `strict`: check
    the host resolves to public addresses now (DNS may have changed)."""
    parts = urlsplit(job.url)
    if strict and not public_host(parts.hostname or "", parts.port or 443):
        return Result(job.delivery_id, False, None, "refused: not a public address")
    timestamp = int(time.time())
    try:
        response = requests.post(
            job.url,
            data=job.body.encode(),
            headers={
                "Content-Type": "application/json",
                "User-Agent": "wallet-webhooks/1",
                "Wallet-Event": job.event,
                "Wallet-Event-Id": job.event_id,
                "Wallet-Signature": signature(job.secret, job.body, timestamp),
            },
            timeout=TIMEOUT,
            allow_redirects=False,
        )
        response.close()
    except requests.RequestException as error:
        return Result(job.delivery_id, False, None, type(error).__name__)
    ok = 200 <= response.status_code < 300
    return Result(job.delivery_id, ok, response.status_code, "" if ok else "HTTP error")


def _record(results: list[Result], now: datetime) -> None:
    """Sent, retried later, or given up (and the endpoint disabled)."""
    database.begin_write()
    for result in results:
        delivery = db.session.get(WebhookDelivery, result.delivery_id)
        if delivery is None:
            continue  # the endpoint was deleted meanwhile
        delivery.leased_until = None
        delivery.last_status = result.status
        reason = result.reason if result.status is None else f"{result.status}"
        delivery.last_reason = reason[:200]
        if result.ok:
            delivery.status = SENT
            delivery.sent_at = now
            continue
        if now - delivery.created_at < GIVE_UP_AFTER:
            delivery.next_attempt_at = now + backoff(delivery.attempts)
            continue
        delivery.status = FAILED
        endpoint = db.session.get(WebhookEndpoint, delivery.endpoint_id)
        if endpoint is not None and endpoint.active:
            endpoint.active = False
            endpoint.disabled_at = now
            endpoint.disabled_reason = (
                f"deliveries failed for a day (last: {delivery.last_reason})"
            )[:200]
            audit.record(
                "webhook.disabled",
                target=f"webhook:{endpoint.id}",
                program_id=endpoint.program_id,
                details={"delivery_id": delivery.id, "last": delivery.last_reason},
            )
    db.session.commit()


def deliver_due(now: datetime | None = None) -> int:
    """Send what is due, round after round (the next event of a member becomes
    due once the one before it is sent); the number of attempts made."""
    production = _production()
    loopback = current_app.config.get("WEBHOOK_ALLOW_LOOPBACK")
    if loopback is None:
        loopback = not production
    started = time.monotonic()
    made = 0
    with ThreadPoolExecutor(THREADS) as pool:
        while time.monotonic() - started < RUN_SECONDS:
            moment = now or utcnow()
            jobs = _due(moment)
            if not jobs:
                break
            results = list(
                pool.map(
                    lambda job: send(
                        job,
                        production
                        and not (
                            loopback and _is_loopback(urlsplit(job.url).hostname or "")
                        ),
                    ),
                    jobs,
                )
            )
            _record(results, now or utcnow())
            made += len(jobs)
    return made


@scheduled("webhooks")
def webhooks_job(now: datetime) -> None:
    db.session.rollback()
    deliver_due()


def resend(delivery: WebhookDelivery) -> None:
    """Queue a delivery again now (a new day of retries). Caller commits."""
    delivery.status = QUEUED
    delivery.attempts = 0
    delivery.next_attempt_at = utcnow()
    delivery.leased_until = None
    delivery.created_at = utcnow()


def delivery_for(program_id: int, delivery_id: int) -> WebhookDelivery:
    delivery = db.session.get(WebhookDelivery, delivery_id)
    if delivery is not None:
        endpoint = db.session.get(WebhookEndpoint, delivery.endpoint_id)
        if endpoint is not None and endpoint.program_id == program_id:
            return delivery
    raise NotFound("unknown_delivery", "No such delivery.")


def recent_deliveries(program_id: int, limit: int = 100) -> list[WebhookDelivery]:
    return list(
        db.session.scalars(
            select(WebhookDelivery)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .where(WebhookEndpoint.program_id == program_id)
            .order_by(WebhookDelivery.id.desc())
            .limit(limit)
        )
    )


def delivery_view(delivery: WebhookDelivery) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "endpoint_id": delivery.endpoint_id,
        "event": delivery.event,
        "event_id": delivery.event_id,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "last_status": delivery.last_status,
        "last_reason": delivery.last_reason,
        "created_at": delivery.created_at.isoformat(),
        "sent_at": delivery.sent_at.isoformat() if delivery.sent_at else None,
        "next_attempt_at": delivery.next_attempt_at.isoformat(),
    }
