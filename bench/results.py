"""Results at scale: a campaign's results, the KPI overview and segment counts
with the behaviour rules, over N members and about `--purchases` purchases per
member.

Generates the members (bench/campaign.py's generator), a done campaign whose
members are all assigned (10 % held out, set-based INSERT ... SELECT), purchases
spread over the last 400 days (INSERT ... SELECT per round, treated members
buying a little more often), takes planner statistics, then times
`results.campaign_results`, `kpi.overview` and `segments.counts` for the new
rules (best of --repeat). Not run by the tests; the issue's target is 1M members
and 10M purchases (< 5 s, < 2 s, < 2 s).

    .venv/bin/python bench/results.py [--members 1000000] [--purchases 10]
        [--database sqlite|postgresql] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select, text  # noqa: E402

from app.extensions import db  # noqa: E402
from app.models import ApiKey, Campaign, Program, Store  # noqa: E402
from app.models.campaign import DONE  # noqa: E402
from app.services import kpi, results, segments  # noqa: E402
from app.services.auth import create_key  # noqa: E402
from bench.campaign import NOW, generate  # noqa: E402
from bench.support import bench_app, databases, dev_certs  # noqa: E402

SEGMENTS: dict[str, Any] = {
    "spend >= 3000 in 365 days": {"spend": {"min": 3000}},
    "purchases <= 1 in 90 days": {"purchases": {"days": 90, "max": 1}},
    "avg_check >= 1500": {"avg_check": {"min": 1500}},
    "rfm champions": {"rfm": "champions"},
    "rfm at_risk": {"rfm": "at_risk"},
    "holdout_of the campaign": None,  # filled in with the campaign's id
}


def _round(
    program_id: int, store_id: int, key: ApiKey, campaign_id: int, r: int
) -> int:
    """One round of purchases in plain SQL (the same on both databases)."""
    cast_text = "CAST(m.id AS TEXT)"
    days = f"((m.id * 13 + {r} * 37) % 400)"
    if db.session.get_bind().dialect.name == "postgresql":
        at = f"TIMESTAMP '2026-11-25 12:00:00' - ({days} * INTERVAL '1 day')"
    else:
        at = f"datetime('2026-11-25 12:00:00', '-' || {days} || ' days')"
    # Treated members buy in 30 % of rounds, held-out members in 20 %.
    statement = text(
        "INSERT INTO pos_transaction (program_id, member_id, store_id, api_key_id, "
        "idempotency_key, fingerprint, receipt_id, currency, amount_kopecks, "
        "redeemed, earned, response, created_at) "
        f"SELECT :program, m.id, :store, :key, 'r{r}-' || {cast_text}, :fp, 'r', "
        f"'RUB', ((m.id * 31 + {r} * 17) % 3000 + 200) * 100, 0, 0, '{{}}', {at} "
        "FROM member m JOIN assignment a ON a.member_id = m.id "
        "WHERE a.campaign_id = :campaign AND ((m.id * 7919 + :r * 104729) % 100) < "
        "CASE WHEN a.grp = 'treatment' THEN 30 ELSE 20 END"
    )
    result = db.session.execute(
        statement,
        {
            "program": program_id,
            "store": store_id,
            "key": key.id,
            "fp": "x" * 64,
            "campaign": campaign_id,
            "r": r,
        },
    )
    return int(getattr(result, "rowcount", 0) or 0)


def assign_all(program: Program) -> Campaign:
    """A done campaign with every member assigned (10 % held out), set-based."""
    campaign = Campaign(
        program_id=program.id,
        name="bench",
        texts={"ru": "Bench"},
        segment={"all": {}},
        state=DONE,
        holdout_percent=10,
        variants=[],
        attribution_days=14,
    )
    db.session.add(campaign)
    db.session.flush()
    db.session.execute(
        text(
            "INSERT INTO assignment (program_id, member_id, source_key, campaign_id, "
            "grp, reached, created_at) SELECT program_id, id, :source, :campaign, "
            "CASE WHEN id % 10 = 0 THEN 'control' ELSE 'treatment' END, "
            "id % 3 = 0, :at FROM member WHERE program_id = :program"
        ),
        {
            "source": f"campaign:{campaign.id}",
            "campaign": campaign.id,
            "at": (NOW.replace(tzinfo=None) - _days(20)),
            "program": program.id,
        },
    )
    return campaign


def _days(n: int) -> Any:
    from datetime import timedelta

    return timedelta(days=n)


def best_of(repeat: int, work: Any) -> tuple[float, Any]:
    best, answer = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        answer = work()
        best = min(best, time.perf_counter() - started)
        db.session.rollback()
    return best, answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--purchases", type=int, default=10)
    parser.add_argument(
        "--database", choices=["sqlite", "postgresql"], default="sqlite"
    )
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-results-"))
    rows: list[tuple[str, float, str]] = []
    load = os.getloadavg()[0]
    try:
        with databases(args.database, work, "results") as urls:
            app = bench_app(urls["results"], dev_certs(work))
            with app.app_context():
                generate(args.members, 0.3)
                program = db.session.scalar(select(Program).order_by(Program.id))
                assert program is not None
                campaign = assign_all(program)
                # Purchases in rounds (each ~25 % of members), ~--purchases each.
                made = sum(
                    _round(
                        program.id,
                        *_till(program),
                        campaign.id,
                        r,
                    )
                    for r in range(args.purchases * 4)
                )
                db.session.commit()
                db.session.execute(text("ANALYZE"))
                db.session.commit()
                seconds, body = best_of(
                    args.repeat, lambda: results.campaign_results(campaign)
                )
                conversion = body["conversion_difference"]
                rows.append(
                    (
                        "campaign results",
                        seconds,
                        f"conversion +{conversion['estimate']:.3f} "
                        f"[{conversion['low']:.3f}, {conversion['high']:.3f}]",
                    )
                )
                seconds, figures = best_of(
                    args.repeat, lambda: kpi.overview(program, NOW)
                )
                rows.append(
                    ("KPI overview", seconds, f"active 30d {figures['active_30d']:,}")
                )
                for label, rule in SEGMENTS.items():
                    rule = rule or {"holdout_of": {"campaign": campaign.id}}
                    seconds, counted = best_of(
                        args.repeat,
                        lambda rule=rule: segments.counts(program, rule, NOW),
                    )
                    rows.append(
                        (f"segment: {label}", seconds, f"{counted['members']:,}")
                    )
                db.session.remove()
                db.engine.dispose()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"\nresults, {args.database}, {args.members:,} members, {made:,} purchases; "
        f"best of {args.repeat}; {os.cpu_count()} cores, load {load:.1f} at the start\n"
    )
    print("| figure | time | answer |")
    print("|---|---|---|")
    for label, seconds, answer in rows:
        print(f"| {label} | {seconds:.2f} s | {answer} |")


def _till(program: Program) -> tuple[int, ApiKey]:
    store = db.session.scalar(
        select(Store).where(Store.program_id == program.id).order_by(Store.id)
    )
    assert store is not None
    key = db.session.scalar(select(ApiKey).where(ApiKey.store_id == store.id))
    if key is None:
        key = create_key("pos", store=store).api_key
        db.session.flush()
    return store.id, key


if __name__ == "__main__":
    main()
