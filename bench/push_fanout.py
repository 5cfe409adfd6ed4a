"""Push fan-out: N registered devices all needing a push, through the real worker.

Sets up N members with passes and one registered device each, starts the APNs
stand-in (real TLS + HTTP/2, certificate mode) as its own process, then times:
enqueue (the outbox rows for all N passes, one transaction) and the worker
(`flask --app wsgi worker --until-idle`, a separate process) until the last
delivery. Side by side, in the same run, a naive sender that awaits each request
before sending the next (on --naive devices, extrapolated to N).

    .venv/bin/python bench/push_fanout.py [--devices 100000] [--naive 2000]
        [--database sqlite|postgresql] [--worker-processes N]
        [--apns-connections N] [--baseline DIR] [--rounds R] [--profile]

Beside wall time it prints where the CPU went during the worker's run, per push:
the worker (all its processes), the stand-in, and PostgreSQL's server processes
(from /proc), and the cores left idle. --baseline DIR runs another code tree's
worker (e.g. `git archive <commit> | tar -x -C DIR`) on the same data, rounds
alternating old and new, the outbox emptied and the same rows queued again
before each round.

A second table repeats the sender comparison against a stand-in that answers after
--rtt-ms (a network round trip; loopback has almost none), sender only.

--profile runs the worker under cProfile (slower) and prints where its event-loop
thread spends CPU, grouped by layer; database CPU (in threads) is measured apart.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import func, insert, select, text  # noqa: E402

import passes  # noqa: E402
from app import create_app  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import Device, Member, Pass, PushDelivery, Registration  # noqa: E402
from app.models.base import utcnow  # noqa: E402
from app.push.apns import ApnsClient, client_ssl_context  # noqa: E402
from app.services import outbox  # noqa: E402
from app.services.demo import seed_demo  # noqa: E402

TOPIC = "pass.bench.wallet"
TEAM = "BENCHTEAM1"


def config(certs: Path, database_url: str, apns_url: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "SECRET_KEY": "bench",
        "PASS_TYPE_IDENTIFIER": TOPIC,
        "TEAM_IDENTIFIER": TEAM,
        "PASS_CERT_FILE": str(certs / "pass.pem"),
        "PASS_KEY_FILE": str(certs / "pass.key"),
        "WWDR_CERT_FILE": str(certs / "wwdr.pem"),
        "DEV_CERTS_DIR": str(certs),
        "APNS_URL": apns_url,
        "APNS_CA_FILE": str(certs / "ca.pem"),
        "APNS_AUTH": "certificate",
        # The push path alone: signing passes ahead is bench/herd.py's subject.
        "PASS_SIGN_AHEAD": "0",
    }


def populate(n: int) -> list[int]:
    """n members, passes and devices (one registration each), bulk inserted."""
    program = seed_demo()
    db.session.commit()
    now = utcnow()
    pass_ids: list[int] = []
    for start in range(0, n, 10_000):
        count = min(10_000, n - start)
        numbers = [f"9{i:011d}" for i in range(start, start + count)]
        db.session.execute(
            insert(Member),
            [
                {
                    "program_id": program.id,
                    "card_number": number,
                    "card_token": secrets.token_urlsafe(24),
                    "name": f"Member {number}",
                    "phone": f"+7901{number[-7:]}",
                    "language": "ru",
                    "city": "Москва",
                    "consent_version": "bench",
                    "consent_at": now,
                    "points": 0,
                    "tier": "silver",
                    "offer": "",
                    "created_at": now,
                }
                for number in numbers
            ],
        )
        member_ids = db.session.scalars(
            select(Member.id).where(Member.card_number.in_(numbers))
        ).all()
        db.session.execute(
            insert(Pass),
            [
                {
                    "program_id": program.id,
                    "member_id": member_id,
                    "serial_number": secrets.token_hex(10),
                    "authentication_token": secrets.token_urlsafe(24),
                    "update_tag": 1,
                    "content_hash": "",
                    "updated_at": now,
                    "voided": False,
                    "created_at": now,
                }
                for member_id in member_ids
            ],
        )
        ids = db.session.scalars(
            select(Pass.id).where(Pass.member_id.in_(member_ids))
        ).all()
        db.session.execute(
            insert(Device),
            [
                {
                    "device_library_identifier": f"bench-{pass_id}",
                    "push_token": f"{pass_id:064x}",
                    "platform": "apple",
                    "created_at": now,
                    "updated_at": now,
                }
                for pass_id in ids
            ],
        )
        devices = db.session.execute(
            select(Device.id, Device.device_library_identifier).where(
                Device.device_library_identifier.in_([f"bench-{i}" for i in ids])
            )
        ).all()
        db.session.execute(
            insert(Registration),
            [
                {"device_id": device_id, "pass_id": int(name[6:]), "created_at": now}
                for device_id, name in devices
            ],
        )
        db.session.commit()
        pass_ids.extend(ids)
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("ANALYZE"))
        db.session.commit()
    return pass_ids


def start_stand_in(
    certs: Path, work: Path, delay_ms: float = 0.0, tag: str = ""
) -> tuple[subprocess.Popen[str], str]:
    """The stand-in process; with `tag`, it writes {token: pushes} to
    work/delivered-<tag>.json on exit."""
    port_file = work / f"apns-{delay_ms}{tag}.port"
    extra = ["--delivered-file", str(work / f"delivered-{tag}.json")] if tag else []
    process = subprocess.Popen(
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
            "--delay-ms",
            str(delay_ms),
            *extra,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    while not (port_file.exists() and port_file.read_text()):
        if process.poll() is not None:
            raise SystemExit("APNs stand-in did not start")
        time.sleep(0.05)
    return process, f"https://127.0.0.1:{port_file.read_text()}"


async def naive(url: str, certs: Path, tokens: list[str]) -> float:
    """One request at a time on one connection: await each answer, then the next."""
    context = client_ssl_context(
        str(certs / "ca.pem"), str(certs / "pass.pem"), str(certs / "pass.key")
    )
    client = ApnsClient(url, context, streams=1)
    await client.send(tokens[0], TOPIC)  # connect outside the timing
    started = time.perf_counter()
    for token in tokens:
        result = await client.send(token, TOPIC)
        assert result.status == 200, result
    elapsed = time.perf_counter() - started
    await client.close()
    return elapsed


async def pipelined(url: str, certs: Path, tokens: list[str]) -> float:
    """The worker's sender without the database: all requests at once."""
    context = client_ssl_context(
        str(certs / "ca.pem"), str(certs / "pass.pem"), str(certs / "pass.key")
    )
    client = ApnsClient(url, context, streams=250)
    await client.send(tokens[0], TOPIC)
    started = time.perf_counter()
    results = await asyncio.gather(*(client.send(t, TOPIC) for t in tokens))
    elapsed = time.perf_counter() - started
    assert {r.status for r in results} == {200}
    await client.close()
    return elapsed


TICKS = os.sysconf("SC_CLK_TCK")


def children_usage() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def _stat(pid: int) -> tuple[int, float]:
    """(parent pid, CPU seconds of the process and its reaped children)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return -1, 0.0
    return int(fields[1]), sum(int(x) for x in fields[11:15]) / TICKS


def process_cpu(pid: int) -> float:
    return _stat(pid)[1]


def postgres_cpu(server: Any) -> float:
    """CPU seconds of the PostgreSQL server: the postmaster (with its exited
    backends, reaped) and its live children (backends, WAL writer, ...)."""
    if server is None:
        return 0.0
    postmaster = int((server.data / "postmaster.pid").read_text().split()[0])
    total = process_cpu(postmaster)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            parent, cpu = _stat(int(entry.name))
            if parent == postmaster:
                total += cpu
    return total


@dataclass
class Round:
    code: str
    wall: float = 0.0
    worker_cpu: float = 0.0
    stand_in_cpu: float = 0.0
    postgres_cpu: float = 0.0
    load: str = ""
    report: str = ""
    counts: dict[str, Any] = field(default_factory=dict)


def schema_head(tree: Path) -> str:
    """The newest migration of a code tree (its schema)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(tree / "migrations"))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def requeue(app: Any, pass_ids: list[int], database: str, schema: str) -> float:
    """Bring the schema to `schema` (each code runs on its own), empty the
    outbox and queue one push per device again; enqueue seconds."""
    from flask_migrate import downgrade

    with app.app_context():
        if schema == schema_head(ROOT):
            upgrade()
        else:
            downgrade(revision=schema)
        db.session.execute(PushDelivery.__table__.delete())
        db.session.commit()
        if database == "postgresql":
            with db.engine.connect() as conn:
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                # Settle what populating left to do (autovacuum of the new
                # members, passes and devices, a checkpoint) outside the
                # worker's measured PostgreSQL CPU.
                conn.execute(text("VACUUM ANALYZE"))
                conn.execute(text("CHECKPOINT"))
        started = time.perf_counter()
        queued = outbox.enqueue_for_passes(pass_ids)
        db.session.commit()
        seconds = time.perf_counter() - started
        assert queued == len(pass_ids), queued
        db.session.remove()
        db.engine.dispose()
    return seconds


def run_worker(
    code: str,
    tree: Path,
    env: dict[str, str],
    processes: int,
    stand_in: int,
    server: Any,
    profiler: list[str],
) -> tuple[Round, float]:
    """One `flask worker --until-idle` run from `tree`; its figures, peak RSS."""
    cpu_before, _ = children_usage()
    stand_in_before, pg_before = process_cpu(stand_in), postgres_cpu(server)
    started = time.perf_counter()
    worker = subprocess.run(
        [
            sys.executable,
            *profiler,
            *("-m", "flask", "--app", "wsgi", "worker", "--until-idle"),
            *("--processes", str(processes)),
        ],
        cwd=tree,
        env={**env, "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
        check=False,
    )
    if worker.returncode:
        sys.stderr.write(worker.stderr[-3000:])
        raise SystemExit(f"worker ({code}) failed")
    wall = time.perf_counter() - started
    cpu_after, rss = children_usage()
    return (
        Round(
            code,
            wall,
            cpu_after - cpu_before,
            process_cpu(stand_in) - stand_in_before,
            postgres_cpu(server) - pg_before,
            " ".join(Path("/proc/loadavg").read_text().split()[:3]),
            re.findall(r"push worker \S+: (.*)", worker.stderr)[-1],
        ),
        rss,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--naive", type=int, default=2_000, help="0: no naive sender")
    parser.add_argument(
        "--database", choices=["sqlite", "postgresql"], default="sqlite"
    )
    parser.add_argument("--rtt-ms", type=float, default=20.0)
    parser.add_argument(
        "--rtt-pushes", type=int, default=20_000, help="0: no far stand-in table"
    )
    parser.add_argument("--rtt-naive", type=int, default=200)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--worker-processes",
        type=int,
        default=1,
        help="flask worker --processes (PostgreSQL only)",
    )
    parser.add_argument(
        "--apns-connections",
        type=int,
        default=None,
        help="APNS_CONNECTIONS for the worker (default: the app's default)",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="another code tree whose worker runs on the same data, alternating",
    )
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-push-"))
    certs = work / "certs"
    passes.write_dev_pki(passes.make_dev_pki(TOPIC, TEAM, "Bench"), certs)
    server = None
    if args.database == "postgresql":
        from sqlalchemy import create_engine

        from tests.support.postgres import PostgresServer

        server = PostgresServer().start()
        admin = create_engine(server.url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("CREATE DATABASE bench_push"))
        admin.dispose()
        database_url = server.url("bench_push")
    else:
        database_url = f"sqlite:///{work / 'push.sqlite3'}"

    stand_in, apns_url = start_stand_in(certs, work)
    settings = config(certs, database_url, apns_url)
    if args.apns_connections is not None:
        settings["APNS_CONNECTIONS"] = str(args.apns_connections)
    rounds: list[Round] = []
    worker_rss = 0.0
    try:
        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": database_url,
                **{k: v for k, v in settings.items() if k != "DATABASE_URL"},
            }
        )
        with app.app_context():
            upgrade()
            print(f"populating {args.devices} devices ...", file=sys.stderr)
            pass_ids = populate(args.devices)
            db.session.remove()
            db.engine.dispose()
        codes = [("new", ROOT)]
        if args.baseline is not None:
            codes = [("old", args.baseline.resolve()), ("new", ROOT)]
        profile_file = work / "worker.prof"
        profiler = ["-m", "cProfile", "-o", str(profile_file)] if args.profile else []
        env = {**os.environ, **settings}
        enqueued = 0.0
        for number in range(args.rounds):
            for code, tree in codes if number % 2 == 0 else codes[::-1]:
                seconds = requeue(app, pass_ids, args.database, schema_head(tree))
                enqueued = enqueued or seconds
                print(f"round {number + 1}: {code} worker ...", file=sys.stderr)
                found, rss = run_worker(
                    code,
                    tree,
                    env,
                    args.worker_processes,
                    stand_in.pid,
                    server,
                    profiler,
                )
                worker_rss = max(worker_rss, rss)
                with app.app_context():
                    found.counts = dict(
                        db.session.execute(
                            select(PushDelivery.status, func.count()).group_by(
                                PushDelivery.status
                            )
                        ).all()
                    )
                    if args.database == "postgresql":
                        time.sleep(1)  # the server's statistics lag a little
                        found.counts["updates (HOT)"] = "{} ({})".format(
                            *db.session.execute(
                                text(
                                    "SELECT n_tup_upd, n_tup_hot_upd FROM "
                                    "pg_stat_user_tables "
                                    "WHERE relname = 'push_delivery'"
                                )
                            ).one()
                        )
                    db.session.remove()
                    db.engine.dispose()
                rounds.append(found)

        tokens = [f"{i:064x}" for i in pass_ids[: args.naive]]
        naive_seconds = asyncio.run(naive(apns_url, certs, tokens)) if tokens else 0.0
    finally:
        stand_in.send_signal(signal.SIGTERM)
        stand_in_out, _ = stand_in.communicate(timeout=60)
        if server is not None and args.rtt_pushes <= 0:
            server.stop()
    far_pipelined = far_naive = 0.0
    far_tokens = [f"{i:064x}" for i in range(1, args.rtt_pushes + 1)]
    if far_tokens:
        far, far_url = start_stand_in(certs, work, args.rtt_ms)
        try:
            far_pipelined = asyncio.run(pipelined(far_url, certs, far_tokens))
            far_naive = asyncio.run(naive(far_url, certs, far_tokens[: args.rtt_naive]))
        finally:
            far.send_signal(signal.SIGTERM)
            far.communicate(timeout=60)
            if server is not None:
                server.stop()
    stand_in_report = json.loads(stand_in_out.strip().splitlines()[-1])

    n = args.devices
    connections = settings.get("APNS_CONNECTIONS") or "default"
    print(
        f"\npush fan-out, {args.database}, {n} devices, APNs stand-in on loopback "
        f"(TLS + HTTP/2, certificate mode), {os.cpu_count()} cores shared by "
        f"worker, stand-in and database; {args.worker_processes} worker "
        f"process(es), APNS_CONNECTIONS {connections}; enqueue {enqueued:.2f} s\n"
    )
    print(
        "| code | pushes/s | wall s | worker CPU ms/push | stand-in CPU ms/push "
        "| PostgreSQL CPU ms/push | cores busy | cores idle | load average "
        "after |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    cores = os.cpu_count() or 1
    for found in rounds:
        busy = (found.worker_cpu + found.stand_in_cpu + found.postgres_cpu) / found.wall
        print(
            f"| {found.code} | {n / found.wall:,.0f} | {found.wall:.1f} "
            f"| {found.worker_cpu / n * 1000:.3f} "
            f"| {found.stand_in_cpu / n * 1000:.3f} "
            f"| {found.postgres_cpu / n * 1000:.3f} | {busy:.2f} "
            f"| {max(0.0, 1 - busy / cores):.0%} | {found.load} |"
        )
    print("\n(wall: worker start-up to exit, including ~1 s of start-up)")
    for found in rounds:
        print(f"{found.code}: outbox {found.counts}; phases: {found.report}")
    print(
        f"stand-in saw (all rounds): {stand_in_report}; peak worker RSS "
        f"{worker_rss:.0f} MB"
    )
    if tokens:
        naive_rate = len(tokens) / naive_seconds
        print(
            f"naive sender (await each request), {len(tokens)} pushes: "
            f"{naive_rate:,.0f}/s, {n} would take {n / naive_rate:.1f} s"
        )
    if far_tokens:
        print(
            f"\nsenders only (no database), stand-in answering after {args.rtt_ms:g} "
            "ms (a network round trip)\n"
        )
        print("| sender | pushes | s | pushes/s | 100k would take |")
        print("|---|---|---|---|---|")
        for label, count, seconds in (
            (
                "h2, 1 connection, ≤250 streams in flight",
                len(far_tokens),
                far_pipelined,
            ),
            ("naive: await each request", args.rtt_naive, far_naive),
        ):
            rate = count / seconds
            print(
                f"| {label} | {count} | {seconds:.1f} | {rate:,.0f} "
                f"| {100_000 / rate:,.0f} s |"
            )
    if args.profile:
        print_profile(profile_file)


LAYERS = [
    ("waiting in epoll (idle, not CPU)", ("select.epoll",)),
    ("HTTP/2 framing (h2, hpack, hyperframe)", ("/h2/", "/hpack/", "/hyperframe/")),
    ("logging.debug calls (from hpack)", ("logging/__init__",)),
    ("TLS and sockets", ("/ssl.py", "sslproto", "_ssl.", "_socket.", "socket.py")),
    ("event loop (asyncio)", ("/asyncio/",)),
    ("our push code (app/push)", ("/app/push/",)),
    ("database (sqlalchemy, drivers)", ("sqlalchemy", "sqlite3", "psycopg")),
    ("start-up (imports, app)", ("<frozen", "importlib", "/flask/", "/jinja2/")),
]


def print_profile(path: Path) -> None:
    """Main-thread CPU of the worker, by layer (self time of each function)."""
    import pstats

    stats = pstats.Stats(str(path))
    totals: dict[str, float] = {}
    for (filename, _, name), row in stats.stats.items():  # type: ignore[attr-defined]
        where = f"{filename}:{name}"
        layer = next(
            (label for label, keys in LAYERS if any(k in where for k in keys)),
            "other",
        )
        totals[layer] = totals.get(layer, 0.0) + row[2]
    whole = sum(totals.values())
    print("\n| worker event-loop thread, by layer (cProfile self time) | s | share |")
    print("|---|---|---|")
    for layer, seconds in sorted(totals.items(), key=lambda item: -item[1]):
        print(f"| {layer} | {seconds:.1f} | {seconds / whole:.0%} |")


if __name__ == "__main__":
    main()
