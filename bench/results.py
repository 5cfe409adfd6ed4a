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

    .venv/bin/python bench/results.py [--members 1000000] [--baseline 10000]
        [--purchases 10] [--database sqlite|postgresql] [--repeat 3]

The baseline (a small program, its own database) runs first in the same
process; each figure is printed for both with the process's peak RSS while it
ran (VmHWM reset before each figure), so memory flat in N shows side by side.
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
from app.services import kpi, offers, results, segments  # noqa: E402
from app.services.auth import create_key  # noqa: E402
from bench.campaign import NOW, generate  # noqa: E402
from bench.support import bench_app, databases, dev_certs  # noqa: E402

SEGMENTS: dict[str, Any] = {
    "spend >= 3000 in 365 days": {"spend": {"min": 3000}},
    "purchases <= 1 in 90 days": {"purchases": {"days": 90, "max": 1}},
    "avg_check >= 1500": {"avg_check": {"min": 1500}},
    "points 1000-3000": {"points": {"min": 1000, "max": 3000}},
    "offer_redeemed (any, 30 days)": {"offer_redeemed": {"days": 30}},
    "rfm champions": {"rfm": "champions"},
    "rfm loyal": {"rfm": "loyal"},
    "rfm at_risk": {"rfm": "at_risk"},
    "rfm lost": {"rfm": "lost"},
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
        "WHERE a.campaign_id = :campaign AND ((m.id % 100) * 19 + :r * 29) % 100 < "
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


def issue_offer(program: Program, campaign: Campaign) -> None:
    """The campaign's offer, issued to its treated members (set-based); one in
    eight of them redeemed it 1-60 days ago (for `offer_redeemed`)."""
    offer = offers.create_offer(
        program,
        {
            "kind": "percent_off",
            "value": 15,
            "title": {"ru": "−15 %", "en": "15 % off"},
            "valid_days": 90,
        },
        None,
    )
    db.session.flush()
    if db.session.get_bind().dialect.name == "postgresql":
        at = (
            "TIMESTAMP '2026-11-25 12:00:00' - "
            "((a.member_id % 60 + 1) * INTERVAL '1 day')"
        )
    else:
        at = "datetime('2026-11-25 12:00:00', '-' || (a.member_id % 60 + 1) || ' days')"
    db.session.execute(
        text(
            "INSERT INTO member_offer (program_id, offer_id, member_id, source, "
            "source_kind, source_ref, status, issued_at, expires_at, redeemed_at, "
            "discount_kopecks) SELECT :program, :offer, a.member_id, :source, "
            "'campaign', :ref, CASE WHEN a.member_id % 8 = 0 THEN 'redeemed' ELSE "
            f"'issued' END, :issued, :expires, CASE WHEN a.member_id % 8 = 0 THEN {at} "
            "END, 0 FROM assignment a WHERE a.campaign_id = :campaign AND "
            "a.grp = 'treatment'"
        ),
        {
            "program": program.id,
            "offer": offer.id,
            "source": f"campaign:{campaign.id}",
            "ref": str(campaign.id),
            "issued": NOW.replace(tzinfo=None) - _days(20),
            "expires": NOW.replace(tzinfo=None) + _days(70),
            "campaign": campaign.id,
        },
    )


def rss_peak_reset() -> None:
    """Reset the kernel's peak-RSS mark (VmHWM) of this process."""
    Path("/proc/self/clear_refs").write_text("5")


def rss_peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure(url: str, members: int, args: argparse.Namespace, work: Path) -> dict:
    """Generate `members` (and their purchases) on `url`; {figure: (seconds,
    peak RSS MB during it, answer)}."""
    out: dict[str, tuple[float, float, str]] = {}
    app = bench_app(url, work / "certs")
    with app.app_context():
        started = time.perf_counter()
        generate(members, 0.3)
        program = db.session.scalar(select(Program).order_by(Program.id))
        assert program is not None
        campaign = assign_all(program)
        issue_offer(program, campaign)
        db.session.commit()
        store_id, key = _till(program)
        # Purchases in rounds (each ~25 % of members), ~--purchases each, one
        # commit per round.
        made = 0
        for r in range(args.purchases * 4):
            made += _round(program.id, store_id, key, campaign.id, r)
            db.session.commit()
        db.session.execute(text("ANALYZE"))
        db.session.commit()
        if db.session.get_bind().dialect.name == "postgresql":
            # As autovacuum leaves a loaded table: the visibility map set, so
            # index-only scans need no heap visits.
            with db.engine.connect().execution_options(
                isolation_level="AUTOCOMMIT"
            ) as connection:
                connection.execute(text("VACUUM ANALYZE"))
        setup = time.perf_counter() - started
        out["setup (members, campaign, purchases, statistics)"] = (
            setup,
            rss_peak_mb(),
            f"{members:,} members, {made:,} purchases",
        )
        rule_of = dict(SEGMENTS)
        rule_of["holdout_of the campaign"] = {"holdout_of": {"campaign": campaign.id}}
        rule_of["last_store"] = {"last_store": {"stores": [store_id]}}

        def timed(label: str, work: Any, answer: Any) -> None:
            rss_peak_reset()
            seconds, body = best_of(args.repeat, work)
            out[label] = (seconds, rss_peak_mb(), answer(body))

        timed(
            "campaign results",
            lambda: results.campaign_results(campaign),
            lambda body: "conversion +{estimate:.3f} [{low:.3f}, {high:.3f}]".format(
                **body["conversion_difference"]
            ),
        )
        timed(
            "KPI overview",
            lambda: kpi.overview(program, NOW),
            lambda figures: f"active 30d {figures['active_30d']:,}",
        )
        for label, rule in rule_of.items():
            timed(
                f"segment: {label}",
                lambda rule=rule: segments.counts(program, rule, NOW),
                lambda counted: f"{counted['members']:,}",
            )
        db.session.remove()
        db.engine.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--baseline", type=int, default=10_000)
    parser.add_argument("--purchases", type=int, default=10)
    parser.add_argument(
        "--database", choices=["sqlite", "postgresql"], default="sqlite"
    )
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-results-"))
    dev_certs(work)
    load = os.getloadavg()[0]
    started = time.perf_counter()
    try:
        with databases(args.database, work, "small", "large") as urls:
            sizes = [("small", args.baseline), ("large", args.members)]
            if not args.baseline:
                sizes = sizes[1:]
            found = {name: measure(urls[name], n, args, work) for name, n in sizes}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    small = found.get("small", {})
    large = found["large"]
    print(
        f"\nresults, {args.database}, ~{args.purchases} purchases per member; best "
        f"of {args.repeat}; {os.cpu_count()} cores, load average {load:.1f} at the "
        f"start, {os.getloadavg()[0]:.1f} at the end; whole run "
        f"{time.perf_counter() - started:.0f} s\n"
    )
    print(
        f"| figure | baseline {args.baseline:,}: time, peak RSS | "
        f"{args.members:,}: time, peak RSS | answer ({args.members:,}) |"
    )
    print("|---|---|---|---|")
    for label, (seconds, rss, answer) in large.items():
        base = small.get(label)
        cell = f"{base[0]:.2f} s, {base[1]:.0f} MB" if base else "—"
        print(f"| {label} | {cell} | {seconds:.2f} s, {rss:.0f} MB | {answer} |")


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
