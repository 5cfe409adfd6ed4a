"""Automations at scale: birthday, welcome, win-back and points reminder for one
day over N generated members, with this code and with `automations.py` as it
was at an older commit (`--old-ref`), side by side on a small database (the old
code is quadratic in the members a run reaches, so only the small one).

Members come from bench/campaign.py's generator (a share with a pass and a
registered Apple device; none has bought, so nearly everyone who joined more
than 60 days ago is lapsed and everyone with 500+ points gets a reminder: the
first day after switching these automations on). Each automation is run once
for the day, as `POST /api/v1/automations/<name>/run` does; wall and CPU time,
members reached, and the process's peak RSS.

    .venv/bin/python bench/automations.py [--members 1000000] [--baseline 5000]
        [--device-share 0.3] [--database sqlite|postgresql] [--old-ref 70a2224]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from app.extensions import db  # noqa: E402
from app.models import Program  # noqa: E402
from app.services import automations  # noqa: E402
from bench.campaign import generate  # noqa: E402
from bench.support import bench_app, databases, dev_certs, module_at  # noqa: E402

DAY = date(2026, 11, 26)
NAMES = ("birthday", "welcome", "win_back", "points_reminder")


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(url: str, certs: Path, n: int, share: float, module: ModuleType) -> dict:
    app = bench_app(url, certs)
    out: dict[str, str] = {}
    with app.app_context():
        generate(n, share)
        program = db.session.scalar(select(Program).order_by(Program.id))
        for name in NAMES:
            started, cpu = time.perf_counter(), time.process_time()
            result = module.run_for_date(program, name, DAY)
            db.session.commit()
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
            sent = result["sent"]
            out[name] = (
                f"{seconds:.1f} s, {cpu:.1f} s CPU ({sent:,} members, "
                f"{sent / max(seconds, 1e-9):,.0f}/s)"
            )
        out["process peak RSS so far"] = f"{rss_mb():.0f} MB"
        db.session.remove()
        db.engine.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--baseline", type=int, default=5_000)
    parser.add_argument("--device-share", type=float, default=0.3)
    parser.add_argument(
        "--database", choices=["sqlite", "postgresql"], default="sqlite"
    )
    parser.add_argument("--old-ref", default="70a2224")
    args = parser.parse_args()
    old = module_at(args.old_ref, "app/services/automations.py", "automations_old")
    work = Path(tempfile.mkdtemp(prefix="bench-automations-"))
    started_load = os.getloadavg()[0]
    try:
        certs = dev_certs(work)
        with databases(args.database, work, "old", "small", "large") as urls:
            columns = {
                f"old code ({args.old_ref}), {args.baseline:,}": measure(
                    urls["old"], certs, args.baseline, args.device_share, old
                ),
                f"new, {args.baseline:,}": measure(
                    urls["small"], certs, args.baseline, args.device_share, automations
                ),
                f"new, {args.members:,}": measure(
                    urls["large"], certs, args.members, args.device_share, automations
                ),
            }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"\nautomations for {DAY}, {args.database}, run in-process as the API's "
        f"'run now' does; {args.device_share:.0%} of members with a pass and a "
        f"device; {os.cpu_count()} cores, load average {started_load:.1f} at the "
        f"start, {os.getloadavg()[0]:.1f} at the end\n"
    )
    print("| automation | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for row in (*NAMES, "process peak RSS so far"):
        print(f"| {row} | " + " | ".join(c[row] for c in columns.values()) + " |")


if __name__ == "__main__":
    main()
