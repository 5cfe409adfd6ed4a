"""The pass_hashes job at scale: filling every unknown hash, batch by batch,
with the keyset over batches (`pass_hashes.fill`) against the previous loop
that asked for "the first BATCH unknown passes" each time (`fill_batch`).

Generates N members in bulk (bench/campaign.py's generator; a share with a pass
and a registered device, every pass with an unknown hash, as a campaign leaves
them), takes planner statistics then (as the daily `sqlite_statistics` job or
autovacuum would while the hashes are still unknown), fills all hashes the
previous way, marks them unknown again, and fills them the current way.

    .venv/bin/python bench/pass_hashes.py [--members 1000000]
        [--device-share 0.3] [--database sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select, update  # noqa: E402

from app import database  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import Pass  # noqa: E402
from app.services import pass_hashes  # noqa: E402
from app.services.passes import UNKNOWN_HASH  # noqa: E402
from bench.campaign import generate  # noqa: E402
from bench.support import bench_app, databases, dev_certs  # noqa: E402


def previous_fill() -> int:
    """The loop before the keyset: each batch asks for the first unknown ones."""
    filled = 0
    while True:
        database.begin_write()
        examined = pass_hashes.fill_batch(pass_hashes.BATCH)
        db.session.commit()
        filled += examined
        if examined < pass_hashes.BATCH:
            return filled


def timed(fill: object) -> tuple[float, float, int]:
    started, cpu = time.perf_counter(), time.process_time()
    filled = fill()  # type: ignore[operator]
    return time.perf_counter() - started, time.process_time() - cpu, filled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--device-share", type=float, default=0.3)
    parser.add_argument(
        "--database", choices=["sqlite", "postgresql"], default="sqlite"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-hashes-"))
    started_load = os.getloadavg()[0]
    rows = {}
    try:
        with databases(args.database, work, "hashes") as urls:
            app = bench_app(urls["hashes"], dev_certs(work))
            with app.app_context():
                generate(args.members, args.device_share)
                for label, fill in (
                    ("previous: first BATCH unknown, each batch", previous_fill),
                    (
                        "now: keyset over the batches (`fill`)",
                        lambda: pass_hashes.fill(None),
                    ),
                ):
                    db.session.execute(update(Pass).values(content_hash=UNKNOWN_HASH))
                    db.session.commit()
                    rows[label] = timed(fill)
                    left = db.session.scalar(
                        select(func.count()).where(Pass.content_hash == UNKNOWN_HASH)
                    )
                    assert left == 0, f"{left} passes left unknown"
                db.session.remove()
                db.engine.dispose()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"\npass_hashes fill, {args.database}, {args.members:,} members, "
        f"{args.device_share:.0%} with a pass; batches of {pass_hashes.BATCH}; "
        f"{os.cpu_count()} cores, load average {started_load:.1f} at the start, "
        f"{os.getloadavg()[0]:.1f} at the end\n"
    )
    print("| fill | wall | CPU | passes | passes/s |")
    print("|---|---|---|---|---|")
    for label, (seconds, cpu, filled) in rows.items():
        print(
            f"| {label} | {seconds:.1f} s | {cpu:.1f} s | {filled:,} "
            f"| {filled / seconds:,.0f} |"
        )


if __name__ == "__main__":
    main()
