"""The device herd: a campaign lands on N phones, and each fetches its new pass.

Starts PostgreSQL, the APNs stand-in (real TLS + HTTP/2, in this process, so it
sees each push the moment it arrives), gunicorn with the app and a push worker
(`flask --app wsgi worker`). N members get a pass in bulk; N devices register
through the web service as phones do (POST registration, GET serials for their
tag). Then a campaign to every member is scheduled through the marketer API and
the clock starts. Each device, as soon as its push reaches the stand-in, does
what iOS does: GET its changed serials since its tag, then GET each changed
pass with If-Modified-Since, waiting out any 429 by its Retry-After.

Reports: seconds from the campaign's creation until 50 %, 99 % and 100 % of the
devices hold the new pass; p50/p99 of the device requests; 5xx and 429 counts;
CPU (ms) per updated device in gunicorn, the worker and PostgreSQL, their
sum, and this process's (the phones, on http.client keep-alive connections,
and the APNs stand-in: they share the servers' cores). With
`--baseline REF` the same run is made first with the code at git REF (exported
with `git archive` to a temporary folder, its own database), and both are
printed side by side.

With `--pos-rate R` the tills are measured during the herd, in one command:
`bench/pos_load.py --rates R --scenarios steady` starts at once (its own
PostgreSQL and gunicorn, as the POS would be served by its own pool), waits for
the herd's first push, then sells at R purchases/s for `--pos-seconds`; both
reports are printed. `--web-nice N` starts the herd's gunicorn (the wallet web
service's pool) at niceness N, the deployment docs/operations.md describes.
`--pos-shared` makes the tills sell in the herd's own database instead (as in
production, where the worker can see them: `--tills-full N` sets
PUSH_TILLS_FULL, the worker yielding to them); the campaign then waits until
the tills are set up.

    .venv/bin/python bench/herd.py [--devices 100000] [--web 2] [--clients 64]
        [--baseline REF] [--push-rate 0] [--worker-processes 1]
        [--wallet-limit "100000 per minute"] [--worker-nice 10] [--web-nice 0]
        [--phones-nice 0] [--pos-rate 0] [--pos-seconds 20] [--pos-shared]
        [--tills-full 0] [--tills-floor 0.05] [--pos-lead 0]
"""

from __future__ import annotations

import argparse
import collections
import http.client
import json
import os
import queue
import resource
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# The members are created by the code under test (its own models and demo seed):
# `--populate` runs in a child process with that code first on the path.
CODE = Path(os.environ.get("HERD_CODE") or ROOT)
if CODE != ROOT:
    sys.path.insert(0, str(CODE))

from sqlalchemy import create_engine, insert, select, text  # noqa: E402

from bench.support import TEAM, TOPIC, bench_app, dev_certs  # noqa: E402
from tests.support.apns_server import ApnsStandIn  # noqa: E402
from tests.support.postgres import PostgresServer  # noqa: E402

PATIENCE = 180.0  # seconds for start-up
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Phone:
    serial: str
    auth: str
    device: str
    push_token: str
    modified: str  # Last-Modified of the copy the phone holds
    tag: str = ""


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    latency: list[float] = field(default_factory=list)
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    updated: list[float] = field(default_factory=list)  # seconds after the start
    failures: collections.Counter[str] = field(default_factory=collections.Counter)

    def request(self, started: float, status: int) -> None:
        with self.lock:
            self.latency.append(time.perf_counter() - started)
            self.statuses[status] += 1


# -- processes and their CPU ---------------------------------------------------


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds of the process and its reaped children)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), sum(int(x) for x in fields[11:15]) / TICKS


def tree_cpu(root: int) -> float:
    """CPU seconds of `root` and all its live descendants."""
    stats: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (found := _stat(int(entry.name))) is not None:
            stats[int(entry.name)] = found
    wanted, total, changed = {root}, 0.0, True
    while changed:
        changed = False
        for pid, (parent, _) in stats.items():
            if parent in wanted and pid not in wanted:
                wanted.add(pid)
                changed = True
    for pid in wanted:
        if pid in stats:
            total += stats[pid][1]
    return total


def own_cpu() -> float:
    """CPU seconds of this process: the simulated phones, the APNs stand-in
    and the bench's own bookkeeping (they share the servers' cores)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def wait_until(condition: Any, what: str, patience: float = PATIENCE) -> None:
    deadline = time.monotonic() + patience
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"herd: gave up waiting for {what}")
        time.sleep(0.2)


def healthy(base: str) -> bool:
    try:
        return requests.get(f"{base}/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- set-up ---------------------------------------------------------------------


def populate(url: str, certs: Path, n: int) -> tuple[list[Phone], str]:
    """n members with a pass each (bulk); the phones-to-be and a marketer key."""
    from app.extensions import db
    from app.models import Member, Pass, Store
    from app.services.auth import create_key
    from app.services.demo import seed_demo

    app = bench_app(url, certs)
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    phones: list[Phone] = []
    with app.app_context():
        program = seed_demo()
        program.rules = {**(program.rules or {}), "quiet_hours": [0, 0]}
        db.session.commit()
        stores = db.session.scalars(select(Store.id).order_by(Store.id)).all()
        marketer = create_key("marketer", program=program).key
        for start in range(0, n, 5000):
            count = min(5000, n - start)
            rows = [
                {
                    "program_id": program.id,
                    "card_number": f"8{i:011d}",
                    "card_token": secrets.token_hex(12),
                    "name": f"Herd {i}",
                    "phone": f"+7901{i:07d}",
                    "language": "ru" if i % 3 else "en",
                    "city": "Москва",
                    "preferred_store_id": stores[i % len(stores)],
                    "consent_version": "bench",
                    "consent_at": now,
                    "points": i % 5000,
                    "tier": program.tiers[0]["code"],
                    "offer": "",
                    "created_at": now,
                }
                for i in range(start, start + count)
            ]
            db.session.execute(insert(Member), rows)
            ids = db.session.scalars(
                select(Member.id).where(
                    Member.card_number.in_([r["card_number"] for r in rows])
                )
            ).all()
            passes_ = [
                {
                    "program_id": program.id,
                    "member_id": member_id,
                    "serial_number": secrets.token_hex(10),
                    "authentication_token": secrets.token_hex(12),
                    "update_tag": 0,
                    "content_hash": "",
                    "updated_at": now,
                    "voided": False,
                    "created_at": now,
                }
                for member_id in ids
            ]
            db.session.execute(insert(Pass), passes_)
            db.session.commit()
            phones += [
                Phone(
                    serial=p["serial_number"],
                    auth=p["authentication_token"],
                    device=secrets.token_hex(16),
                    push_token=secrets.token_hex(32),
                    modified=format_datetime(now, usegmt=True),
                )
                for p in passes_
            ]
        db.session.remove()
        db.engine.dispose()
    return phones, marketer


def populate_with(code: Path, url: str, certs: Path, n: int) -> tuple[list[Phone], str]:
    """`populate` run by the code at `code` (a child process), so the baseline's
    own models create its members."""
    out = Path(tempfile.mkstemp(prefix="herd-phones-", suffix=".json")[1])
    try:
        subprocess.run(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "--populate",
                url,
                str(certs),
                str(n),
                str(out),
            ],
            env={**os.environ, "HERD_CODE": str(code)},
            check=True,
        )
        saved = json.loads(out.read_text())
    finally:
        out.unlink(missing_ok=True)
    return [Phone(**phone) for phone in saved["phones"]], saved["marketer"]


def register_all(base: str, phones: list[Phone], clients: int) -> None:
    """Each phone registers and asks for its serials once (its starting tag)."""
    work: queue.Queue[Phone] = queue.Queue()
    for phone in phones:
        work.put(phone)

    def register() -> None:
        http = requests.Session()
        while True:
            try:
                phone = work.get_nowait()
            except queue.Empty:
                return
            answer = http.post(
                f"{base}/wallet/v1/devices/{phone.device}/registrations/"
                f"{TOPIC}/{phone.serial}",
                json={"pushToken": phone.push_token},
                headers={"Authorization": f"ApplePass {phone.auth}"},
                timeout=60,
            )
            if answer.status_code != 201:
                raise SystemExit(f"herd: registration answered {answer.status_code}")
            listed = http.get(
                f"{base}/wallet/v1/devices/{phone.device}/registrations/{TOPIC}",
                timeout=60,
            )
            phone.tag = listed.json()["lastUpdated"]

    threads = [threading.Thread(target=register) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


# -- the herd -------------------------------------------------------------------


class Answer:
    """What a device needs from a response."""

    def __init__(self, status: int, headers: dict[str, str], content: bytes) -> None:
        self.status_code = status
        self.headers = headers
        self.content = content

    def json(self) -> Any:
        return json.loads(self.content)


class PhoneConnection:
    """A phone's HTTP/1.1 keep-alive connection (http.client, reconnecting when
    gunicorn closed an idle one). `requests` cost the simulated phones ~4x more
    CPU per request, on the same two cores as the servers; both columns of a
    run use this same client."""

    def __init__(self, base: str) -> None:
        self.host, _, port = base.removeprefix("http://").partition(":")
        self.port = int(port)
        self.conn: http.client.HTTPConnection | None = None

    def get(self, path: str, headers: dict[str, str]) -> Answer:
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
            try:
                self.conn.request("GET", path, headers=headers)
                response = self.conn.getresponse()
                content = response.read()
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
                continue
            if response.will_close:
                self.conn.close()
                self.conn = None
            return Answer(
                response.status,
                {k.lower(): v for k, v in response.getheaders()},
                content,
            )
        raise AssertionError("unreachable")


def patient_get(
    http: PhoneConnection,
    path: str,
    tally: Tally,
    headers: dict[str, str] | None = None,
) -> Answer:
    """GET, following 429 Retry-After as iOS does (a bounded number of times)."""
    for _ in range(50):
        started = time.perf_counter()
        answer = http.get(path, headers or {})
        tally.request(started, answer.status_code)
        if answer.status_code != 429:
            return answer
        time.sleep(float(answer.headers.get("retry-after", "1") or 1))
    return answer


def device(
    base: str, jobs: queue.Queue[Phone | None], tally: Tally, t0: float, nice: int = 0
) -> None:
    if nice:
        os.nice(nice)  # this thread only (Linux): see --phones-nice
    http = PhoneConnection(base)
    while (phone := jobs.get()) is not None:
        listed = patient_get(
            http,
            f"/wallet/v1/devices/{phone.device}/registrations/{TOPIC}"
            f"?passesUpdatedSince={phone.tag}",
            tally,
        )
        if listed.status_code != 200:
            with tally.lock:
                tally.failures[f"serials {listed.status_code}"] += 1
            continue
        for serial in listed.json()["serialNumbers"]:
            latest = patient_get(
                http,
                f"/wallet/v1/passes/{TOPIC}/{serial}",
                tally,
                headers={
                    "Authorization": f"ApplePass {phone.auth}",
                    "If-Modified-Since": phone.modified,
                },
            )
            with tally.lock:
                if latest.status_code == 200 and latest.content[:2] == b"PK":
                    tally.updated.append(time.monotonic() - t0)
                else:
                    tally.failures[f"pass {latest.status_code}"] += 1


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def run(
    label: str,
    code: Path,
    url: str,
    postgres_pid: int,
    apns: ApnsStandIn,
    certs: Path,
    work: Path,
    args: argparse.Namespace,
    pos_go: Path | None = None,
    start_pos: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "SECRET_KEY": secrets.token_hex(16),
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "PASS_TYPE_IDENTIFIER": TOPIC,
        "TEAM_IDENTIFIER": TEAM,
        "PASS_CERT_FILE": str(certs / "pass.pem"),
        "PASS_KEY_FILE": str(certs / "pass.key"),
        "WWDR_CERT_FILE": str(certs / "wwdr.pem"),
        "DEV_CERTS_DIR": str(work),
        "APNS_URL": apns.url,
        "APNS_CA_FILE": str(certs / "ca.pem"),
        "APNS_AUTH": "certificate",
        "PUSH_POLL_SECONDS": "0.2",
        "SCHEDULER_SECONDS": "1",
        "PUSH_RATE_LIMIT": str(args.push_rate),
        "PUSH_WORKER_PROCESSES": str(args.worker_processes),
        "WORKER_NICE": str(args.worker_nice),
        "PUSH_TILLS_FULL": str(args.tills_full),
        "PUSH_TILLS_FLOOR": str(args.tills_floor),
        # Every phone here shares 127.0.0.1; see --wallet-limit.
        "RATELIMIT_WALLET": args.wallet_limit,
        "RATELIMIT_WALLET_ADDRESS": args.wallet_limit,
        "RATELIMIT_PAGES": "1000000 per minute",
        "BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": str(args.web),
        "THREADS": "4",
        "PYTHONPATH": str(code),
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    flask = [sys.executable, "-m", "flask", "--app", "wsgi"]
    subprocess.run(
        [*flask, "init-db"], cwd=code, env=env, check=True, capture_output=True
    )
    phones, marketer = populate_with(code, url, certs, args.devices)
    if start_pos is not None:
        start_pos(url)  # the tills set up in this database meanwhile
    log = open(work / f"{label}-servers.log", "w")  # noqa: SIM115 - for the run
    processes = [
        subprocess.Popen(
            [
                *(["nice", "-n", str(args.web_nice)] if args.web_nice else []),
                *[sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"],
                "wsgi:app",
            ],
            cwd=code,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        ),
        subprocess.Popen(
            [*flask, "worker"], cwd=code, env=env, stdout=log, stderr=subprocess.STDOUT
        ),
    ]
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: healthy(base), "gunicorn")
        register_all(base, phones, args.clients)
        if start_pos is not None and pos_go is not None:
            # The campaign waits for the tills to be set up (--pos-shared).
            wait_until(lambda: pos_go.with_suffix(".ready").exists(), "the tills")
        by_token = {phone.push_token: phone for phone in phones}
        if pos_go is not None and args.pos_lead > 0:
            # The tills are already selling when the campaign goes out.
            pos_go.touch()
            print(f"herd: {label}: the tills start; the campaign follows", flush=True)
            time.sleep(args.pos_lead)
        apns.reset()
        tally = Tally()
        jobs: queue.Queue[Phone | None] = queue.Queue()
        cpu_before = {
            "app": tree_cpu(processes[0].pid),
            "worker": tree_cpu(processes[1].pid),
            "postgres": tree_cpu(postgres_pid),
            "bench": own_cpu(),
        }
        t0 = time.monotonic()
        campaign = {
            "name": f"herd {label}",
            "texts": {"ru": "Скидка 20 %", "en": "20 % off"},
            "segment": {"all": {}},
            # Every member is messaged: no control group held out.
            "holdout_percent": 0,
            "state": "scheduled",
        }
        for _ in range(2):
            answer = requests.post(
                f"{base}/api/v1/campaigns",
                json=campaign,
                headers={"Authorization": f"Bearer {marketer}"},
                timeout=60,
            )
            if answer.status_code != 422:
                break
            # Code from before control groups: it messages everyone anyway.
            campaign.pop("holdout_percent")
        if answer.status_code != 201:
            raise SystemExit(f"herd: campaign answered {answer.status_code}")
        # The moment to start a POS load beside the herd (docs/operations.md).
        print(
            f"herd: {label}: campaign sent at {datetime.now(UTC):%H:%M:%S} UTC",
            flush=True,
        )
        threads = [
            threading.Thread(
                target=device, args=(base, jobs, tally, t0, args.phones_nice)
            )
            for _ in range(args.clients)
        ]
        for thread in threads:
            thread.start()
        seen, deadline = 0, t0 + args.timeout
        while time.monotonic() < deadline:
            with apns._lock:  # noqa: SLF001 - the stand-in's own list
                fresh = apns.pushes[seen:]
                seen = len(apns.pushes)
            for push in fresh:
                if push.status == 200 and push.token in by_token:
                    jobs.put(by_token.pop(push.token))
            if fresh and pos_go is not None and not pos_go.exists():
                pos_go.touch()  # the tills start selling (--pos-rate)
                print(
                    f"herd: {label}: first push at "
                    f"{time.monotonic() - t0:.1f} s; the tills start",
                    flush=True,
                )
            with tally.lock:
                done = len(tally.updated) + sum(tally.failures.values())
            if done >= len(phones):
                break
            time.sleep(0.02)
        for _ in threads:
            jobs.put(None)
        for thread in threads:
            thread.join()
        # Whether the tills' measured window lay within the herd.
        pos_inside = pos_go is None or pos_go.with_suffix(".done").exists()
        load = os.getloadavg()[0]
        cpu = {
            "app": tree_cpu(processes[0].pid) - cpu_before["app"],
            "worker": tree_cpu(processes[1].pid) - cpu_before["worker"],
            "postgres": tree_cpu(postgres_pid) - cpu_before["postgres"],
            "bench": own_cpu() - cpu_before["bench"],
        }
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=60)
        log.close()
    updated = sorted(tally.updated)
    n = len(phones)

    def at(share: float) -> float:
        index = int(share * n + 0.999999) - 1
        return updated[index] if len(updated) > index else float("nan")

    statuses = tally.statuses
    return {
        "devices": n,
        "updated": len(updated),
        "t50": at(0.5),
        "t99": at(0.99),
        "t100": at(1.0),
        "p50_ms": percentile(tally.latency, 0.5) * 1000,
        "p99_ms": percentile(tally.latency, 0.99) * 1000,
        "requests": sum(statuses.values()),
        "5xx": sum(c for s, c in statuses.items() if s >= 500),
        "429": statuses[429],
        "failures": dict(tally.failures),
        "load": load,
        "pos_inside": pos_inside,
        **{
            f"cpu_ms_{name}": seconds * 1000 / max(1, len(updated))
            for name, seconds in cpu.items()
        },
        "cpu_ms_servers": sum(cpu[name] for name in ("app", "worker", "postgres"))
        * 1000
        / max(1, len(updated)),
    }


def export(ref: str) -> Path:
    """The code at git `ref` in a temporary folder (no worktree registered)."""
    folder = Path(tempfile.mkdtemp(prefix="herd-baseline-"))
    archive = subprocess.run(
        ["git", "archive", ref], cwd=ROOT, check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


ROWS = [
    ("devices updated", "updated", "{:.0f}"),
    ("50 % updated after (s)", "t50", "{:.2f}"),
    ("99 % updated after (s)", "t99", "{:.2f}"),
    ("100 % updated after (s)", "t100", "{:.2f}"),
    ("devices updated per s (to 100 %)", "rate", "{:.0f}"),
    ("device requests", "requests", "{:.0f}"),
    ("request p50 (ms)", "p50_ms", "{:.1f}"),
    ("request p99 (ms)", "p99_ms", "{:.1f}"),
    ("5xx answers", "5xx", "{:.0f}"),
    ("429 answers", "429", "{:.0f}"),
    ("CPU per updated device, app (ms)", "cpu_ms_app", "{:.2f}"),
    ("CPU per updated device, worker (ms)", "cpu_ms_worker", "{:.2f}"),
    ("CPU per updated device, PostgreSQL (ms)", "cpu_ms_postgres", "{:.2f}"),
    ("CPU per updated device, servers (ms)", "cpu_ms_servers", "{:.2f}"),
    ("CPU per updated device, phones+APNs (ms)", "cpu_ms_bench", "{:.2f}"),
    ("load average (1 min) at the end", "load", "{:.1f}"),
]


def main() -> None:
    if sys.argv[1:2] == ["--populate"]:
        url, certs, n, out = sys.argv[2:6]
        phones, marketer = populate(url, Path(certs), int(n))
        Path(out).write_text(
            json.dumps(
                {"phones": [vars(phone) for phone in phones], "marketer": marketer}
            )
        )
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--web", type=int, default=2, help="gunicorn processes")
    parser.add_argument("--clients", type=int, default=64, help="device threads")
    parser.add_argument("--baseline", help="git ref of the code to compare with")
    parser.add_argument(
        "--push-rate", type=float, default=0, help="PUSH_RATE_LIMIT (0: none)"
    )
    parser.add_argument(
        "--wallet-limit",
        default="100000 per minute",
        help="RATELIMIT_WALLET and RATELIMIT_WALLET_ADDRESS: every simulated "
        "phone shares one address here",
    )
    parser.add_argument(
        "--worker-processes",
        type=int,
        default=1,
        help="PUSH_WORKER_PROCESSES (code before it ignores this)",
    )
    parser.add_argument(
        "--worker-nice",
        type=int,
        default=10,
        help="WORKER_NICE of the push worker (code before it ignores this)",
    )
    parser.add_argument(
        "--web-nice",
        type=int,
        default=0,
        help="niceness of the herd's gunicorn (a separate wallet pool)",
    )
    parser.add_argument(
        "--phones-nice",
        type=int,
        default=0,
        help="niceness of the simulated phones' threads (real phones use none of "
        "the server's CPU; the tills' cashiers in pos_load.py stay at 0)",
    )
    parser.add_argument(
        "--pos-rate",
        type=float,
        default=0,
        help="run bench/pos_load.py's steady phase at this many purchases/s "
        "during the herd (of the current code)",
    )
    parser.add_argument("--pos-seconds", type=float, default=20)
    parser.add_argument(
        "--pos-lead",
        type=float,
        default=0,
        help="start the tills this many seconds before the campaign (0: at its "
        "first push); their 2 s warm-up counts",
    )
    parser.add_argument(
        "--pos-shared",
        action="store_true",
        help="the tills sell in the herd's database (as in production) instead "
        "of their own PostgreSQL",
    )
    parser.add_argument(
        "--tills-full",
        type=float,
        default=0,
        help="PUSH_TILLS_FULL: purchases/s at which the worker slows the herd to "
        "its floor (needs --push-rate and --pos-shared to matter)",
    )
    parser.add_argument(
        "--tills-floor", type=float, default=0.05, help="PUSH_TILLS_FLOOR"
    )
    parser.add_argument("--timeout", type=float, default=3600)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="herd-"))
    pos_go: Path | None = None
    pos_started: list[subprocess.Popen[bytes]] = []

    def start_pos(into: str | None = None) -> None:
        """bench/pos_load.py, selling once pos_go exists: in its own database
        or (--pos-shared) in the herd's."""
        assert pos_go is not None
        pos_log = open(work / "pos_load.log", "wb")  # noqa: SIM115 - for the run
        command = [
            sys.executable,
            str(ROOT / "bench" / "pos_load.py"),
            *("--rates", f"{args.pos_rate:g}", "--scenarios", "steady"),
            *("--seconds", f"{args.pos_seconds:g}", "--start-file", str(pos_go)),
            *(["--into", into] if into else []),
        ]
        pos_started.append(
            subprocess.Popen(
                command, cwd=ROOT, stdout=pos_log, stderr=subprocess.STDOUT
            )
        )

    if args.pos_rate:
        pos_go = work / "pos-go"
        if not args.pos_shared:
            start_pos()  # set up now, beside the herd's own set-up
    certs = dev_certs(work)
    apns = ApnsStandIn(
        str(certs / "apns-server.pem"),
        str(certs / "apns-server.key"),
        TOPIC,
        client_ca_file=os.pathsep.join(
            [str(certs / "ca.pem"), str(certs / "wwdr.pem")]
        ),
    ).start()
    postgres = PostgresServer().start()
    postgres_pid = int((postgres.data / "postmaster.pid").read_text().split()[0])
    results: dict[str, dict[str, Any]] = {}
    try:
        runs = [("current", ROOT)]
        if args.baseline:
            runs.insert(0, (f"baseline {args.baseline}", export(args.baseline)))
        admin = create_engine(postgres.url(), isolation_level="AUTOCOMMIT")
        for number, (label, code) in enumerate(runs):
            with admin.connect() as conn:
                conn.execute(text(f"CREATE DATABASE herd_{number}"))
            print(f"herd: {label}: {args.devices} devices ...", flush=True)
            results[label] = run(
                label.split()[0],
                code,
                postgres.url(f"herd_{number}"),
                postgres_pid,
                apns,
                certs,
                work,
                args,
                pos_go if label == "current" else None,
                start_pos if label == "current" and args.pos_shared else None,
            )
        admin.dispose()
    finally:
        for pos in pos_started:  # before PostgreSQL stops: --pos-shared uses it
            if pos_go is not None:
                pos_go.touch()  # never leave it waiting
            pos.wait(timeout=600)
        apns.stop()
        postgres.stop()
    for result in results.values():
        result["rate"] = result["updated"] / result["t100"] if result["t100"] else 0
    labels = list(results)
    width = max(len(label) for label, _, _ in ROWS) + 2
    print(
        f"\nHerd: {args.devices} devices, {args.web} gunicorn processes x 4 threads, "
        f"{args.clients} device threads, PostgreSQL, PUSH_RATE_LIMIT={args.push_rate}"
    )
    print("".ljust(width) + "".join(label.rjust(20) for label in labels))
    for title, key, fmt in ROWS:
        print(
            title.ljust(width)
            + "".join(fmt.format(results[label][key]).rjust(20) for label in labels)
        )
    for label in labels:
        if results[label]["failures"]:
            print(f"{label}: failures {results[label]['failures']}")
    if pos_started:
        print(
            f"\nThe tills during the herd (bench/pos_load.py --rates {args.pos_rate:g}"
            f" --scenarios steady --seconds {args.pos_seconds:g}, started at the "
            "first push"
            + (
                ", selling in the herd's database: its PostgreSQL CPU counts both"
                if args.pos_shared
                else ""
            )
            + f"; PUSH_TILLS_FULL={args.tills_full:g}):"
        )
        report = (work / "pos_load.log").read_text(errors="replace")
        print(report[report.find("POS load:") :].strip() or report[-3000:])
        if not results["current"]["pos_inside"]:
            print(
                "WARNING: the herd ended before the tills' measured window did: "
                "more --devices (or a lower --push-rate) to measure the POS beside it"
            )
    print(f"(servers' logs in {work})")


if __name__ == "__main__":
    main()
