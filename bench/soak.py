"""Soak: sign-ups, device registrations and polling, POS purchases and campaigns
at once, against the production setup on loopback, for a bounded time; then it reports
errors and lost work, which must both be zero.

Starts its own PostgreSQL, the APNs stand-in (real TLS + HTTP/2, certificate mode)
as a process, gunicorn with the app (several processes, Prometheus multiprocess
mode) and a push worker (`flask --app wsgi worker`). Load, in threads:
- sign-ups through the real form (GET /join for the CSRF token, POST), some sent
  twice as a retrying phone would; then the .pkpass download and a device
  registration with the pass's authentication token;
- devices polling for changed serials and downloading changed passes;
- POS purchases by barcode (one Idempotency-Key each; some retried);
- a marketer: --campaigns campaigns to all members created and scheduled through
  the API during the load (the worker's scheduler sends them), their progress
  polled.
At the end the outbox must drain and the campaigns finish, and: every member's
balance equals its ledger sum, every purchase answered 201 is in the database
once, every sign-up made exactly one member, every registered device whose pass
changed after it registered got a push at the stand-in, every member who existed
when a campaign started got its message exactly once, and every device
registered before its pass got a campaign message was pushed afterwards.

    .venv/bin/python bench/soak.py [--seconds 60] [--web 2] [--threads 2]
        [--campaigns 2]
"""

from __future__ import annotations

import argparse
import collections
import io
import json
import os
import random
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, select, text  # noqa: E402

import passes  # noqa: E402
from tests.support.postgres import PostgresServer  # noqa: E402

TOPIC = "pass.soak.wallet"
TEAM = "SOAKTEAM01"
PATIENCE = 120  # seconds to wait for start-up and for the outbox to drain


@dataclass
class Card:
    phone: str
    card_token: str
    serial: str
    auth: str
    barcode: str
    device: str
    push_token: str
    tag: str = ""
    last_modified: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)


class Tally:
    """Counts and latencies per operation, and unexpected answers."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ok: collections.Counter[str] = collections.Counter()
        self.errors: collections.Counter[tuple[str, str]] = collections.Counter()
        self.latency: dict[str, list[float]] = collections.defaultdict(list)
        self.cards: list[Card] = []
        self.transactions: set[int] = set()
        self.replay_mismatches = 0
        self.signup_phones: set[str] = set()
        self.campaigns: list[int] = []

    def record(self, kind: str, started: float, ok: bool, detail: str = "") -> None:
        elapsed = time.perf_counter() - started
        with self.lock:
            self.latency[kind].append(elapsed)
            if ok:
                self.ok[kind] += 1
            else:
                self.errors[(kind, detail)] += 1


def env_for(
    work: Path, certs: Path, database_url: str, apns_url: str, port: int, web: int
) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": secrets.token_hex(16),
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "PASS_TYPE_IDENTIFIER": TOPIC,
        "TEAM_IDENTIFIER": TEAM,
        "PASS_CERT_FILE": str(certs / "pass.pem"),
        "PASS_KEY_FILE": str(certs / "pass.key"),
        "WWDR_CERT_FILE": str(certs / "wwdr.pem"),
        # Not the certificates folder: a Google key there would turn Google on.
        "DEV_CERTS_DIR": str(work),
        "APNS_URL": apns_url,
        "APNS_CA_FILE": str(certs / "ca.pem"),
        "APNS_AUTH": "certificate",
        "PUSH_POLL_SECONDS": "0.2",
        # Campaigns start within a couple of seconds of being scheduled.
        "SCHEDULER_SECONDS": "2",
        # Every request comes from 127.0.0.1: per-address limits would throttle
        # the soak, not a client. Rate limiting is tested elsewhere.
        "RATELIMIT_SIGNUP": "100000 per minute",
        "RATELIMIT_PAGES": "100000 per minute",
        "RATELIMIT_WALLET": "100000 per minute",
        "RATELIMIT_WALLET_ADDRESS": "100000 per minute",
        "RATELIMIT_WALLET_LOG": "100000 per minute",
        "PROMETHEUS_MULTIPROC_DIR": str(work / "prometheus"),
        "BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": str(web),
        "THREADS": "4",
    }


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition, what: str) -> None:  # noqa: ANN001
    deadline = time.monotonic() + PATIENCE
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"soak: gave up waiting for {what}")
        time.sleep(0.2)


def healthy(base: str) -> bool:
    try:
        return requests.get(f"{base}/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


# -- load -------------------------------------------------------------------

_phones = iter(range(1_000_000, 9_999_999))
_phone_lock = threading.Lock()


def next_phone() -> str:
    with _phone_lock:
        return f"+7916{next(_phones):07d}"


def post_signup(base: str, phone: str, store_id: str) -> requests.Response:
    """A fresh browser: the form (its CSRF token and cookie), then the submission."""
    session = requests.Session()
    form = session.get(f"{base}/join", timeout=30)
    match = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    if form.status_code != 200 or match is None:
        return form
    return session.post(
        f"{base}/join",
        data={
            "csrf_token": match.group(1),
            "name": "Soak Tester",
            "phone": phone,
            "store": store_id,
            "language": "ru",
            "consent": "on",
        },
        allow_redirects=False,
        timeout=30,
    )


def signup_loop(base: str, stores: list[str], tally: Tally, until: float) -> None:
    http = requests.Session()
    while time.monotonic() < until:
        phone = next_phone()
        started = time.perf_counter()
        answer = post_signup(base, phone, random.choice(stores))
        location = answer.headers.get("Location", "")
        found = re.search(r"/c/([^/?]+)", location)
        ok = answer.status_code == 303 and found is not None
        tally.record("sign-up", started, ok, str(answer.status_code))
        if not ok:
            continue
        card_token = found.group(1)
        with tally.lock:
            tally.signup_phones.add(phone)
        if random.random() < 0.2:
            # The phone's answer was lost; it submits again: same card.
            started = time.perf_counter()
            again = post_signup(base, phone, random.choice(stores))
            same = again.status_code == 303 and f"/c/{card_token}" in again.headers.get(
                "Location", ""
            )
            tally.record("sign-up retry", started, same, str(again.status_code))
        started = time.perf_counter()
        pkpass = http.get(f"{base}/c/{card_token}/pass.pkpass", timeout=30)
        ok = pkpass.status_code == 200
        tally.record("pass download (card page)", started, ok, str(pkpass.status_code))
        if not ok:
            continue
        pass_json = json.loads(
            zipfile.ZipFile(io.BytesIO(pkpass.content)).read("pass.json")
        )
        card = Card(
            phone=phone,
            card_token=card_token,
            serial=pass_json["serialNumber"],
            auth=pass_json["authenticationToken"],
            barcode=pass_json["barcodes"][0]["message"],
            device=secrets.token_hex(16),
            push_token=secrets.token_hex(32),
        )
        started = time.perf_counter()
        registered = http.post(
            f"{base}/wallet/v1/devices/{card.device}/registrations/{TOPIC}/{card.serial}",
            json={"pushToken": card.push_token},
            headers={"Authorization": f"ApplePass {card.auth}"},
            timeout=30,
        )
        ok = registered.status_code == 201
        tally.record("device registration", started, ok, str(registered.status_code))
        if ok:
            with tally.lock:
                tally.cards.append(card)


def pick(tally: Tally) -> Card | None:
    with tally.lock:
        return random.choice(tally.cards) if tally.cards else None


def pos_loop(base: str, key: str, tally: Tally, until: float) -> None:
    http = requests.Session()
    headers = {"Authorization": f"Bearer {key}"}
    while time.monotonic() < until:
        card = pick(tally)
        if card is None:
            time.sleep(0.05)
            continue
        idem = str(uuid.uuid4())
        body = {
            "code": card.barcode,
            "amount": f"{random.randint(100, 9000)}.{random.randint(0, 99):02d}",
            "receipt_id": idem[:18],
        }
        started = time.perf_counter()
        answer = http.post(
            f"{base}/api/v1/pos/transactions",
            json=body,
            headers={**headers, "Idempotency-Key": idem},
            timeout=30,
        )
        ok = answer.status_code == 201
        tally.record("POS purchase", started, ok, str(answer.status_code))
        if not ok:
            continue
        transaction_id = answer.json()["transaction_id"]
        with tally.lock:
            tally.transactions.add(transaction_id)
        if random.random() < 0.2:
            # A till that did not see the answer sends the same purchase again.
            started = time.perf_counter()
            again = http.post(
                f"{base}/api/v1/pos/transactions",
                json=body,
                headers={**headers, "Idempotency-Key": idem},
                timeout=30,
            )
            same = (
                again.status_code == 201
                and again.headers.get("Idempotent-Replayed") == "true"
                and again.json()["transaction_id"] == transaction_id
            )
            tally.record("POS retry (replayed)", started, same, str(again.status_code))


def poll_loop(base: str, tally: Tally, until: float) -> None:
    http = requests.Session()
    while time.monotonic() < until:
        card = pick(tally)
        if card is None:
            time.sleep(0.05)
            continue
        if not card.lock.acquire(blocking=False):
            continue
        try:
            started = time.perf_counter()
            listed = http.get(
                f"{base}/wallet/v1/devices/{card.device}/registrations/{TOPIC}",
                params={"passesUpdatedSince": card.tag} if card.tag else None,
                timeout=30,
            )
            ok = listed.status_code in (200, 204)
            tally.record("changed serials", started, ok, str(listed.status_code))
            if listed.status_code != 200:
                continue
            card.tag = listed.json()["lastUpdated"]
            started = time.perf_counter()
            headers = {"Authorization": f"ApplePass {card.auth}"}
            if card.last_modified:
                headers["If-Modified-Since"] = card.last_modified
            latest = http.get(
                f"{base}/wallet/v1/passes/{TOPIC}/{card.serial}",
                headers=headers,
                timeout=30,
            )
            ok = latest.status_code in (200, 304)
            tally.record("pass download (device)", started, ok, str(latest.status_code))
            card.last_modified = latest.headers.get("Last-Modified", card.last_modified)
        finally:
            card.lock.release()
        time.sleep(0.01)


def marketer_loop(
    base: str, key: str, count: int, tally: Tally, started: float, until: float
) -> None:
    """Create `count` campaigns spread over the load, and watch their progress."""
    http = requests.Session()
    headers = {"Authorization": f"Bearer {key}"}
    due = [started + (until - started) * (i + 1) / (count + 1) for i in range(count)]
    while time.monotonic() < until:
        if due and time.monotonic() >= due[0]:
            due.pop(0)
            number = len(tally.campaigns) + 1
            began = time.perf_counter()
            answer = http.post(
                f"{base}/api/v1/campaigns",
                json={
                    "name": f"soak {number}",
                    "texts": {"ru": f"Скидка №{number}", "en": f"Sale #{number}"},
                    "segment": {"all": {}},
                    "state": "scheduled",
                },
                headers=headers,
                timeout=30,
            )
            ok = answer.status_code == 201
            tally.record("campaign create", began, ok, str(answer.status_code))
            if ok:
                with tally.lock:
                    tally.campaigns.append(answer.json()["id"])
        for campaign_id in list(tally.campaigns):
            began = time.perf_counter()
            answer = http.get(
                f"{base}/api/v1/campaigns/{campaign_id}", headers=headers, timeout=30
            )
            ok = answer.status_code == 200 and "progress" in answer.json()
            tally.record("campaign progress", began, ok, str(answer.status_code))
        time.sleep(0.5)


# -- checks ------------------------------------------------------------------


def check(database_url: str, tally: Tally, delivered: dict[str, int]) -> list[tuple]:
    """(check, expected, found, ok) rows."""
    engine = create_engine(database_url)
    rows = []
    with engine.connect() as conn:
        queued = conn.scalar(
            text("SELECT count(*) FROM push_delivery WHERE status = 'queued'")
        )
        failed = conn.scalar(
            text(
                "SELECT count(*) FROM push_delivery "
                "WHERE status IN ('failed', 'dropped')"
            )
        )
        rows.append(("outbox drained (queued)", 0, queued, queued == 0))
        rows.append(("pushes failed or dropped", 0, failed, failed == 0))
        off = conn.scalar(
            text(
                "SELECT count(*) FROM member m LEFT JOIN (SELECT member_id, "
                "sum(points) AS s FROM ledger_entry GROUP BY member_id) l "
                "ON l.member_id = m.id WHERE m.points <> coalesce(l.s, 0)"
            )
        )
        rows.append(("members whose balance ≠ ledger sum", 0, off, off == 0))
        transactions = conn.scalar(text("SELECT count(*) FROM pos_transaction"))
        expected = len(tally.transactions)
        rows.append(
            (
                "purchases in the database (201 answers)",
                expected,
                transactions,
                transactions == expected,
            )
        )
        phones = sorted(tally.signup_phones)
        members = conn.execute(
            text(
                "SELECT phone, count(*) FROM member WHERE phone = ANY(:phones) "
                "GROUP BY phone"
            ),
            {"phones": phones},
        ).all()
        once = sum(1 for _, count in members if count == 1)
        rows.append(
            (
                "sign-ups with exactly one member",
                len(phones),
                once,
                once == len(phones) and len(members) == len(phones),
            )
        )
        changed = (
            conn.execute(
                text(
                    # Points moved after the device registered: its pass changed.
                    # (pass.updated_at is rounded up to whole seconds for HTTP.)
                    "SELECT DISTINCT d.push_token FROM registration r "
                    "JOIN device d ON d.id = r.device_id "
                    "JOIN pass p ON p.id = r.pass_id "
                    "JOIN ledger_entry l ON l.member_id = p.member_id "
                    "WHERE l.created_at > r.created_at AND l.points <> 0"
                )
            )
            .scalars()
            .all()
        )
        missing = [token for token in changed if not delivered.get(token)]
        rows.append(
            (
                "devices with a changed pass that got a push",
                len(changed),
                len(changed) - len(missing),
                not missing,
            )
        )
        for campaign_id in tally.campaigns:
            rows += check_campaign(conn, campaign_id, delivered)
    engine.dispose()
    return rows


def check_campaign(conn, campaign_id: int, delivered: dict[str, int]) -> list[tuple]:  # noqa: ANN001
    """Every member who existed when the campaign started got its message once;
    every device registered before its pass got the message was pushed.

    "Existed": created 2 s before the start. A sign-up still in flight at the
    start may have taken an id below the campaign's cursor and commit after
    the cursor passed it (keyset batches; the start's count did not see it)."""
    state, started_at, targeted = conn.execute(
        text("SELECT state, started_at, targeted FROM campaign WHERE id = :id"),
        {"id": campaign_id},
    ).one()
    params = {"id": campaign_id, "started": started_at - timedelta(seconds=2)}
    existing = conn.scalar(
        text(
            "SELECT count(*) FROM member WHERE erased_at IS NULL "
            "AND created_at <= :started"
        ),
        params,
    )
    reached = conn.scalar(
        text(
            "SELECT count(DISTINCT m.id) FROM member m JOIN member_message mm "
            "ON mm.member_id = m.id AND mm.campaign_id = :id "
            "WHERE m.erased_at IS NULL AND m.created_at <= :started"
        ),
        params,
    )
    messaged = conn.scalar(
        text("SELECT count(*) FROM member_message WHERE campaign_id = :id"),
        params,
    )
    twice = conn.scalar(
        text(
            "SELECT count(*) FROM (SELECT member_id FROM member_message "
            "WHERE campaign_id = :id GROUP BY member_id HAVING count(*) > 1) t"
        ),
        params,
    )
    tokens = (
        conn.execute(
            text(
                "SELECT DISTINCT d.push_token FROM member_message mm "
                "JOIN pass p ON p.member_id = mm.member_id "
                "JOIN registration r ON r.pass_id = p.id "
                "JOIN device d ON d.id = r.device_id "
                "WHERE mm.campaign_id = :id AND r.created_at < mm.created_at"
            ),
            params,
        )
        .scalars()
        .all()
    )
    pushed = sum(1 for token in tokens if delivered.get(token))
    failed = conn.scalar(
        text(
            "SELECT count(*) FROM push_delivery WHERE campaign_id = :id "
            "AND status IN ('failed', 'dropped')"
        ),
        params,
    )
    name = f"campaign {campaign_id}"
    return [
        (f"{name}: state", "done", state, state == "done"),
        (
            f"{name}: members 2 s before its start messaged (targeted {targeted})",
            existing,
            reached,
            reached == existing,
        ),
        # Everyone counted at the start (committed then), and sign-ups after it
        # whose ids the batches had not passed yet.
        (
            f"{name}: members messaged ≥ targeted",
            targeted,
            messaged,
            messaged >= targeted,
        ),
        (f"{name}: members messaged twice", 0, twice, twice == 0),
        (f"{name}: devices pushed", len(tokens), pushed, pushed == len(tokens)),
        (f"{name}: pushes failed or dropped", 0, failed, failed == 0),
    ]


def percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100)[int(share * 100) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--web", type=int, default=2, help="gunicorn processes")
    parser.add_argument(
        "--threads", type=int, default=2, help="client threads per kind"
    )
    parser.add_argument(
        "--campaigns", type=int, default=2, help="campaigns to all members"
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="soak-"))
    certs = work / "certs"
    passes.write_dev_pki(passes.make_dev_pki(TOPIC, TEAM, "Soak"), certs)
    (work / "prometheus").mkdir()
    postgres = PostgresServer().start()
    processes: list[subprocess.Popen] = []
    try:
        admin = create_engine(postgres.url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("CREATE DATABASE soak"))
        admin.dispose()
        database_url = postgres.url("soak")
        port = free_port()

        port_file = work / "apns.port"
        delivered_file = work / "delivered.json"
        stand_in = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.support.apns_server",
                "--cert",
                str(certs / "apns-server.pem"),
                "--key",
                str(certs / "apns-server.key"),
                "--topic",
                TOPIC,
                "--client-ca",
                os.pathsep.join([str(certs / "ca.pem"), str(certs / "wwdr.pem")]),
                "--port-file",
                str(port_file),
                "--delivered-file",
                str(delivered_file),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        processes.append(stand_in)
        wait_until(lambda: port_file.exists() and port_file.read_text(), "the stand-in")
        apns_url = f"https://127.0.0.1:{port_file.read_text()}"
        env = env_for(work, certs, database_url, apns_url, port, args.web)
        flask = [sys.executable, "-m", "flask", "--app", "wsgi"]
        subprocess.run(
            [*flask, "init-db"], cwd=ROOT, env=env, check=True, capture_output=True
        )

        # Demo program, stores and POS keys, with the same settings as the servers.
        os.environ.update(env)
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR")
        from app import create_app
        from app.extensions import db
        from app.models import Store
        from app.services.auth import create_key
        from app.services.demo import seed_demo

        app = create_app()
        with app.app_context():
            program = seed_demo()
            stores = list(
                db.session.scalars(
                    select(Store).where(Store.program_id == program.id, Store.active)
                )
            )
            keys = [create_key("pos", store=store).key for store in stores[:2]]
            marketer = create_key("marketer", program=program).key
            # Campaigns go out whatever the hour in the program's time zone.
            program.rules = {**(program.rules or {}), "quiet_hours": [0, 0]}
            store_ids = [str(store.id) for store in stores]
            db.session.commit()
            demo_members = db.session.scalar(text("SELECT count(*) FROM member"))
            db.session.remove()
            db.engine.dispose()

        log = open(work / "servers.log", "w")  # noqa: SIM115 - open for the run
        processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "-c",
                    "gunicorn.conf.py",
                    "wsgi:app",
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        processes.append(
            subprocess.Popen(
                [*flask, "worker"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: healthy(base), "gunicorn")

        tally = Tally()
        until = time.monotonic() + args.seconds
        threads = []
        for i in range(args.threads):
            threads += [
                threading.Thread(
                    target=signup_loop, args=(base, store_ids, tally, until)
                ),
                threading.Thread(
                    target=pos_loop, args=(base, keys[i % len(keys)], tally, until)
                ),
                threading.Thread(target=poll_loop, args=(base, tally, until)),
            ]
        started = time.monotonic()
        threads.append(
            threading.Thread(
                target=marketer_loop,
                args=(base, marketer, args.campaigns, tally, started, until),
            )
        )
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started

        # The outbox drains: nothing queued (the worker keeps running).
        engine = create_engine(database_url)

        def drained() -> bool:
            with engine.connect() as conn:
                return not conn.scalar(
                    text("SELECT count(*) FROM push_delivery WHERE status = 'queued'")
                )

        def campaigns_done() -> bool:
            with engine.connect() as conn:
                return not conn.scalar(
                    text(
                        "SELECT count(*) FROM campaign "
                        "WHERE state IN ('scheduled', 'sending')"
                    )
                )

        drain_started = time.monotonic()
        wait_until(campaigns_done, "the campaigns to finish")
        wait_until(drained, "the outbox to drain")
        drain_seconds = time.monotonic() - drain_started
        engine.dispose()
        metrics = requests.get(f"{base}/metrics", timeout=30).text
        served = sum(
            float(line.rsplit(" ", 1)[1])
            for line in metrics.splitlines()
            if line.startswith("wallet_http_requests_total{")
        )
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        postgres_url = postgres.url("soak")

    try:
        delivered = json.loads(delivered_file.read_text())
        rows = check(postgres_url, tally, delivered)
        with create_engine(postgres_url).connect() as conn:
            members = conn.scalar(text("SELECT count(*) FROM member")) - demo_members
    finally:
        postgres.stop()

    print(
        f"\nSoak: {elapsed:.0f} s of load, {args.web} gunicorn processes x 4 threads, "
        f"{args.threads} client threads per kind, PostgreSQL, APNs stand-in; "
        f"outbox drained {drain_seconds:.1f} s after the load stopped.\n"
    )
    print("| operation | ok | errors | per second | p50 ms | p95 ms |")
    print("|---|---:|---:|---:|---:|---:|")
    kinds = sorted(set(tally.latency))
    for kind in kinds:
        errors = sum(n for (k, _), n in tally.errors.items() if k == kind)
        values = tally.latency[kind]
        rate = tally.ok[kind] / elapsed
        p50, p95 = percentile(values, 0.5) * 1000, percentile(values, 0.95) * 1000
        print(
            f"| {kind} | {tally.ok[kind]} | {errors} | {rate:.1f} | "
            f"{p50:.1f} | {p95:.1f} |"
        )
    print(
        f"\nRequests counted by /metrics (all processes): {served:.0f}; "
        f"members signed up: {members}; pushes delivered: "
        f"{sum(delivered.values())} to {len(delivered)} devices.\n"
    )
    print("| check | expected | found | ok |")
    print("|---|---:|---:|---|")
    for name, expected, found, ok in rows:
        print(f"| {name} | {expected} | {found} | {'yes' if ok else 'NO'} |")
    if tally.errors:
        print("\nUnexpected answers:", dict(tally.errors))
    lost = [name for name, _, _, ok in rows if not ok]
    if tally.errors or lost:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
