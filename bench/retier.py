"""Re-tiering every member after a tier-threshold change (`loyalty.retier`, what each
batch of the settings refresh runs first), against baselines in the same run.

Generates N members in bulk, each with one purchase (0 to 150,000 roubles; a
fifth of them older than the 12-month window), then:
- floor: only reading (id, tier, rolling spend) for every member in the same
  batches, nothing written;
- set-based re-tier after the gold/platinum thresholds are halved (members
  move up), then back (they move down), then once more with nothing to move;
- baseline: the ORM way (Member objects, a spend query and an attribute set per
  member, flushed per batch) over the first --baseline members;
- the Python heap's peak (tracemalloc) of the set-based pass, over N members and
  over a tenth of them: memory stays flat in N (bounded by loyalty.RETIER_BATCH rows).

    .venv/bin/python bench/retier.py [--members 200000] [--baseline 20000]
        [--database sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, insert, select, text  # noqa: E402

from app.extensions import db  # noqa: E402
from app.models import Member, PosTransaction, Program, Store  # noqa: E402
from app.services import loyalty  # noqa: E402
from app.services.auth import create_key  # noqa: E402
from app.services.demo import TIERS, seed_demo  # noqa: E402
from bench.support import bench_app, databases, dev_certs  # noqa: E402

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
INSERT_BATCH = 20_000


def populate(n: int) -> int:
    """n members (silver), one purchase each; returns the program id."""
    program = seed_demo()
    store = db.session.scalar(select(Store).where(Store.program_id == program.id))
    key = create_key("pos", program=program, store=store).api_key
    db.session.commit()
    for start in range(0, n, INSERT_BATCH):
        count = min(INSERT_BATCH, n - start)
        numbers = [f"7{i:011d}" for i in range(start, start + count)]
        db.session.execute(
            insert(Member),
            [
                {
                    "program_id": program.id,
                    "card_number": number,
                    "card_token": secrets.token_hex(12),
                    "name": "Bench",
                    "phone": f"+7900{i:07d}",
                    "language": "ru",
                    "consent_version": "bench",
                    "consent_at": NOW,
                    "points": 0,
                    "tier": "silver",
                    "offer": "",
                    "created_at": NOW,
                }
                for i, number in enumerate(numbers, start)
            ],
        )
        ids = db.session.scalars(
            select(Member.id).where(Member.card_number.in_(numbers)).order_by(Member.id)
        ).all()
        db.session.execute(
            insert(PosTransaction),
            [
                {
                    "program_id": program.id,
                    "member_id": member_id,
                    "store_id": store.id,
                    "api_key_id": key.id,
                    "idempotency_key": f"bench-{member_id}",
                    "fingerprint": "x" * 64,
                    "receipt_id": "r",
                    "currency": "RUB",
                    "amount_kopecks": (member_id * 7919 % 150_000) * 100,
                    "redeemed": 0,
                    "earned": 0,
                    "response": {},
                    "created_at": NOW - timedelta(days=(member_id % 5) * 100),
                }
                for member_id in ids
            ],
        )
        db.session.commit()
    return program.id


def set_thresholds(program: Program, gold: int, platinum: int) -> None:
    program.tiers = [
        TIERS[0],
        {**TIERS[1], "min_spend": gold},
        {**TIERS[2], "min_spend": platinum},
    ]
    db.session.commit()


def retier_all(program: Program) -> tuple[float, int]:
    """(seconds, moved): loyalty.retier over every member, a transaction per
    loyalty.RETIER_BATCH members (as the refresh job commits per batch)."""
    started = time.perf_counter()
    moved = 0
    after = 0
    while True:
        upto = db.session.scalar(
            select(Member.id)
            .where(Member.program_id == program.id, Member.id > after)
            .order_by(Member.id)
            .offset(loyalty.RETIER_BATCH - 1)
            .limit(1)
        )
        moved += len(loyalty.retier(program, after, upto, NOW))
        db.session.commit()
        if upto is None:
            return time.perf_counter() - started, moved
        after = upto


def read_floor(program: Program) -> float:
    """Baseline: the same reads (id, tier, spend per member), nothing written."""
    started = time.perf_counter()
    after = 0
    while True:
        rows = db.session.execute(
            select(Member.id, Member.tier, loyalty.rolling_spend(Member.id))
            .where(Member.program_id == program.id, Member.id > after)
            .order_by(Member.id)
            .limit(loyalty.RETIER_BATCH),
            {"since": NOW - loyalty.SPEND_WINDOW},
        ).all()
        if len(rows) < loyalty.RETIER_BATCH:
            db.session.commit()
            return time.perf_counter() - started
        after = rows[-1].id


def orm_retier(program: Program, limit: int) -> tuple[float, int]:
    """Baseline: Member objects, one spend query and attribute set per member."""
    started = time.perf_counter()
    moved = 0
    after = 0
    done = 0
    while done < limit:
        members = db.session.scalars(
            select(Member)
            .where(Member.program_id == program.id, Member.id > after)
            .order_by(Member.id)
            .limit(min(loyalty.RETIER_BATCH, limit - done))
        ).all()
        if not members:
            break
        for member in members:
            total = db.session.scalar(
                select(func.coalesce(func.sum(PosTransaction.amount_kopecks), 0)).where(
                    PosTransaction.member_id == member.id,
                    PosTransaction.created_at >= NOW - loyalty.SPEND_WINDOW,
                    PosTransaction.refunded_at.is_(None),
                )
            )
            tier = loyalty.tier_for_spend(program, total)
            if tier != member.tier:
                member.tier = tier
                moved += 1
        db.session.commit()
        done += len(members)
        after = members[-1].id
    return time.perf_counter() - started, moved


def traced_peak(program: Program, members: int) -> int:
    """Python heap peak (bytes) of a set-based re-tier of the first `members`."""
    upto = db.session.scalar(
        select(Member.id)
        .where(Member.program_id == program.id)
        .order_by(Member.id)
        .offset(members - 1)
        .limit(1)
    )
    set_thresholds(program, 30000, 100000)
    tracemalloc.start()
    after = 0
    while True:
        step = db.session.scalar(
            select(Member.id)
            .where(Member.program_id == program.id, Member.id > after)
            .order_by(Member.id)
            .offset(loyalty.RETIER_BATCH - 1)
            .limit(1)
        )
        last = step if step is not None and step < upto else upto
        loyalty.retier(program, after, last, NOW)
        db.session.commit()
        if last == upto:
            break
        after = last
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    set_thresholds(program, 15000, 50000)
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=200_000)
    parser.add_argument("--baseline", type=int, default=20_000)
    parser.add_argument(
        "--database", choices=["sqlite", "postgresql"], default="sqlite"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-retier-"))
    rows = []
    with databases(args.database, work, "retier") as urls:
        app = bench_app(urls["retier"], dev_certs(work))
        with app.app_context():
            from flask_migrate import upgrade

            upgrade()
            started = time.perf_counter()
            program_id = populate(args.members)
            generated = time.perf_counter() - started
            program = db.session.get(Program, program_id)
            assert program is not None
            n = db.session.scalar(select(func.count()).select_from(Member))
            if args.database == "sqlite":
                db.session.execute(text("ANALYZE"))
                db.session.commit()
            rows.append(
                ("floor: read id, tier, spend only", n, "—", read_floor(program))
            )
            set_thresholds(program, 15000, 50000)
            seconds, moved = retier_all(program)
            rows.append(("set-based: thresholds halved (up)", n, moved, seconds))
            set_thresholds(program, 30000, 100000)
            seconds, moved = retier_all(program)
            rows.append(("set-based: thresholds back (down)", n, moved, seconds))
            seconds, moved = retier_all(program)
            rows.append(("set-based: nothing to move", n, moved, seconds))
            set_thresholds(program, 15000, 50000)
            baseline = min(args.baseline, n)
            seconds, moved = orm_retier(program, baseline)
            rows.append(("baseline: ORM objects, per member", baseline, moved, seconds))
            peak_small = traced_peak(program, max(1, n // 10))
            peak_full = traced_peak(program, n)
    print(
        f"\nre-tiering, {args.database}, {n:,} members with one purchase each "
        f"(generated in {generated:.0f} s), batches of {loyalty.RETIER_BATCH} "
        f"(cpu: {os.cpu_count()} cores)\n"
    )
    print("| scenario | members | moved | seconds | members/s |")
    print("|---|---|---|---|---|")
    for name, count, moved, seconds in rows:
        print(
            f"| {name} | {count:,} | {moved} | {seconds:.2f} | {count / seconds:,.0f} |"
        )
    print(
        f"\nPython heap peak of a set-based re-tier: {peak_small / 1e6:.1f} MB over "
        f"{max(1, n // 10):,} members, {peak_full / 1e6:.1f} MB over {n:,}"
    )


if __name__ == "__main__":
    main()
