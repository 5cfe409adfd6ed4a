"""POS load: concurrent cashiers against gunicorn on a real PostgreSQL.

Starts a throwaway PostgreSQL (tests/support/postgres.py), migrates and fills a
database (demo program, 14 stores, a key per store, MEMBERS members with passes
and a 100-point opening bonus), then for each scenario copies it, starts gunicorn
and lets CASHIERS threads sell: random card, random amount in kopecks, sometimes
redeeming points, and a share of requests sent twice with the same
Idempotency-Key (a till retrying after a lost answer).

Scenarios, in one run so they compare: 1 gunicorn worker at full speed (baseline),
WORKERS workers at full speed, and WORKERS workers at each steady rate in RATES
(purchases per second offered on a fixed schedule: the latency a store chain sees
at that load; when the rate is above capacity the queue grows and so does p99).

After each scenario it checks exactly: every member's balance equals the sum of
their ledger entries; each Idempotency-Key made one purchase and at most one entry
per kind; every retry got the very same answer; the points the tills were told
about add up to the points in the ledger.

With --offer-share S (issue 15, "POS bar with offers in play"): every member
holds a 10 % offer instance, and a share S of purchases redeems one (each
instance once: a cashier takes an unused one); the check then also requires that
the instances redeemed equal the offers the tills were told were redeemed.

    .venv/bin/python bench/pos_load.py [--cashiers 50] [--workers CPUs] [--threads 4]
        [--seconds 12] [--rates 100,300] [--retry-share 0.1] [--members 2000]
        [--offer-share 0.2] [--start-file FILE] [--into DATABASE_URL]

With --into URL the tills sell in that existing database (its first program and
stores) instead of a throwaway server's copies: bench/herd.py --pos-shared.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, insert, select, text  # noqa: E402

import passes  # noqa: E402
from app import create_app  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import (  # noqa: E402
    Device,
    LedgerEntry,
    Member,
    MemberOffer,
    Offer,
    Pass,
    Program,
    Store,
)
from app.models.base import utcnow  # noqa: E402
from app.services.auth import create_key  # noqa: E402
from app.services.demo import seed_demo  # noqa: E402
from app.services.passes import barcode_secret  # noqa: E402
from tests.support.postgres import PostgresServer  # noqa: E402

SECRET_KEY = "bench-secret-" + secrets.token_hex(8)
TILLS = "bench-tills"  # the consent version that marks this bench's members
OPENING_POINTS = 100


class Instances:
    """Unused offer instances (barcode, instance id), handed out once each."""

    def __init__(self, pairs: list[tuple[str, int]]) -> None:
        self.pairs = pairs
        self.lock = threading.Lock()

    def take(self) -> tuple[str, int] | None:
        with self.lock:
            return self.pairs.pop() if self.pairs else None


class Place:
    """Where the tills sell. Normally a throwaway PostgreSQL: a template
    database prepared once and copied for each scenario (dropped after). With
    `--into URL`, that existing, migrated database itself: bench/herd.py
    --pos-rate sells in the herd's database, as the tills and a campaign share
    one in production (and the worker watches the tills there, PUSH_TILLS_FULL).
    It is prepared in place (its first program and stores; no demo seeding),
    never copied or dropped."""

    def __init__(self, into: str | None) -> None:
        self.into = into
        self.server = None if into else PostgresServer().start()

    def template(self) -> str:
        if self.server is None:
            assert self.into is not None
            return self.into
        admin = create_engine(self.server.url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            if not conn.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = 'pos_template'")
            ):
                conn.execute(text("CREATE DATABASE pos_template"))
        admin.dispose()
        return self.server.url("pos_template")

    @contextlib.contextmanager
    def scenario(self, database: str) -> Iterator[str]:
        """A database for one scenario: a fresh copy of the template."""
        if self.server is None:
            assert self.into is not None
            yield self.into
            return
        admin = create_engine(self.server.url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{database}" TEMPLATE pos_template'))
        try:
            yield self.server.url(database)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
            admin.dispose()

    def postmaster_pid(self) -> int:
        if self.server is not None:
            return int((self.server.data / "postmaster.pid").read_text().split()[0])
        # A backend's parent is the postmaster.
        engine = create_engine(self.template())
        with engine.connect() as conn:
            backend = conn.scalar(text("SELECT pg_backend_pid()"))
            stat = Path(f"/proc/{backend}/stat").read_text()  # while it lives
        engine.dispose()
        return int(stat.rsplit(")", 1)[1].split()[1])

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


def prepare_offers(place: Place, barcodes: list[str]) -> list[tuple[str, int]]:
    """In the template database: a 10 % offer, one issued instance of it for
    each bench member. [(barcode, instance id)]"""
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": place.template(),
            "SECRET_KEY": SECRET_KEY,
        }
    )
    numbers = {barcode.partition("-")[0]: barcode for barcode in barcodes}
    with app.app_context():
        member = db.session.scalar(
            select(Member).where(Member.consent_version == TILLS).limit(1)
        )
        assert member is not None
        now = utcnow()
        offer = Offer(
            program_id=member.program_id,
            kind="percent_off",
            value=10,
            title={"ru": "−10 %", "en": "10 % off"},
        )
        db.session.add(offer)
        db.session.flush()
        ids = dict(
            db.session.execute(
                select(Member.card_number, Member.id).where(
                    Member.card_number.in_(list(numbers))
                )
            ).all()
        )
        db.session.execute(
            insert(MemberOffer),
            [
                {
                    "program_id": offer.program_id,
                    "offer_id": offer.id,
                    "member_id": member_id,
                    "source": f"manual:bench:{member_id}",
                    "source_kind": "manual",
                    "source_ref": "",
                    "status": "issued",
                    "issued_at": now,
                    "discount_kopecks": 0,
                }
                for member_id in ids.values()
            ],
        )
        rows = db.session.execute(
            select(Member.card_number, MemberOffer.id)
            .join(MemberOffer, MemberOffer.member_id == Member.id)
            .where(MemberOffer.offer_id == offer.id)
        ).all()
        db.session.commit()
        db.session.execute(text("ANALYZE"))
        db.session.commit()
        db.engine.dispose()
    return [(numbers[number], instance) for number, instance in rows]


@dataclass
class Result:
    latencies_ms: list[float] = field(default_factory=list)
    created: dict[str, dict] = field(default_factory=dict)  # key -> 201 body
    statuses: dict[int, int] = field(default_factory=dict)
    retries: int = 0
    retry_mismatches: int = 0
    errors: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare(
    place: Place, members: int, devices_share: float = 0.0
) -> tuple[list[str], list[str]]:
    """Template database: schema, demo program, keys, members, and for
    `devices_share` of the passes a registered iPhone (each purchase then queues
    a push). (keys, barcodes)"""
    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": place.template(), "SECRET_KEY": SECRET_KEY}
    )
    with app.app_context():
        if place.into:
            # Another bench's program, as it set it up (its pass type, texts).
            found = db.session.scalar(select(Program).order_by(Program.id).limit(1))
            assert found is not None, "--into: the database has no program"
            program = found
        else:
            from flask_migrate import upgrade

            upgrade()
            program = seed_demo()
        db.session.commit()
        keys = [
            create_key("pos", store=store, name="bench").key
            for store in db.session.scalars(select(Store).order_by(Store.id))
        ]
        now = utcnow()
        numbers: set[str] = set(db.session.scalars(select(Member.card_number)))
        fresh = []
        while len(fresh) < members:
            number = passes.new_card_number()
            if number not in numbers:
                numbers.add(number)
                fresh.append(number)
        db.session.execute(
            insert(Member),
            [
                {
                    "program_id": program.id,
                    "card_number": number,
                    "card_token": secrets.token_urlsafe(24),
                    "name": f"Покупатель {i}",
                    "phone": f"+7900{i:07d}",
                    "language": "ru",
                    "city": "Москва",
                    "consent_version": TILLS,
                    "consent_at": now,
                    "points": OPENING_POINTS,
                    "tier": program.base_tier,
                    "offer": "",
                    "created_at": now,
                }
                for i, number in enumerate(fresh)
            ],
        )
        rows = db.session.execute(
            select(Member.id).where(Member.card_number.in_(fresh))
        ).scalars()
        ids = list(rows)
        db.session.execute(
            insert(Pass),
            [
                {
                    "program_id": program.id,
                    "member_id": member_id,
                    "serial_number": secrets.token_hex(10),
                    "authentication_token": secrets.token_urlsafe(24),
                    "update_tag": 0,
                    "content_hash": "",
                    "updated_at": now,
                    "voided": False,
                    "created_at": now,
                }
                for member_id in ids
            ],
        )
        with_devices = ids[: int(len(ids) * devices_share)]
        if with_devices:
            db.session.execute(
                insert(Device),
                [
                    {
                        "device_library_identifier": f"bench-{member_id}",
                        "push_token": secrets.token_hex(32),
                        "platform": "apple",
                        "created_at": now,
                        "updated_at": now,
                    }
                    for member_id in with_devices
                ],
            )
            db.session.execute(
                text(
                    "INSERT INTO registration (device_id, pass_id, created_at)"
                    " SELECT device.id, pass.id, :now FROM device JOIN pass"
                    " ON device.device_library_identifier"
                    " = 'bench-' || CAST(pass.member_id AS VARCHAR)"
                ),
                {"now": now.replace(tzinfo=None)},
            )
        db.session.execute(
            insert(LedgerEntry),
            [
                {
                    "program_id": program.id,
                    "member_id": member_id,
                    "kind": "bonus",
                    "points": OPENING_POINTS,
                    "idempotency_key": f"welcome:{member_id}",
                    "note": "",
                    "created_at": now,
                }
                for member_id in ids
            ],
        )
        db.session.commit()
        db.session.execute(text("ANALYZE"))
        db.session.commit()
        secret = barcode_secret()
        barcodes = [passes.barcode_payload(n, secret) for n in fresh]
        db.engine.dispose()
    return keys, barcodes


def process_tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process and its descendants
    still alive (from /proc; 0 for processes that are gone)."""
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            stat = Path(f"/proc/{current}/stat").read_text()
            fields = stat.rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            for task in Path(f"/proc/{current}/task").iterdir():
                children = (task / "children").read_text().split()
                pending.extend(int(child) for child in children)
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


class Gunicorn:
    def __init__(
        self,
        database_url: str,
        workers: int,
        threads: int,
        worker_class: str,
        root: Path = ROOT,
    ) -> None:
        self.port = free_port()
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115  (closed in stop)
            prefix="bench-gunicorn-", suffix=".log", delete=False
        )
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "SECRET_KEY": SECRET_KEY,
            # http: development certificates, which https (production) refuses.
            "PUBLIC_BASE_URL": "http://wallet.bench",
        }
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--workers",
                str(workers),
                "--worker-class",
                worker_class,
                "--threads",
                str(threads),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--log-level",
                "warning",
                "--keep-alive",
                "30",
                "wsgi:app",
            ],
            cwd=root,
            env=env,
            stdout=subprocess.DEVNULL,
            # A file, not a pipe: an unread pipe fills up with the request log and
            # then blocks every worker.
            stderr=self.log,
        )

    def wait_ready(self, key: str) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/api/v1/pos/me", headers=auth(key))
                if conn.getresponse().status == 200:
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("gunicorn did not start")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()
        os.unlink(self.log.name)


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def cashier(
    port: int,
    key: str,
    barcodes: list[str],
    stop_at: float,
    interval: float | None,
    retry_share: float,
    result: Result,
    seed: int,
    offers: Instances | None = None,
    offer_share: float = 0.0,
) -> None:
    rng = random.Random(seed)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    next_at = time.monotonic() + rng.random() * (interval or 0)

    def send(body: bytes, idem: str) -> tuple[int, bytes, float]:
        nonlocal conn
        headers = {
            **auth(key),
            "Content-Type": "application/json",
            "Idempotency-Key": idem,
        }
        for attempt in range(3):
            started = time.perf_counter()
            try:
                conn.request("POST", "/api/v1/pos/transactions", body, headers)
                response = conn.getresponse()
                data = response.read()
                return response.status, data, (time.perf_counter() - started) * 1000
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    while True:
        if interval is not None:
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            next_at += interval
        if time.monotonic() >= stop_at:
            break
        redeem = rng.randint(1, 30) if rng.random() < 0.3 else 0
        purchase: dict[str, object] = {
            "code": rng.choice(barcodes),
            "amount": f"{rng.randint(10_000, 500_000) / 100:.2f}",
            "receipt_id": uuid.uuid4().hex[:12],
            "redeem_points": redeem,
        }
        held = offers.take() if offers and rng.random() < offer_share else None
        if held is not None:
            purchase["code"], purchase["offer_ids"] = held[0], [held[1]]
        body = json.dumps(purchase).encode()
        idem = str(uuid.uuid4())
        try:
            status, data, ms = send(body, idem)
        except (OSError, http.client.HTTPException):
            with result.lock:
                result.errors += 1
            continue
        retried = None
        if rng.random() < retry_share:
            retried = send(body, idem)
        with result.lock:
            result.latencies_ms.append(ms)
            result.statuses[status] = result.statuses.get(status, 0) + 1
            if status == 201:
                result.created[idem] = json.loads(data)
            if retried is not None:
                result.retries += 1
                result.latencies_ms.append(retried[2])
                if retried[0] != status or json.loads(retried[1]) != json.loads(data):
                    result.retry_mismatches += 1


def run_scenario(
    place: Place,
    name: str,
    keys: list[str],
    barcodes: list[str],
    workers: int,
    threads: int,
    worker_class: str,
    cashiers: int,
    seconds: float,
    rate: float | None,
    retry_share: float,
    code: tuple[str, Path] = ("new", ROOT),
    instances: list[tuple[str, int]] | None = None,
    offer_share: float = 0.0,
    start_file: Path | None = None,
) -> dict[str, str]:
    database = f"pos_{name}_{code[0]}"
    with place.scenario(database) as url:
        gunicorn = Gunicorn(url, workers, threads, worker_class, root=code[1])
        postmaster = place.postmaster_pid()
        try:
            gunicorn.wait_ready(keys[0])
            for key in keys:  # first use writes last_used_at; keep it out of the timing
                gunicorn.wait_ready(key)
            if start_file is not None:
                start_file.with_suffix(".ready").touch()  # set up: the herd may begin
                # Another bench says when (bench/herd.py --pos-rate: its pushes began).
                deadline = time.monotonic() + 3600
                while not start_file.exists() and time.monotonic() < deadline:
                    time.sleep(0.05)
            # Warm-up (connections, imports, caches), then the measured run.
            warm = Result()
            interval = cashiers / rate if rate else None
            # Each scenario's database is a fresh copy: every instance unused again.
            offers = Instances(list(instances)) if instances else None
            for phase, result, duration in (
                ("warm", warm, 2.0),
                ("run", None, seconds),
            ):
                result = result or Result()
                stop_at = time.monotonic() + duration
                started = time.perf_counter()
                pool = [
                    threading.Thread(
                        target=cashier,
                        args=(
                            gunicorn.port,
                            keys[i % len(keys)],
                            barcodes,
                            stop_at,
                            interval,
                            retry_share,
                            result,
                            hash((name, phase, i)),
                            offers,
                            offer_share,
                        ),
                    )
                    for i in range(cashiers)
                ]
                cpu_before = (
                    process_tree_cpu(gunicorn.process.pid),
                    process_tree_cpu(postmaster),
                    time.process_time(),
                )
                load_before = os.getloadavg()[0]
                for thread in pool:
                    thread.start()
                for thread in pool:
                    thread.join()
                elapsed = time.perf_counter() - started
                cpu = (
                    process_tree_cpu(gunicorn.process.pid) - cpu_before[0],
                    process_tree_cpu(postmaster) - cpu_before[1],
                    time.process_time() - cpu_before[2],
                )
                load = (load_before + os.getloadavg()[0]) / 2
            if start_file is not None:
                start_file.with_suffix(".done").touch()
            created = {**warm.created, **result.created}
            problems = verify(url, created, warm, result)
        finally:
            gunicorn.stop()
    with_offer = sum(
        1 for body in result.created.values() if body.get("offers_redeemed")
    )
    ordered = sorted(result.latencies_ms)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    purchases = len(result.created)
    per_purchase = [f"{seconds * 1000 / max(purchases, 1):.2f}" for seconds in cpu]
    return {
        "scenario": name,
        "code": code[0],
        "workers": str(workers),
        "cashiers": str(cashiers),
        "offered": f"{rate:.0f}/s" if rate else "max",
        "purchases/s": f"{purchases / elapsed:.0f}",
        "requests/s": f"{len(ordered) / elapsed:.0f}",
        "p50 ms": f"{statistics.median(ordered):.1f}",
        "p99 ms": f"{p99:.1f}",
        "app CPU ms": per_purchase[0],
        "PG CPU ms": per_purchase[1],
        "client CPU ms": per_purchase[2],
        "load": f"{load:.1f}",
        "retried": str(result.retries),
        "with offer": str(with_offer),
        "statuses": " ".join(f"{k}:{v}" for k, v in sorted(result.statuses.items())),
        "check": "exact" if not problems else "; ".join(problems),
    }


def verify(database_url: str, created: dict[str, dict], *results: Result) -> list[str]:
    """Exact consistency checks; returns the problems found (none expected)."""
    problems = []
    engine = create_engine(database_url)
    with engine.connect() as conn:
        wrong = conn.execute(
            text(
                "SELECT count(*) FROM member m LEFT JOIN (SELECT member_id, sum(points)"
                " AS s FROM ledger_entry GROUP BY member_id) l ON l.member_id = m.id"
                " WHERE m.points <> coalesce(l.s, 0) AND m.consent_version = :tills"
            ),
            {"tills": TILLS},
        ).scalar_one()
        if wrong:
            problems.append(f"{wrong} balances differ from their ledger")
        stored = dict(
            conn.execute(text("SELECT idempotency_key, id FROM pos_transaction")).all()
        )
        if set(stored) != set(created):
            problems.append(
                f"purchases stored {len(stored)} != answered 201 {len(created)}"
            )
        if any(stored.get(k) != body["transaction_id"] for k, body in created.items()):
            problems.append("a key's answer names another purchase")
        doubled = conn.execute(
            text(
                "SELECT count(*) FROM (SELECT transaction_id, kind FROM ledger_entry"
                " WHERE transaction_id IS NOT NULL GROUP BY transaction_id, kind"
                " HAVING count(*) > 1) d"
            )
        ).scalar_one()
        if doubled:
            problems.append(f"{doubled} purchases with a doubled entry")
        moved = conn.execute(
            text(
                "SELECT coalesce(sum(points), 0) FROM ledger_entry"
                " WHERE kind IN ('earn', 'redeem')"
            )
        ).scalar_one()
        told = sum(body["earned"] - body["redeemed"] for body in created.values())
        if moved != told:
            problems.append(f"ledger moved {moved} points, tills were told {told}")
        redeemed = conn.execute(
            text("SELECT count(*) FROM member_offer WHERE status = 'redeemed'")
        ).scalar_one()
        said = sum(len(body.get("offers_redeemed") or []) for body in created.values())
        if redeemed != said:
            problems.append(f"{redeemed} offers redeemed, tills were told {said}")
    engine.dispose()
    mismatches = sum(r.retry_mismatches for r in results)
    if mismatches:
        problems.append(f"{mismatches} retries got a different answer")
    errors = sum(r.errors for r in results)
    if errors:
        problems.append(f"{errors} requests failed at the network level")
    return problems


def table(rows: list[dict[str, str]]) -> str:
    headers = list(rows[0])
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row[h] for h in headers) + " |" for row in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cashiers", type=int, default=50)
    # One gunicorn process per core served most (docs/performance.md, "POS").
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--worker-class", default="gthread")
    parser.add_argument("--seconds", type=float, default=12)
    parser.add_argument(
        "--rates",
        default="100,300",
        help="steady purchase rates to offer, comma-separated (purchases/s)",
    )
    parser.add_argument("--retry-share", type=float, default=0.1)
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument(
        "--devices-share",
        type=float,
        default=0.0,
        help="share of passes with a registered device (a push queued per sale)",
    )
    parser.add_argument(
        "--offer-share",
        type=float,
        default=0.0,
        help="share of purchases redeeming an offer instance (each member holds one)",
    )
    parser.add_argument(
        "--baseline",
        help="another code tree (e.g. `git archive <commit> | tar -x -C DIR`) to "
        "run every scenario against too, alternating with this one",
    )
    parser.add_argument(
        "--start-file",
        type=Path,
        help="wait for this file to exist before each scenario's warm-up, touch "
        "FILE.done after its measured run (bench/herd.py --pos-rate)",
    )
    parser.add_argument(
        "--into",
        help="sell in this existing, migrated PostgreSQL database (its first "
        "program) instead of a throwaway server: one scenario, never copied or "
        "dropped (bench/herd.py --pos-rate)",
    )
    parser.add_argument(
        "--scenarios",
        default="baseline,scaled,steady",
        help="which of baseline (1 worker), scaled, steady (the --rates) to run",
    )
    args = parser.parse_args()
    codes = [("new", ROOT)]
    if args.baseline:
        codes.insert(0, ("old", Path(args.baseline).resolve()))
    chosen = set(args.scenarios.split(","))

    place = Place(args.into)
    try:
        with tempfile.TemporaryDirectory():
            keys, barcodes = prepare(place, args.members, args.devices_share)
            instances = prepare_offers(place, barcodes) if args.offer_share else None
        common = {
            "keys": keys,
            "barcodes": barcodes,
            "threads": args.threads,
            "worker_class": args.worker_class,
            "cashiers": args.cashiers,
            "seconds": args.seconds,
            "retry_share": args.retry_share,
            "instances": instances,
            "offer_share": args.offer_share,
            "start_file": args.start_file,
        }
        plan: list[tuple[str, int, float | None]] = []
        if "baseline" in chosen:
            plan.append(("baseline", 1, None))
        if "scaled" in chosen:
            plan.append(("scaled", args.workers, None))
        if "steady" in chosen:
            for rate in (float(r) for r in args.rates.split(",") if r):
                plan.append((f"steady_{rate:.0f}", args.workers, rate))
        rows = [
            run_scenario(place, name, workers=workers, rate=rate, code=code, **common)
            for name, workers, rate in plan
            for code in codes
        ]
    finally:
        place.stop()
    print(
        f"\nPOS load: {args.cashiers} cashiers, {args.retry_share:.0%} retried with "
        f"the same Idempotency-Key, {args.offer_share:.0%} redeeming an offer, "
        f"{args.members} members, PostgreSQL, gunicorn "
        f"{args.worker_class} x{args.threads} threads, {os.cpu_count()} CPUs; CPU "
        f"ms = CPU time per purchase of gunicorn (app), PostgreSQL and this "
        f"process (the cashiers); load = 1-minute load average\n"
    )
    print(table(rows))


if __name__ == "__main__":
    main()
