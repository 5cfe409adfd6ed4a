"""The outbox worker: claim due rows with a lease, send them, record the outcomes.

Crash safety: a claimed row carries `lease_owner`/`lease_expires_at`; if the worker
dies, the row becomes claimable again when the lease expires (at-least-once, never
lost). On PostgreSQL several workers claim with `FOR UPDATE SKIP LOCKED`, so no
row is sent by two workers at the same time. SQLite runs one worker.

The database work is Core SQL on the engine, run in threads, so the event loop
keeps sending one batch while the next is claimed and the previous recorded.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import random
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Engine,
    and_,
    bindparam,
    delete,
    exists,
    func,
    or_,
    select,
    update,
)

from app.models import (
    Device,
    Pass,
    PosTransaction,
    Program,
    PushDelivery,
    Registration,
)
from app.models.base import utcnow
from app.models.push import DROPPED, FAILED, QUEUED, SENT
from app.push import senders as s

log = logging.getLogger(__name__)
T = PushDelivery.__table__


@dataclass
class Settings:
    batch_size: int = 1000
    batches_in_flight: int = 3
    lease_seconds: float = 120.0
    max_attempts: int = 8
    retry_base_seconds: float = 2.0
    retry_cap_seconds: float = 900.0
    # A row fails only after max_attempts AND this long since it was queued: an
    # APNs outage of hours must not fail every queued update (the attempts run
    # out within minutes of backoff), while a token Apple keeps refusing still
    # stops being tried.
    give_up_seconds: float = 86400.0
    poll_seconds: float = 1.0
    # Devices per second at most (0: unlimited): each pushed device soon asks
    # the web tier for its pass, so pushes go no faster than it can serve them.
    rate_limit: float = 0.0
    # Paced, pushes go out in steps of this many seconds' worth (a trickle of
    # phones, not a burst each second), and the passes of `sign_steps` steps
    # are signed together just before the first of them: each sign-ahead call
    # has a fixed cost (its queries, the signer): signing every step alone
    # doubled the worker's CPU per device in the herd bench at 30/s.
    step_seconds: float = 0.1
    sign_steps: int = 5
    # Yielding to the tills (paced only): at this many purchases per second the
    # herd slows to `tills_floor` of `rate_limit`, in proportion below it (0:
    # off). The tills and the herd share the web tier's CPU; a purchase is the
    # work that must not wait.
    tills_full: float = 0.0
    tills_floor: float = 0.05
    tills_poll_seconds: float = 0.25

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Settings:
        names = {
            "batch_size": "PUSH_BATCH_SIZE",
            "batches_in_flight": "PUSH_BATCHES_IN_FLIGHT",
            "lease_seconds": "PUSH_LEASE_SECONDS",
            "max_attempts": "PUSH_MAX_ATTEMPTS",
            "retry_base_seconds": "PUSH_RETRY_BASE_SECONDS",
            "retry_cap_seconds": "PUSH_RETRY_CAP_SECONDS",
            "give_up_seconds": "PUSH_GIVE_UP_SECONDS",
            "poll_seconds": "PUSH_POLL_SECONDS",
            "rate_limit": "PUSH_RATE_LIMIT",
            "step_seconds": "PUSH_STEP_SECONDS",
            "sign_steps": "PUSH_SIGN_STEPS",
            "tills_full": "PUSH_TILLS_FULL",
            "tills_floor": "PUSH_TILLS_FLOOR",
        }
        values: dict[str, Any] = {}
        for attribute, name in names.items():
            if config.get(name) not in (None, ""):
                kind = type(getattr(cls, attribute))
                values[attribute] = kind(config[name])
        return cls(**values)


@dataclass
class Stats:
    counters: collections.Counter[str] = field(default_factory=collections.Counter)
    seconds: collections.defaultdict[str, float] = field(
        default_factory=lambda: collections.defaultdict(float)
    )


# Channels whose devices then download the .pkpass from the web service.
PKPASS_CHANNELS = frozenset({"apns", "android"})


class Pacer:
    """At most `rate` x `share` sends per second on average (rate 0: no
    limit); `share` (0-1] is what the tills leave (TillWatch)."""

    def __init__(
        self,
        rate: float,
        clock: Callable[[], float] = time.monotonic,
        step_seconds: float = 0.1,
    ) -> None:
        self.rate = rate
        self.share = 1.0
        self.step_seconds = step_seconds
        self._clock = clock
        self._free_at = 0.0

    @property
    def current(self) -> float:
        return self.rate * self.share

    def delay(self, count: int) -> float:
        """Seconds to wait before sending `count` more; books them."""
        if self.rate <= 0:
            return 0.0
        now = self._clock()
        start = max(now, self._free_at)
        self._free_at = start + count / self.current
        return start - now

    def batch(self, size: int) -> int:
        """A claim size of about a second's worth (or `size`, unpaced)."""
        if self.rate <= 0:
            return size
        return max(1, min(size, int(self.current)))

    def step(self) -> int:
        """Devices signed and pushed together when paced: about step_seconds'
        worth, so the herd (and the signing) arrives as a trickle, not in
        one-second bursts the tills would feel (0: unpaced)."""
        if self.rate <= 0:
            return 0
        return max(1, int(self.current * self.step_seconds))


class TillWatch:
    """Purchases per second at the tills, from the growth of the highest
    `pos_transaction` id over the last `window` seconds: the tills and the
    worker share the database, and that read is one step down the primary
    key, whatever the table's size."""

    def __init__(
        self,
        engine: Engine,
        window: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.window = window
        self._clock = clock
        self._seen: collections.deque[tuple[float, int]] = collections.deque()
        self._query = select(func.max(PosTransaction.id))

    def sample(self) -> float:
        """Purchases per second lately (0 until two reads are apart)."""
        with self.engine.connect() as conn:
            top = int(conn.scalar(self._query) or 0)
        now = self._clock()
        seen = self._seen
        seen.append((now, top))
        # The reference is the newest read that is at least `window` old
        # (older ones are dropped), so the rate spans window..window+poll.
        while len(seen) > 2 and now - seen[1][0] >= self.window:
            seen.popleft()
        then, before = seen[0]
        if now - then <= 0:
            return 0.0
        return max(0, top - before) / (now - then)


def till_share(tills: float, full: float, floor: float) -> float:
    """The herd's share of its rate beside `tills` purchases/s: what the tills
    leave of the web tier, if `full` purchases/s would take all of it, never
    below `floor` (a campaign still moves on a busy day)."""
    if full <= 0:
        return 1.0
    return min(1.0, max(floor, 1.0 - tills / full))


class Worker:
    def __init__(
        self,
        engine: Engine,
        senders: Mapping[str, s.Sender],
        settings: Settings | None = None,
        owner: str | None = None,
        sign_ahead: Callable[[list[int]], int] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        # The time claims and records go by (tests pass a fixed moment).
        self.clock = clock
        self.senders = dict(senders)
        self.settings = settings or Settings()
        # Signs a batch's passes into the shared cache before their pushes go
        # out (services.pass_cache), so the herd of downloads finds them signed.
        self.sign_ahead = sign_ahead
        self.pacer = Pacer(
            self.settings.rate_limit, step_seconds=self.settings.step_seconds
        )
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}"[:64]
        self.stats = Stats()
        self._stop = asyncio.Event()
        self._last_report = time.monotonic()
        self._last_totals: tuple[tuple[str, int], ...] = ()

    # -- database (run in threads) ------------------------------------------
    def claim(self, limit: int) -> list[s.Job]:
        """Lease up to `limit` due rows of the channels we can send."""
        started, cpu = time.perf_counter(), time.thread_time()
        now = self.clock()
        due = (
            select(T.c.id)
            .where(
                T.c.status == QUEUED,
                T.c.next_attempt_at <= now,
                or_(T.c.lease_expires_at.is_(None), T.c.lease_expires_at < now),
                T.c.channel.in_(list(self.senders)),
            )
            .order_by(T.c.next_attempt_at, T.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)  # PostgreSQL; SQLite ignores it
        )
        stmt = (
            update(T)
            .where(T.c.id.in_(due.scalar_subquery()))
            .values(
                lease_owner=self.owner,
                lease_expires_at=now + timedelta(seconds=self.settings.lease_seconds),
            )
            .returning(
                T.c.id,
                T.c.channel,
                T.c.topic,
                T.c.push_token,
                T.c.generation,
                T.c.attempts,
                T.c.device_id,
                T.c.pass_id,
                T.c.created_at,
            )
        )
        with self.engine.begin() as conn:
            jobs = [s.Job(*row) for row in conn.execute(stmt)]
        self.stats.seconds["claim"] += time.perf_counter() - started
        self.stats.seconds["claim_cpu"] += time.thread_time() - cpu
        return jobs

    def record(self, jobs: list[s.Job], outcomes: list[s.Outcome]) -> None:
        """Write the outcomes; rows leased by someone else meanwhile are left alone."""
        started, cpu = time.perf_counter(), time.thread_time()
        now = self.clock()
        settings = self.settings
        sent: dict[int, list[int]] = collections.defaultdict(list)
        retries: list[dict[str, Any]] = []
        deferred: list[dict[str, Any]] = []
        finals: list[dict[str, Any]] = []
        drops: list[s.Job] = []
        counters = self.stats.counters
        for job, outcome in zip(jobs, outcomes, strict=True):
            if outcome.kind == s.SENT:
                counters["sent"] += 1
                sent[job.generation].append(job.id)
                continue
            if outcome.kind == s.DEFER:
                # Not tried (a fallback message in quiet hours): it waits, and
                # the wait is no failed attempt.
                counters["deferred"] += 1
                deferred.append(
                    {"b_id": job.id, "next_attempt_at": max(now, outcome.until or now)}
                )
                continue
            attempts = job.attempts + 1
            reason = (outcome.reason or "")[:200]
            if outcome.kind == s.RETRY and (
                attempts < settings.max_attempts or not self._waited_enough(job, now)
            ):
                retry_at = now + timedelta(seconds=self.backoff(attempts))
                if outcome.hold is not None:
                    retry_at = outcome.hold(retry_at)  # not in the quiet hours
                retries.append(
                    {
                        "b_id": job.id,
                        "attempts": attempts,
                        "next_attempt_at": retry_at,
                        "last_reason": reason,
                    }
                )
                counters["retried"] += 1
                continue
            final = DROPPED if outcome.kind == s.DROP else FAILED
            counters[final] += 1
            finals.append(
                {
                    "b_id": job.id,
                    "status": final,
                    "attempts": attempts,
                    "last_reason": reason,
                }
            )
            if outcome.kind == s.DROP:
                drops.append(job)
        mine = and_(T.c.lease_owner == self.owner, T.c.status == QUEUED)
        released = {"lease_owner": None, "lease_expires_at": None, "updated_at": now}
        with self.engine.begin() as conn:
            for generation, ids in sent.items():
                for start in range(0, len(ids), 1000):
                    chunk = ids[start : start + 1000]
                    done = conn.execute(
                        update(T)
                        .where(T.c.id.in_(chunk), T.c.generation == generation, mine)
                        .values(
                            status=SENT,
                            pending_key=None,
                            attempts=T.c.attempts + 1,
                            sent_at=now,
                            **released,
                        )
                    ).rowcount
                    if done == len(chunk):
                        continue  # the usual case: one statement per chunk
                    # A change arrived while we were sending (generation moved):
                    # the row stays queued and goes out again.
                    conn.execute(
                        update(T)
                        .where(T.c.id.in_(chunk), mine)
                        .values(next_attempt_at=now, attempts=0, **released)
                    )
            if retries:
                conn.execute(
                    update(T)
                    .where(T.c.id == bindparam("b_id"), mine)
                    .values(
                        attempts=bindparam("attempts"),
                        next_attempt_at=bindparam("next_attempt_at"),
                        last_reason=bindparam("last_reason"),
                        **released,
                    ),
                    retries,
                )
            if deferred:
                conn.execute(
                    update(T)
                    .where(T.c.id == bindparam("b_id"), mine)
                    .values(next_attempt_at=bindparam("next_attempt_at"), **released),
                    deferred,
                )
            if finals:
                conn.execute(
                    update(T)
                    .where(T.c.id == bindparam("b_id"), mine)
                    .values(
                        status=bindparam("status"),
                        attempts=bindparam("attempts"),
                        last_reason=bindparam("last_reason"),
                        pending_key=None,
                        **released,
                    ),
                    finals,
                )
            for job in drops:
                self._forget_token(conn, job)
        self.stats.seconds["record"] += time.perf_counter() - started
        self.stats.seconds["record_cpu"] += time.thread_time() - cpu

    def _waited_enough(self, job: s.Job, now: datetime) -> bool:
        if job.created_at is None:
            return True
        waited = (now - job.created_at).total_seconds()
        return waited >= self.settings.give_up_seconds

    @staticmethod
    def _forget_token(conn: Any, job: s.Job) -> None:
        """A dead token: remove the device's registrations for this pass type, and
        the device when it has none left (unless it re-registered a new token)."""
        if job.device_id is None:
            return
        device = Device.__table__
        registration = Registration.__table__
        same_token = and_(
            device.c.id == job.device_id, device.c.push_token == job.token
        )
        if conn.execute(select(device.c.id).where(same_token)).first() is None:
            return
        of_topic = (
            select(Pass.id)
            .join(Program, Program.id == Pass.program_id)
            .where(Program.pass_type_identifier == job.topic)
        )
        conn.execute(
            delete(registration).where(
                registration.c.device_id == job.device_id,
                registration.c.pass_id.in_(of_topic),
            )
        )
        conn.execute(
            delete(device).where(
                same_token,
                ~exists().where(registration.c.device_id == device.c.id),
            )
        )

    def pending(self) -> bool:
        """Whether any row of our channels is still queued (now or later)."""
        query = select(T.c.id).where(
            T.c.status == QUEUED, T.c.channel.in_(list(self.senders))
        )
        with self.engine.connect() as conn:
            return conn.execute(query.limit(1)).first() is not None

    def backoff(self, attempts: int) -> float:
        """Exponential backoff with jitter: base * 2^(n-1), capped, times 0.5..1."""
        settings = self.settings
        delay = min(
            settings.retry_cap_seconds,
            settings.retry_base_seconds * 2.0 ** (attempts - 1),
        )
        return delay * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not crypto

    # -- the loop ------------------------------------------------------------
    async def _sign_ahead(self, jobs: list[s.Job]) -> None:
        if self.sign_ahead is None:
            return
        pass_ids = [
            job.pass_id
            for job in jobs
            if job.pass_id is not None and job.channel in PKPASS_CHANNELS
        ]
        if not pass_ids:
            return
        started = time.perf_counter()
        try:
            self.stats.counters["signed_ahead"] += await asyncio.to_thread(
                self.sign_ahead, pass_ids
            )
        except Exception:
            # Only an optimisation: the web service signs on a cache miss.
            log.exception("push worker could not sign %d passes ahead", len(pass_ids))
        self.stats.seconds["sign_ahead"] += time.perf_counter() - started

    async def process(self, jobs: list[s.Job]) -> None:
        # Signed and sent slice by slice. Unpaced, the first slice is small: the
        # first phones are pushed once ~FIRST_SLICE passes are signed, not the
        # whole batch (docs/performance.md, "The device herd"). Paced, a slice
        # is `sign_steps` pacer steps, signed only when the turn of its first
        # step has come, then pushed step by step at the rate: the worker's CPU
        # for signing follows the pushes, just ahead of them, instead of a
        # claimed batch signed at once.
        ordered: list[s.Job] = []
        outcomes: list[s.Outcome] = []
        step = self.pacer.step()
        if step:
            chunk = step * max(1, self.settings.sign_steps)
            parts = _slices(jobs, chunk, grow=False)
        else:
            parts = _slices(jobs, FIRST_SLICE)
        for part in parts:
            signed = False
            for piece in _slices(part, step, grow=False) if step else [part]:
                if step:
                    wait = self.pacer.delay(len(piece))
                    if wait > 0:
                        await self._sleep(wait)
                if not signed:
                    await self._sign_ahead(part)
                    signed = True
                sent, results = await self._send(piece)
                ordered.extend(sent)
                outcomes.extend(results)
        try:
            await asyncio.to_thread(self.record, ordered, outcomes)
        except Exception:
            # The leases expire and the rows are retried: nothing is lost.
            log.exception("push worker could not record %d outcomes", len(jobs))

    async def _send(self, jobs: list[s.Job]) -> tuple[list[s.Job], list[s.Outcome]]:
        started = time.perf_counter()
        by_channel: dict[str, list[s.Job]] = collections.defaultdict(list)
        for job in jobs:
            by_channel[job.channel].append(job)
        groups = list(by_channel.items())
        results = await asyncio.gather(
            *(self.senders[channel].send(group) for channel, group in groups),
            return_exceptions=True,
        )
        ordered: list[s.Job] = []
        outcomes: list[s.Outcome] = []
        for (channel, group), result in zip(groups, results, strict=True):
            if isinstance(result, BaseException):
                log.error("push sender %s failed: %r", channel, result)
                result = [s.Outcome(s.RETRY, f"sender error: {result!r}")] * len(group)
            ordered.extend(group)
            outcomes.extend(result)
        self.stats.seconds["send"] += time.perf_counter() - started
        return ordered, outcomes

    def stop(self) -> None:
        self._stop.set()

    async def run(self, *, until_idle: bool = False) -> Stats:
        """Drain the outbox; with `until_idle`, return once nothing is queued."""
        settings = self.settings
        in_flight: set[asyncio.Task[None]] = set()
        log.info(
            "push worker %s started (channels %s, nice %d)",
            self.owner,
            ",".join(self.senders),
            os.nice(0),
        )
        watching: asyncio.Task[None] | None = None
        if settings.tills_full > 0 and settings.rate_limit > 0:
            watching = asyncio.create_task(self.yield_to_tills(TillWatch(self.engine)))
        try:
            while not self._stop.is_set():
                self._report()
                if len(in_flight) >= settings.batches_in_flight:
                    await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                    continue
                try:
                    jobs = await asyncio.to_thread(
                        self.claim, self.pacer.batch(settings.batch_size)
                    )
                except Exception:
                    log.exception("push worker could not claim rows")
                    jobs = []
                    await self._sleep(settings.poll_seconds)
                if jobs:
                    # Paced, `process` waits its turn slice by slice.
                    task = asyncio.create_task(self.process(jobs))
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
                    continue
                if in_flight:
                    await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                    continue
                if until_idle and not await asyncio.to_thread(self.pending):
                    break
                await self._sleep(
                    min(settings.poll_seconds, settings.retry_base_seconds / 2)
                    if until_idle
                    else settings.poll_seconds
                )
            if in_flight:
                await asyncio.wait(in_flight)
        finally:
            if watching is not None:
                watching.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watching
            for sender in self.senders.values():
                await sender.close()
            self._report(force=True)
        return self.stats

    async def yield_to_tills(self, watch: TillWatch) -> None:
        """Keep the pacer's share at what the tills leave (PUSH_TILLS_FULL),
        read every `tills_poll_seconds`: a till starting to sell slows the next
        pushes within a fraction of a second, and the herd speeds up again once
        the tills quieten."""
        while not self._stop.is_set():
            try:
                await asyncio.to_thread(self.heed_tills, watch)
            except Exception:
                # The pace stays as it was; the next read tries again.
                log.exception("push worker could not read the tills' rate")
            await self._sleep(self.settings.tills_poll_seconds)

    def tills_floor(self) -> float:
        """PUSH_TILLS_FLOOR, but never so low that the batches claimed at the
        full rate just before the tills started (up to `batches_in_flight`
        seconds' worth) take more than half their lease: a lease that runs out
        lets the rows be claimed and pushed again."""
        settings = self.settings
        least = 2 * settings.batches_in_flight / max(settings.lease_seconds, 1.0)
        return min(1.0, max(settings.tills_floor, least))

    def heed_tills(self, watch: TillWatch) -> float:
        """One read of the tills' rate; sets and returns the pacer's share."""
        settings = self.settings
        tills = watch.sample()
        share = till_share(tills, settings.tills_full, self.tills_floor())
        if (share < 1.0) != (self.pacer.share < 1.0):
            log.info(
                "push worker: tills at %.0f purchases/s, pushing at %.1f/s",
                tills,
                settings.rate_limit * share,
            )
        self.pacer.share = share
        return share

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)

    def _report(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_report < 30:
            return
        self._last_report = now
        counters, seconds = self.stats.counters, self.stats.seconds
        # An idle worker says nothing: a line only when something was delivered,
        # retried, dropped or failed since the last one (and once at the end).
        totals = tuple(sorted(counters.items()))
        if not force and totals == self._last_totals:
            return
        self._last_totals = totals
        log.info(
            "push worker %s: sent=%d retried=%d deferred=%d dropped=%d failed=%d "
            "claim_s=%.2f (cpu %.2f) send_s=%.2f record_s=%.2f (cpu %.2f)",
            self.owner,
            counters["sent"],
            counters["retried"],
            counters["deferred"],
            counters[DROPPED],
            counters[FAILED],
            seconds["claim"],
            seconds["claim_cpu"],
            seconds["send"],
            seconds["record"],
            seconds["record_cpu"],
        )


# The first slice of a claimed batch signed ahead and pushed (then 2x, 4x...).
FIRST_SLICE = 50


def _slices(
    jobs: list[s.Job], first: int, *, grow: bool = True
) -> Iterator[list[s.Job]]:
    """`jobs` in consecutive slices of first, 2 x first, 4 x first... items
    (all of `first` items without `grow`)."""
    start, size = 0, first
    while start < len(jobs):
        yield jobs[start : start + size]
        start = start + size
        if grow:
            size *= 2
