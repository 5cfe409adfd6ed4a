"""Senders: turn a batch of claimed outbox rows into outcomes, one per row.

A sender never touches the database; the worker records what it says. New channels
(e.g. "google") add a class with `channel`, `send(jobs)` and `close()` and register
it in `build_senders`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from app.push.apns import ApnsClient, ApnsResult
from app.push.clients import ApnsClients, programs_from

if TYPE_CHECKING:
    from flask import Flask

log = logging.getLogger(__name__)

# Outcome kinds. DEFER: not sent, not tried: send at `Outcome.until` (a fallback
# SMS/e-mail in the program's quiet hours); the attempts do not move.
SENT, RETRY, DROP, FAIL, DEFER = "sent", "retry", "drop", "fail", "defer"

# APNs reasons that mean "this token is dead": drop the registration.
DEAD_TOKEN_REASONS = {"Unregistered", "ExpiredToken", "BadDeviceToken"}


@dataclass(frozen=True)
class Job:
    """A claimed outbox row."""

    id: int
    channel: str
    topic: str
    token: str
    generation: int
    attempts: int
    device_id: int | None
    pass_id: int | None
    created_at: datetime | None = None


@dataclass(frozen=True)
class Outcome:
    kind: str  # SENT, RETRY, DROP, FAIL or DEFER
    reason: str | None = None
    # DEFER: when to send instead.
    until: datetime | None = None
    # RETRY: the first moment at or after a retry time the row may go (a
    # fallback message's quiet hours); None: any time.
    hold: Callable[[datetime], datetime] | None = None


class Sender(Protocol):
    channel: str

    async def send(self, jobs: list[Job]) -> list[Outcome]: ...

    async def close(self) -> None: ...


_SENT = Outcome(SENT)  # the usual answer: one shared (frozen) object


def classify_apns(result: ApnsResult) -> Outcome:
    """Apple's answer -> what to do with the row (apple-wallet.md §4.5)."""
    status = result.status
    if status == 200:
        return _SENT
    reason = result.describe()
    if status == 410 or (status == 400 and result.reason in DEAD_TOKEN_REASONS):
        return Outcome(DROP, reason)
    # Connection loss, throttling, server trouble and provider-auth trouble (a
    # renewed token or a fixed certificate can cure it) are retried with backoff.
    if status in (0, 403, 429, 500, 503):
        return Outcome(RETRY, reason)
    return Outcome(FAIL, reason)  # 400 BadTopic, 413, ...: sending again won't help


class ApnsSender:
    """Pass pushes, each over the client of its topic's certificate or team."""

    channel = "apns"

    def __init__(self, clients: ApnsClients | ApnsClient) -> None:
        self.clients = clients

    async def send(self, jobs: list[Job]) -> list[Outcome]:
        clients: dict[str, ApnsClient | str]
        if isinstance(self.clients, ApnsClient):
            clients = dict.fromkeys({job.topic for job in jobs}, self.clients)
        else:
            clients = await self.clients.for_topics({job.topic for job in jobs})
        outcomes: list[Outcome | None] = [None] * len(jobs)
        # Per client (one per credential): the rows' indexes and pushes.
        sending: dict[ApnsClient, tuple[list[int], list[tuple[str, str]]]] = {}
        for index, job in enumerate(jobs):
            client = clients[job.topic]
            if isinstance(client, str):
                # No usable credentials for this pass type (yet): a configuration
                # problem an operator can fix, so retried with backoff.
                outcomes[index] = Outcome(RETRY, client)
            else:
                indexes, pushes = sending.setdefault(client, ([], []))
                indexes.append(index)
                pushes.append((job.token, job.topic))
        groups = list(sending.items())
        answers = await asyncio.gather(
            *(client.send_many(pushes) for client, (_, pushes) in groups)
        )
        for (_, (indexes, _)), results in zip(groups, answers, strict=True):
            for index, result in zip(indexes, results, strict=True):
                outcomes[index] = classify_apns(result)
        return [outcome or Outcome(RETRY) for outcome in outcomes]

    async def close(self) -> None:
        await self.clients.close()


class RelaySender:
    """Android .pkpass apps (WalletPasses): `POST {url}` with a batch of tokens.

    Body `{"passTypeIdentifier": ..., "pushTokens": [...]}`, the API key in the
    `Authorization` header. The relay answers for the whole batch.
    """

    channel = "android"
    batch = 500

    def __init__(self, url: str, api_key: str | None, timeout: float = 15.0) -> None:
        if not url.startswith(("https://", "http://")):
            raise ValueError(f"WALLETPASSES_PUSH_URL must be http(s), not {url!r}")
        self.url, self.api_key, self.timeout = url, api_key, timeout

    async def send(self, jobs: list[Job]) -> list[Outcome]:
        outcomes: dict[int, Outcome] = {}
        by_topic: dict[str, list[Job]] = defaultdict(list)
        for job in jobs:
            by_topic[job.topic].append(job)
        for topic, group in by_topic.items():
            for start in range(0, len(group), self.batch):
                chunk = group[start : start + self.batch]
                outcome = await asyncio.to_thread(
                    self._post, topic, sorted({job.token for job in chunk})
                )
                outcomes.update({job.id: outcome for job in chunk})
        return [outcomes[job.id] for job in jobs]

    def _post(self, topic: str, tokens: list[str]) -> Outcome:
        body = json.dumps({"passTypeIdentifier": topic, "pushTokens": tokens}).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = self.api_key
        # The scheme is checked in __init__ (http/https only).
        request = urllib.request.Request(  # noqa: S310
            self.url, data=body, headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:  # noqa: S310
                answer.read()
            return Outcome(SENT)
        except urllib.error.HTTPError as exc:
            reason = f"relay {exc.code}"
            if exc.code in (429,) or exc.code >= 500:
                return Outcome(RETRY, reason)
            return Outcome(FAIL, reason)
        except (OSError, TimeoutError) as exc:
            return Outcome(RETRY, f"relay unreachable: {exc}")

    async def close(self) -> None:
        return None


class GoogleSender:
    """Google Wallet object updates, messages and expiry ("google" channel).

    Unlike pushes these need the member's rows (what was last sent, the
    notification budget), so each batch runs in a thread inside an app context,
    calling `app.services.google_wallet` and committing per job.
    """

    channel = "google"

    def __init__(self, app: Flask) -> None:
        self.app = app

    async def send(self, jobs: list[Job]) -> list[Outcome]:
        return await asyncio.to_thread(self._send_all, jobs)

    def _send_all(self, jobs: list[Job]) -> list[Outcome]:
        with self.app.app_context():
            return [self._send_one(job) for job in jobs]

    def _send_one(self, job: Job) -> Outcome:
        from app.extensions import db
        from app.models import Member, MemberMessage
        from app.services import google_wallet
        from app.services.outbox import GOOGLE_EXPIRE, GOOGLE_MESSAGE, GOOGLE_SYNC

        member_id, _, message_id = job.token.partition(":")
        try:
            member = db.session.get(Member, int(member_id))
            if member is None:
                return Outcome(SENT, "member gone")
            if job.topic == GOOGLE_SYNC:
                google_wallet.sync_object(member)
            elif job.topic == GOOGLE_EXPIRE:
                google_wallet.expire_object(member)
            elif job.topic == GOOGLE_MESSAGE:
                message = db.session.get(MemberMessage, int(message_id))
                if message is not None:
                    google_wallet.add_message(
                        member,
                        message.header,
                        message.body,
                        message_id=f"message-{message.id}",
                    )
            else:
                return Outcome(FAIL, f"unknown google topic {job.topic!r}")
            db.session.commit()
            return Outcome(SENT)
        except google_wallet.GoogleRetryableError as error:
            db.session.rollback()
            return Outcome(RETRY, f"google: {error}"[:300])
        except google_wallet.GooglePermanentError as error:
            db.session.rollback()
            log.error("google delivery %s failed for good: %s", job.id, error)
            return Outcome(FAIL, f"google: {error}"[:300])
        finally:
            db.session.remove()

    async def close(self) -> None:
        return None


def _program_lookup(app: Flask | None) -> Any:
    """Read programs through the app's engine (None outside any app)."""
    from flask import has_app_context

    from app.extensions import db

    if app is not None:
        with app.app_context():
            return programs_from(db.engine)
    if has_app_context():
        return programs_from(db.engine)
    return None


def build_senders(
    config: Mapping[str, Any], app: Flask | None = None
) -> dict[str, Sender]:
    """The senders this deployment's configuration allows (Google needs the app).

    APNs clients are chosen per topic from the programs' credentials, read from
    the app's database (or the current app's, when `app` is not given).
    """
    clients = ApnsClients(config, _program_lookup(app))
    # The deployment's client now, so bad files fail here rather than at a push.
    clients.client(clients.deployment)
    senders: dict[str, Sender] = {"apns": ApnsSender(clients)}
    if config.get("WALLETPASSES_PUSH_URL"):
        senders["android"] = RelaySender(
            str(config["WALLETPASSES_PUSH_URL"]), config.get("WALLETPASSES_API_KEY")
        )
    if app is not None and config.get("GOOGLE_ISSUER_ID"):
        senders["google"] = GoogleSender(app)
    if app is not None:
        # Card links and sign-up codes by SMS and e-mail (app.push.messages).
        from app.push.messages import build_message_senders

        senders.update(build_message_senders(config, app))
    return senders
