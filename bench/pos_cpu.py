"""POS cost per purchase, independent of machine load: CPU and statements.

Runs PURCHASES purchases one after another through the WSGI app in-process (the
whole Flask stack: auth, limiter, request log, metrics; no HTTP server) on a
throwaway PostgreSQL, and reports per purchase: the app's CPU time (ms), the
PostgreSQL backend's CPU time (ms, from /proc), wall time, SQL statements and
transactions. Unlike throughput these figures barely move when other work shares
the machine, so an old and a new code tree can be compared honestly: `--baseline
DIR` runs the same purchases against the code in DIR (e.g. an export of main:
`git archive <commit> | tar -x -C DIR`) in the same run, alternating rounds.

The purchases mirror bench/pos_load.py: random card and store, 30 % redeeming
1-30 points, 10 % sent again with the same Idempotency-Key (counted as requests,
not purchases). `--offer-share S`: as in bench/pos_load.py, every member holds a
10 % offer instance and a share S of purchases redeems an unused one.

    .venv/bin/python bench/pos_cpu.py [--baseline DIR] [--purchases 1500]
        [--rounds 3] [--offer-share 0.3] [--profile | --spy]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _backend_cpu_ms(pid: int) -> float:
    """CPU time (user + system) of a PostgreSQL backend process, in ms."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    return ticks * 1000 / os.sysconf("SC_CLK_TCK")


def child(args: argparse.Namespace) -> None:
    """Run in a subprocess whose import path starts with the code tree measured."""
    sys.path.insert(0, args.tree)
    os.chdir(args.tree)
    from sqlalchemy import event, text

    from app import create_app
    from app.extensions import db

    setup = json.loads(Path(args.setup).read_text())
    app = create_app()
    counts = {"statements": 0, "commits": 0, "rollbacks": 0}

    def count(*_: object) -> None:
        counts["statements"] += 1

    rng = random.Random(args.seed)
    # Unused offer instances [barcode, [id]] (each round's database is a fresh copy).
    instances = [
        (barcode, [instance]) for barcode, instance in setup.get("instances", [])
    ]
    rng.shuffle(instances)
    client = app.test_client()
    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", count)
        event.listen(
            db.engine,
            "commit",
            lambda *_: counts.__setitem__("commits", counts["commits"] + 1),
        )
        event.listen(
            db.engine,
            "rollback",
            lambda *_: counts.__setitem__("rollbacks", counts["rollbacks"] + 1),
        )
        if args.feedback_percent:
            # Feedback on (services.feedback): this share of purchases asks for a
            # rating (at most once per member in 30 days). A tree without
            # feedback ignores the rule.
            from app.models import Program

            for program in db.session.scalars(db.select(Program)):
                program.rules = {
                    **(program.rules or {}),
                    "feedback": {
                        "enabled": True,
                        "sample_percent": args.feedback_percent,
                        "every_days": 30,
                        "answer_days": 14,
                    },
                }
            db.session.commit()
        # One pool connection is reused for every request: find its backend.
        backend = db.session.scalar(text("SELECT pg_backend_pid()"))
        db.session.commit()

    def purchase(n: int) -> tuple[int, int]:
        """(purchases, requests) made."""
        made = requests = 0
        for _ in range(n):
            key = rng.choice(setup["keys"])
            redeem = rng.randint(1, 30) if rng.random() < 0.3 else 0
            body: dict[str, object] = {
                "code": rng.choice(setup["barcodes"]),
                "amount": f"{rng.randint(10_000, 500_000) / 100:.2f}",
                "receipt_id": uuid.uuid4().hex[:12],
                "redeem_points": redeem,
            }
            if instances and rng.random() < args.offer_share:
                body["code"], body["offer_ids"] = instances.pop()
            headers = {
                "Authorization": f"Bearer {key}",
                "Idempotency-Key": str(uuid.uuid4()),
            }
            sends = 2 if rng.random() < 0.1 else 1
            for _ in range(sends):
                response = client.post(
                    "/api/v1/pos/transactions", json=body, headers=headers
                )
                assert response.status_code == 201, response.get_data(as_text=True)
                requests += 1
            made += 1
        return made, requests

    purchase(args.warmup)
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    for name in counts:
        counts[name] = 0
    server_before = _backend_cpu_ms(backend)
    cpu_before, wall_before = time.process_time(), time.perf_counter()
    made, requests = purchase(args.purchases)
    cpu = time.process_time() - cpu_before
    wall = time.perf_counter() - wall_before
    server = _backend_cpu_ms(backend) - server_before
    if args.profile:
        profiler.disable()
        profiler.dump_stats(args.profile_out)
    print(
        json.dumps(
            {
                "purchases": made,
                "requests": requests,
                "app_cpu_ms": cpu * 1000 / made,
                "db_cpu_ms": server / made,
                "wall_ms": wall * 1000 / made,
                "statements": counts["statements"] / made,
                "transactions": (counts["commits"] + counts["rollbacks"]) / made,
            }
        )
    )


def summarize_profile(path: str, top: int) -> None:
    """Where the time goes, by package, then the heaviest functions."""
    import pstats

    stats = pstats.Stats(path)
    by_package: dict[str, float] = {}
    total = 0.0
    for (filename, _, _), (_, _, tottime, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        total += tottime
        if "site-packages/" in filename:
            package = filename.split("site-packages/")[1].split("/")[0]
        elif "/app/" in filename or "/passes/" in filename:
            package = "(own code)"
        elif filename.startswith("~") or "<" in filename:
            package = "(builtins)"
        else:
            package = "(stdlib)"
        by_package[package] = by_package.get(package, 0) + tottime
    print("\n| package | share of CPU |\n|---|---|")
    for package, seconds in sorted(by_package.items(), key=lambda kv: -kv[1])[:12]:
        print(f"| {package} | {seconds / total:.0%} |")
    print()
    stats.sort_stats("tottime").print_stats(top)


def summarize_spy(path: str, top: int) -> None:
    """On-CPU samples: inclusive share of our functions, exclusive by package."""
    inclusive: dict[str, int] = {}
    leaf: dict[str, int] = {}
    total = 0
    for line in Path(path).read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        frames = stack.split(";")
        if not any("purchase" in f for f in frames):
            continue  # start-up and set-up, not the measured requests
        total += count
        seen = set()
        for frame in frames:
            name = frame.split(" (")[0]
            where = frame.split(" (")[-1]
            if ("/app/" in where or "/passes/" in where) and name not in seen:
                seen.add(name)
                label = f"{name} ({where.split('/')[-1].split(':')[0]})"
                inclusive[label] = inclusive.get(label, 0) + count
        last = frames[-1].split(" (")[-1]
        if "site-packages/" in last:
            package = last.split("site-packages/")[1].split("/")[0]
        elif "/app/" in last or "/passes/" in last:
            package = "(own code)"
        else:
            package = "(stdlib/builtins)"
        leaf[package] = leaf.get(package, 0) + count
    print(f"\n{total} samples; by package (exclusive):\n")
    print("| package | share |\n|---|---|")
    for package, count in sorted(leaf.items(), key=lambda kv: -kv[1])[:10]:
        print(f"| {package} | {count / total:.0%} |")
    print("\nour functions (inclusive):\n\n| function | share |\n|---|---|")
    for label, count in sorted(inclusive.items(), key=lambda kv: -kv[1])[:top]:
        print(f"| {label} | {count / total:.0%} |")


def parent(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "bench"))
    from pos_load import SECRET_KEY, prepare, prepare_offers
    from sqlalchemy import create_engine, text

    from tests.support.postgres import PostgresServer

    trees = [("new", str(ROOT))]
    if args.baseline:
        trees.insert(0, ("old", str(Path(args.baseline).resolve())))
    results: dict[str, list[dict[str, float]]] = {name: [] for name, _ in trees}
    server = PostgresServer().start()
    try:
        keys, barcodes = prepare(server, args.members, args.devices_share)
        instances = prepare_offers(server, barcodes) if args.offer_share else []
        admin = create_engine(server.url(), isolation_level="AUTOCOMMIT")
        with tempfile.TemporaryDirectory() as tmp:
            setup = Path(tmp) / "setup.json"
            setup.write_text(
                json.dumps({"keys": keys, "barcodes": barcodes, "instances": instances})
            )
            for round_ in range(args.rounds):
                for name, tree in trees:
                    database = f"cpu_{name}_{round_}"
                    with admin.connect() as conn:
                        conn.execute(
                            text(f'CREATE DATABASE "{database}" TEMPLATE pos_template')
                        )
                    profile_out = str(Path(tmp) / f"{name}.prof")
                    env = {
                        **os.environ,
                        "DATABASE_URL": server.url(database),
                        "SECRET_KEY": SECRET_KEY,
                        # http: a bench runs on development certificates, which https
                        # (production) refuses.
                        "PUBLIC_BASE_URL": "http://wallet.bench",
                    }
                    command = [
                        sys.executable,
                        __file__,
                        "--child",
                        "--tree",
                        tree,
                        "--setup",
                        str(setup),
                        "--purchases",
                        str(args.purchases),
                        "--warmup",
                        str(args.warmup),
                        "--seed",
                        str(round_),
                        "--feedback-percent",
                        str(args.feedback_percent),
                        "--offer-share",
                        str(args.offer_share),
                    ]
                    if args.profile and round_ == 0:
                        command += ["--profile", "--profile-out", profile_out]
                    spy_out = str(Path(tmp) / f"{name}.collapsed")
                    if args.spy and round_ == 0:
                        # Sampling profiler outside the process: no overhead in
                        # the figures of later rounds, on-CPU samples only.
                        command = [
                            str(Path(sys.executable).with_name("py-spy")),
                            "record",
                            # Only the thread holding the GIL: on-CPU Python, not
                            # the waits for PostgreSQL (psycopg waits without it).
                            "--gil",
                            "--full-filenames",
                            "--format",
                            "raw",
                            "--rate",
                            "1000",
                            "--output",
                            spy_out,
                            "--",
                            *command,
                        ]
                    out = subprocess.run(
                        command,
                        env=env,
                        check=True,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.DEVNULL,
                        text=True,
                    ).stdout
                    lines = [x for x in out.splitlines() if x.startswith("{")]
                    results[name].append(json.loads(lines[-1]))
                    with admin.connect() as conn:
                        conn.execute(text(f'DROP DATABASE "{database}" WITH (FORCE)'))
                    if args.spy and round_ == 0:
                        print(f"\n## py-spy: {name} ({tree})")
                        summarize_spy(spy_out, args.top)
                    if args.profile and round_ == 0:
                        print(f"\n## profile: {name} ({tree})")
                        summarize_profile(profile_out, args.top)
        admin.dispose()
    finally:
        server.stop()
    load = os.getloadavg()
    print(
        f"\nPOS cost per purchase: {args.purchases} purchases x {args.rounds} rounds, "
        f"one at a time, in-process WSGI, PostgreSQL, {args.devices_share:.0%} of "
        f"passes with a device, {args.offer_share:.0%} redeeming an offer; "
        f"median of rounds; "
        f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}\n"
    )
    columns = [
        ("app_cpu_ms", "app CPU ms", 2),
        ("db_cpu_ms", "PostgreSQL CPU ms", 2),
        ("wall_ms", "wall ms", 2),
        ("statements", "SQL statements", 2),
        ("transactions", "transactions", 2),
    ]
    print("| code | " + " | ".join(label for _, label, _ in columns) + " |")
    print("|---|" + "---|" * len(columns))
    for name, tree in trees:
        cells = [
            f"{statistics.median(r[key] for r in results[name]):.{digits}f}"
            for key, _, digits in columns
        ]
        print(f"| {name} ({Path(tree).name}) | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", help="another code tree to compare against")
    parser.add_argument("--purchases", type=int, default=1500)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument(
        "--devices-share",
        type=float,
        default=0.0,
        help="share of passes with a registered device (a push queued per sale)",
    )
    parser.add_argument(
        "--feedback-percent",
        type=int,
        default=0,
        help="switch feedback on: this share of purchases is asked (0: off)",
    )
    parser.add_argument(
        "--offer-share",
        type=float,
        default=0.0,
        help="share of purchases redeeming an offer instance (as bench/pos_load.py)",
    )
    parser.add_argument("--profile", action="store_true", help="cProfile round 1")
    parser.add_argument("--spy", action="store_true", help="py-spy round 1")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tree", help=argparse.SUPPRESS)
    parser.add_argument("--setup", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--profile-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
    else:
        parent(args)


if __name__ == "__main__":
    main()
