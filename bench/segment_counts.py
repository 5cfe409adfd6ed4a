"""Segment preview counts at scale: this tree's `segments.counts` against the
same function at an older commit, side by side on the same database.

Generates N members in bulk (bench/campaign.py's generator: a share with a pass
and a registered Apple device), takes planner statistics (as a deployment has
them: autovacuum on PostgreSQL, the worker's daily `sqlite_statistics` job on
SQLite), then times `counts()` for a set of segments with the current code and
with `app/services/segments.py` as it was at `--old-ref` (best of --repeat;
both must return the same counts).

    .venv/bin/python bench/segment_counts.py [--members 1000000]
        [--device-share 0.3] [--database sqlite|postgresql] [--old-ref 70a2224]
        [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from app.extensions import db  # noqa: E402
from app.models import Program  # noqa: E402
from app.services import segments  # noqa: E402
from bench.campaign import NOW, generate  # noqa: E402
from bench.support import bench_app, databases, dev_certs, module_at  # noqa: E402

SEGMENTS = {
    "all": {"all": {}},
    "tier + new + not birthday": {
        "and": [
            {"tier": ["silver", "gold"]},
            {"new": {"days": 365}},
            {"not": {"birthday": {"from": "12-01", "to": "12-31"}}},
        ]
    },
    "reachable": {"reachable": {}},
    "reachable by Apple": {"reachable": {"platform": "apple"}},
    "not reachable": {"not": {"reachable": {}}},
    "installed, never scanned": {"installed_never_scanned": {}},
    "gold and reachable": {"and": [{"tier": ["gold"]}, {"reachable": {}}]},
}


def best_of(repeat: int, module: ModuleType, program: Program, rule: object) -> tuple:
    best, counted = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        counted = module.counts(program, rule, NOW)
        best = min(best, time.perf_counter() - started)
        db.session.rollback()
    return best, counted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--device-share", type=float, default=0.3)
    parser.add_argument(
        "--database", choices=["sqlite", "postgresql"], default="sqlite"
    )
    parser.add_argument("--old-ref", default="70a2224")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    old = module_at(args.old_ref, "app/services/segments.py", "segments_old")
    work = Path(tempfile.mkdtemp(prefix="bench-segments-"))
    rows = []
    started_load = os.getloadavg()[0]
    try:
        with databases(args.database, work, "segments") as urls:
            app = bench_app(urls["segments"], dev_certs(work))
            with app.app_context():
                generate(args.members, args.device_share)
                program = db.session.scalar(select(Program).order_by(Program.id))
                for label, rule in SEGMENTS.items():
                    old_s, old_counts = best_of(args.repeat, old, program, rule)
                    new_s, new_counts = best_of(args.repeat, segments, program, rule)
                    assert old_counts == new_counts, (label, old_counts, new_counts)
                    rows.append((label, old_s, new_s, new_counts))
                db.session.remove()
                db.engine.dispose()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"\nsegment counts, {args.database}, {args.members:,} members, "
        f"{args.device_share:.0%} with a pass and a registered Apple device; best "
        f"of {args.repeat}; {os.cpu_count()} cores, load average {started_load:.1f} "
        f"at the start, {os.getloadavg()[0]:.1f} at the end\n"
    )
    print(f"| segment | old ({args.old_ref}) | new | members | reachable |")
    print("|---|---|---|---|---|")
    for label, old_s, new_s, counted in rows:
        print(
            f"| {label} | {old_s:.2f} s | {new_s:.2f} s | {counted['members']:,} "
            f"| {counted['reachable']:,} |"
        )


if __name__ == "__main__":
    main()
