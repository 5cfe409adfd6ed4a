"""Campaigns at scale: segment preview count, enqueue time and peak memory.

Generates N members in bulk (a share with passes and an Apple device), then on
a small database (baseline) and the large one, side by side:
- the segment preview (counts by channel, one query) for a segment over them,
- enqueueing a campaign through the real path (campaigns.run_campaign ->
  messaging.deliver: MemberMessage, pass offer field + tag, outbox rows), in
  batches of campaigns.BATCH, with the Python heap's peak (tracemalloc) to show
  memory stays flat in N. By default the campaign targets a fixed-size slice
  of members (--campaign-members, via a birthday range) so that the large run
  finishes here; the rate per member is printed with the extrapolation to
  every member.

    .venv/bin/python bench/campaign.py [--members 1000000] [--baseline 10000]
        [--campaign-members 5000]
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, insert, select  # noqa: E402

import passes  # noqa: E402
from app import create_app  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import (  # noqa: E402
    Campaign,
    Device,
    Member,
    MemberMessage,
    Pass,
    PushDelivery,
    Registration,
    Store,
)
from app.services import campaigns, segments  # noqa: E402
from app.services.demo import seed_demo  # noqa: E402

BATCH = 20_000
WITH_PASS_EVERY = 10  # one member in 10 has a pass and an Apple device
# 15:00 in Moscow: not quiet hours.
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def populate(n: int) -> float:
    """n members (bulk); every WITH_PASS_EVERY-th with a pass and a device."""
    program = seed_demo()
    db.session.commit()
    stores = db.session.scalars(select(Store.id).order_by(Store.id)).all()
    tiers = [t["code"] for t in program.tiers]
    started = time.perf_counter()
    first_day = date(1960, 1, 1)
    for start in range(0, n, BATCH):
        count = min(BATCH, n - start)
        rows = [
            {
                "program_id": program.id,
                "card_number": f"7{i:011d}",
                "card_token": secrets.token_hex(12),
                "name": f"Member {i}",
                "phone": f"+7900{i:07d}",
                "language": "ru" if i % 3 else "en",
                "city": "Москва",
                "preferred_store_id": stores[i % len(stores)],
                "birthday": first_day + timedelta(days=(i * 37) % 16000),
                "consent_version": "bench",
                "consent_at": NOW,
                "points": i % 5000,
                "tier": tiers[i % len(tiers)],
                "offer": "",
                "created_at": NOW - timedelta(days=i % 700),
            }
            for i in range(start, start + count)
        ]
        db.session.execute(insert(Member), rows)
        ids = db.session.scalars(
            select(Member.id).where(
                Member.card_number.in_(
                    [r["card_number"] for r in rows[::WITH_PASS_EVERY]]
                )
            )
        ).all()
        db.session.execute(
            insert(Pass),
            [
                {
                    "program_id": program.id,
                    "member_id": member_id,
                    "serial_number": secrets.token_hex(10),
                    "authentication_token": secrets.token_hex(12),
                    "update_tag": 0,
                    "content_hash": "",
                    "updated_at": NOW,
                    "voided": False,
                    "created_at": NOW,
                }
                for member_id in ids
            ],
        )
        pass_ids = db.session.scalars(
            select(Pass.id).where(Pass.member_id.in_(ids)).order_by(Pass.id)
        ).all()
        db.session.execute(
            insert(Device),
            [
                {
                    "device_library_identifier": f"dev{pid}",
                    "push_token": secrets.token_hex(32),
                    "platform": "apple",
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for pid in pass_ids
            ],
        )
        device_ids = db.session.scalars(
            select(Device.id).where(
                Device.device_library_identifier.in_([f"dev{p}" for p in pass_ids])
            )
        ).all()
        by_name = dict(
            db.session.execute(
                select(Device.device_library_identifier, Device.id).where(
                    Device.id.in_(device_ids)
                )
            ).all()
        )
        db.session.execute(
            insert(Registration),
            [
                {"device_id": by_name[f"dev{pid}"], "pass_id": pid, "created_at": NOW}
                for pid in pass_ids
            ],
        )
        db.session.commit()
    return time.perf_counter() - started


def birthday_range(target: int, total: int, month: int) -> dict[str, str]:
    """A month-day range from the 1st of `month` holding about `target` of
    `total` members."""
    days = max(1, min(180, round(365 * target / max(total, 1))))
    start = date(2001, month, 1)
    end = start + timedelta(days=days - 1)
    return {"from": f"{start:%m-%d}", "to": f"{end:%m-%d}"}


def enqueue(program: object, rule: dict, traced: bool) -> tuple[float, int, int]:
    """Send a campaign for `rule`: (seconds, members messaged, peak heap bytes)."""
    campaign = campaigns.create(
        program,  # type: ignore[arg-type]
        {"texts": {"ru": "Скидка", "en": "Sale"}, "segment": rule},
        None,
    )
    campaign.state = "scheduled"
    db.session.commit()
    before = db.session.scalar(select(func.count()).select_from(MemberMessage))
    if traced:
        tracemalloc.start()
    started = time.perf_counter()
    state = campaigns.run_campaign(campaign.id, NOW)
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] if traced else 0
    if traced:
        tracemalloc.stop()
    assert state == "done", state
    messaged = db.session.scalar(select(func.count()).select_from(MemberMessage))
    row = db.session.get(Campaign, campaign.id)
    assert row is not None
    assert messaged - before == row.targeted
    return elapsed, messaged - before, peak


def measure(url: str, n: int, campaign_members: int, certs: Path) -> dict[str, str]:
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "PASS_CERT_FILE": str(certs / "pass.pem"),
            "PASS_KEY_FILE": str(certs / "pass.key"),
            "WWDR_CERT_FILE": str(certs / "wwdr.pem"),
            "PASS_TYPE_IDENTIFIER": "pass.bench.wallet",
            "TEAM_IDENTIFIER": "BENCHTEAM1",
        }
    )
    out: dict[str, str] = {}
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        out["generate members"] = f"{populate(n):.1f} s"
        program = seed_demo()
        total = db.session.scalar(select(func.count()).select_from(Member))
        out["members"] = f"{total:,}"

        preview = {
            "and": [
                {"tier": ["silver", "gold"]},
                {"new": {"days": 365}},
                {"not": {"birthday": {"from": "12-01", "to": "12-31"}}},
            ]
        }
        for label, definition in (
            ("preview count: all", {"all": {}}),
            ("preview count: tier+new+not birthday", preview),
            ("preview count: reachable", {"reachable": {}}),
        ):
            started = time.perf_counter()
            counted = segments.counts(program, definition, NOW)
            elapsed = time.perf_counter() - started
            out[label] = f"{elapsed:.2f} s ({counted['members']:,} members)"

        # Timed without tracemalloc (it slows Python down); the heap's peak is
        # taken on a second campaign of the same size (another birthday slice).
        rule = {"birthday": birthday_range(campaign_members, total, 1)}
        elapsed, messaged, _ = enqueue(program, rule, traced=False)
        rule = {"birthday": birthday_range(campaign_members, total, 7)}
        _, traced_messaged, peak = enqueue(program, rule, traced=True)
        pushes = db.session.scalar(select(func.count()).select_from(PushDelivery))
        rate = messaged / elapsed
        out["campaign members (messaged)"] = f"{messaged:,}"
        out["enqueue time"] = f"{elapsed:.1f} s ({rate:,.0f} members/s)"
        out["pushes queued (both campaigns)"] = f"{pushes:,}"
        out["enqueue peak Python heap"] = (
            f"{peak / 1e6:.1f} MB ({traced_messaged:,} members)"
        )
        out["extrapolated: every member"] = f"{total / rate / 60:.0f} min"
        db.session.remove()
        db.engine.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--baseline", type=int, default=10_000)
    parser.add_argument("--campaign-members", type=int, default=5_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-campaign-"))
    pki = passes.make_dev_pki("pass.bench.wallet", "BENCHTEAM1", "Bench")
    passes.write_dev_pki(pki, work / "certs")
    rows = [
        measure(
            f"sqlite:///{work / f'{name}.sqlite3'}",
            n,
            args.campaign_members,
            work / "certs",
        )
        for name, n in (("small", args.baseline), ("large", args.members))
    ]
    print(
        f"\ncampaigns, SQLite, in-process; one member in {WITH_PASS_EVERY} has a pass "
        f"and an Apple device (cpu: {os.cpu_count()} cores)\n"
    )
    print(f"| measure | baseline ({args.baseline:,}) | large ({args.members:,}) |")
    print("|---|---|---|")
    for key in rows[0]:
        print(f"| {key} | {rows[0][key]} | {rows[1][key]} |")


if __name__ == "__main__":
    main()
