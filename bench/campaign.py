"""Campaigns at scale: segment count, enqueue, full delivery, memory.

Generates N members in bulk (a share with a pass and a registered Apple device),
then on a small database (baseline) and the large one:
- the segment preview (counts by channel) for three segments,
- a campaign to EVERY member enqueued through the real path
  (campaigns.run_campaign -> messaging.deliver_many per batch of
  campaigns.BATCH), timed, with the process's peak RSS during the enqueue;
  on the small database the same campaign also goes through the old
  per-member path (messaging.deliver per member) and the previous
  deliver_many step (load, re-hash and move each pass: `refresh_passes`) as
  baselines (--rehash-large: the latter on the large database too),
- full delivery of the queued pushes by the real worker process
  (`flask --app wsgi worker --until-idle`) to the APNs stand-in process (TLS +
  HTTP/2), checking every device token was pushed exactly once,
- the pass_hashes job's work left behind (hashing the moved passes), as the
  worker does it in the background, batch by batch,
- the Python heap's peak (tracemalloc) over a fixed-size campaign (a birthday
  slice of --traced-members), to show memory stays flat in N.

    .venv/bin/python bench/campaign.py [--members 1000000] [--baseline 10000]
        [--device-share 0.3] [--traced-members 20000] [--rehash-large]
        [--database sqlite|postgresql] [--offer-only]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select, text  # noqa: E402
from sqlalchemy.orm import joinedload  # noqa: E402

from app.extensions import db  # noqa: E402
from app.models import (  # noqa: E402
    Campaign,
    Device,
    Member,
    MemberMessage,
    MemberOffer,
    Pass,
    PushDelivery,
    Registration,
    Store,
)
from app.services import (  # noqa: E402
    campaigns,
    messaging,
    offers,
    pass_hashes,
    segments,
)
from app.services.demo import seed_demo  # noqa: E402
from app.services.passes import refresh_passes  # noqa: E402
from bench.push_fanout import start_stand_in  # noqa: E402
from bench.support import TEAM, TOPIC, bench_app, databases, dev_certs  # noqa: E402

BATCH = 20_000
# 15:00 in Moscow: not quiet hours.
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


# PostgreSQL: the same rows as `populate`'s, built by the server (INSERT ...
# SELECT over generate_series, no row through Python): 1M members in about a
# minute instead of a quarter of an hour. Random tokens are md5 hex of random().
_PG_MEMBERS = """
INSERT INTO member (program_id, card_number, card_token, name, phone, language,
    city, preferred_store_id, birthday, consent_version, consent_at, points, tier,
    offer, created_at)
SELECT :program, '7' || lpad(i::text, 11, '0'),
    left(md5(random()::text || i), 24), 'Member ' || i,
    '+7900' || lpad(i::text, 7, '0'),
    CASE WHEN i % 3 <> 0 THEN 'ru' ELSE 'en' END, 'Москва',
    (CAST(:stores AS integer[]))[i % :nstores + 1],
    DATE '1960-01-01' + (i * 37) % 16000, 'bench', :now, i % 5000,
    (CAST(:tiers AS text[]))[i % :ntiers + 1], '', :now - (i % 700) * INTERVAL '1 day'
FROM generate_series(:start, :stop - 1) AS i ORDER BY i
"""
_PG_PASSES = """
INSERT INTO pass (program_id, member_id, serial_number, authentication_token,
    update_tag, content_hash, updated_at, voided, created_at)
SELECT :program, m.id, left(md5(random()::text || m.id), 20),
    left(md5(random()::text || m.id || 'a'), 24), 0, '', :now, false, :now
FROM member m
WHERE m.card_number >= '7' || lpad(CAST(:start AS text), 11, '0')
    AND m.card_number < '7' || lpad(CAST(:stop AS text), 11, '0')
    AND substr(m.card_number, 2)::bigint % 10 < :tenths
ORDER BY m.id
"""
_PG_DEVICES = """
INSERT INTO device (device_library_identifier, push_token, platform, created_at,
    updated_at)
SELECT 'dev' || p.id, md5(random()::text || p.id) || md5(random()::text),
    'apple', :now, :now
FROM pass p WHERE p.id > :after ORDER BY p.id
"""
_PG_REGISTRATIONS = """
INSERT INTO registration (device_id, pass_id, created_at)
SELECT d.id, p.id, :now FROM pass p
JOIN device d ON d.device_library_identifier = 'dev' || p.id
WHERE p.id > :after ORDER BY p.id
"""


def populate(n: int, share: float) -> float:
    """n members (bulk); a `share` of them (spread evenly) with a pass and a
    registered Apple device."""
    tenths = round(share * 10)
    program = seed_demo()
    db.session.commit()
    stores = db.session.scalars(select(Store.id).order_by(Store.id)).all()
    tiers = [t["code"] for t in program.tiers]
    started = time.perf_counter()
    if db.engine.dialect.name == "postgresql":
        chunk = 100_000
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            after = db.session.scalar(select(func.coalesce(func.max(Pass.id), 0)))
            values = {"program": program.id, "now": NOW, "start": start, "stop": stop}
            db.session.execute(
                text(_PG_MEMBERS),
                {
                    **values,
                    "stores": stores,
                    "tiers": tiers,
                    "nstores": len(stores),
                    "ntiers": len(tiers),
                },
            )
            db.session.execute(text(_PG_PASSES), {**values, "tenths": tenths})
            db.session.execute(text(_PG_DEVICES), {"now": NOW, "after": after})
            db.session.execute(text(_PG_REGISTRATIONS), {"now": NOW, "after": after})
            db.session.commit()
        return time.perf_counter() - started
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
                    [
                        r["card_number"]
                        for i, r in enumerate(rows, start)
                        if i % 10 < tenths
                    ]
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


def generate(n: int, share: float) -> float:
    """The schema, `populate`, then planner statistics as a running deployment
    has them (autovacuum on PostgreSQL, the worker's daily `sqlite_statistics`
    job on SQLite); seconds the members took."""
    from flask_migrate import upgrade

    upgrade()
    seconds = populate(n, share)
    db.session.execute(text("ANALYZE"))
    db.session.commit()
    return seconds


def birthday_range(target: int, total: int, month: int) -> dict[str, str]:
    """A month-day range from the 1st of `month` holding about `target` of
    `total` members."""
    days = max(1, min(180, round(365 * target / max(total, 1))))
    start = date(2001, month, 1)
    end = start + timedelta(days=days - 1)
    return {"from": f"{start:%m-%d}", "to": f"{end:%m-%d}"}


def send_batch_per_member(campaign: Campaign, program: object, now: datetime) -> bool:
    """The old send_batch: one messaging.deliver per member (the baseline)."""
    where = segments.where(program, campaign.segment, now)  # type: ignore[arg-type]
    ids = list(
        db.session.scalars(
            select(Member.id)
            .where(where, Member.id > campaign.cursor)
            .order_by(Member.id)
            .limit(campaigns.BATCH)
        )
    )
    if ids:
        members = db.session.scalars(
            select(Member).where(Member.id.in_(ids)).order_by(Member.id)
        ).all()
        for member in members:
            messaging.deliver(
                member,
                kind="campaign",
                source_key=campaigns.source_key(campaign),
                texts=campaign.texts,
                campaign_id=campaign.id,
                on=now.date(),
            )
        campaign.cursor = ids[-1]
    if len(ids) < campaigns.BATCH:
        campaign.state = "done"
        campaign.finished_at = datetime.now(UTC)
        return True
    return False


def move_by_rehash(
    program_id: int, member_ids: list[int], campaign_id: int | None = None
) -> None:
    """The previous deliver_many step: load the passes with their members,
    re-hash each and move the changed ones (`refresh_passes`)."""
    passes_ = db.session.scalars(
        select(Pass)
        .where(Pass.program_id == program_id, Pass.member_id.in_(member_ids))
        .options(joinedload(Pass.member))
        .order_by(Pass.id)
    ).all()
    refresh_passes(list(passes_), campaign_id)


@contextmanager
def rehash_path() -> Iterator[None]:
    real = messaging.move_changed_passes
    messaging.move_changed_passes = move_by_rehash  # type: ignore[assignment]
    try:
        yield
    finally:
        messaging.move_changed_passes = real


def fill_hashes() -> tuple[float, float, int]:
    """The pass_hashes job's work after a campaign, batch by batch until none
    is left: (seconds, CPU seconds, passes hashed)."""
    db.session.commit()
    started, cpu = time.perf_counter(), time.process_time()
    filled = pass_hashes.fill(max_batches=None)
    return time.perf_counter() - started, time.process_time() - cpu, filled


@contextmanager
def per_member_path() -> Iterator[None]:
    real = campaigns.send_batch
    campaigns.send_batch = send_batch_per_member  # type: ignore[assignment]
    try:
        yield
    finally:
        campaigns.send_batch = real


def rss_peak_reset() -> None:
    """Reset the kernel's peak-RSS mark (VmHWM) for this process."""
    Path("/proc/self/clear_refs").write_text("5")


def rss_peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def backend_cpu() -> tuple[int, float]:
    """(pid, CPU seconds so far) of this session's PostgreSQL backend; (0, 0.0)
    on SQLite, which runs in this process (its CPU is the process's)."""
    if db.engine.dialect.name != "postgresql":
        return 0, 0.0
    pid = int(db.session.scalar(text("SELECT pg_backend_pid()")) or 0)
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return pid, float("nan")
    return pid, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server(seconds: float) -> str:
    """The enqueue's PostgreSQL backend CPU beside the client's, if measured."""
    return "" if seconds == 0 else f" + {seconds:.1f} s server CPU"


def enqueue(
    program: object,
    rule: dict,
    label: str,
    traced: bool = False,
    offer_id: int | None = None,
) -> tuple[float, float, int, float, float]:
    """Send a campaign for `rule` (with `offer_id`: issuing that offer to each
    member messaged): (seconds, CPU seconds of this process, which runs SQLite
    too, members messaged, peak MB, CPU seconds of the PostgreSQL backend or 0):
    the Python heap's peak if traced, else the process's peak RSS."""
    body: dict = {
        # Distinct text per campaign: every pass's content changes.
        "texts": {"ru": f"Скидка {label}", "en": f"Sale {label}"},
        "segment": rule,
        # Every member of the segment messaged (no control group): the enqueue
        # measured is the whole segment's, as before control groups existed.
        "holdout_percent": 0,
    }
    if offer_id is not None:
        body["offer_id"] = offer_id
    campaign = campaigns.create(program, body, None)  # type: ignore[arg-type]
    campaign.state = "scheduled"
    db.session.commit()
    before = db.session.scalar(select(func.count()).select_from(MemberMessage))
    if traced:
        tracemalloc.start()
    else:
        rss_peak_reset()
    pid, backend = backend_cpu()
    db.session.commit()
    started, cpu = time.perf_counter(), time.process_time()
    state = campaigns.run_campaign(campaign.id, NOW)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    # The pool hands this thread the same connection back after each commit;
    # NaN if it did not (another backend did part of the work).
    after_pid, backend_after = backend_cpu()
    backend = backend_after - backend if after_pid == pid else float("nan")
    peak = tracemalloc.get_traced_memory()[1] / 1e6 if traced else rss_peak_mb()
    if traced:
        tracemalloc.stop()
    assert state == "done", state
    messaged = db.session.scalar(select(func.count()).select_from(MemberMessage))
    row = db.session.get(Campaign, campaign.id)
    assert row is not None
    assert messaged - before == row.targeted, (messaged - before, row.targeted)
    return elapsed, cpu, messaged - before, peak, backend


def worker_env(certs: Path, database_url: str, apns_url: str) -> dict[str, str]:
    return {
        **os.environ,
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
    }


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def deliver_all(
    certs: Path, work: Path, database_url: str, name: str
) -> tuple[float, float, dict]:
    """Run the worker until the outbox is empty against a fresh stand-in:
    (seconds, CPU seconds of worker + stand-in, the stand-in's {token: pushes})."""
    cpu = children_cpu()
    stand_in, apns_url = start_stand_in(certs, work, tag=name)
    delivered_file = work / f"delivered-{name}.json"
    try:
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--until-idle"],
            cwd=ROOT,
            env=worker_env(certs, database_url, apns_url),
            capture_output=True,
            text=True,
            check=True,
        )
        elapsed = time.perf_counter() - started
    finally:
        stand_in.send_signal(signal.SIGTERM)
        stand_in.communicate(timeout=120)
    return elapsed, children_cpu() - cpu, json.loads(delivered_file.read_text())


def measure(
    url: str, n: int, args: argparse.Namespace, work: Path, baseline: bool
) -> dict[str, str]:
    certs = work / "certs"
    app = bench_app(url, certs)
    out: dict[str, str] = {}
    name = "small" if baseline else "large"
    with app.app_context():
        out["generate members"] = f"{generate(n, args.device_share):.1f} s"
        program = seed_demo()
        total = db.session.scalar(select(func.count()).select_from(Member))
        devices = db.session.scalar(select(func.count()).select_from(Device))
        out["members / with a pass and device"] = f"{total:,} / {devices:,}"

        preview = {
            "and": [
                {"tier": ["silver", "gold"]},
                {"new": {"days": 365}},
                {"not": {"birthday": {"from": "12-01", "to": "12-31"}}},
            ]
        }
        for label, definition in (
            ("segment count: all", {"all": {}}),
            ("segment count: tier+new+not birthday", preview),
            ("segment count: reachable", {"reachable": {}}),
        ):
            started, cpu = time.perf_counter(), time.process_time()
            counted = segments.counts(program, definition, NOW)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            out[label] = (
                f"{elapsed:.2f} s, {cpu:.2f} s CPU ({counted['members']:,} members)"
            )

        if baseline and not args.offer_only:
            with per_member_path():
                elapsed, cpu, messaged, _, _ = enqueue(program, {"all": {}}, "old")
            out["enqueue, all members, OLD per-member path"] = (
                f"{elapsed:.1f} s, {cpu:.1f} s CPU "
                f"({messaged / elapsed:,.0f} members/s)"
            )
        else:
            out["enqueue, all members, OLD per-member path"] = "— (see baseline)"
        if (baseline or args.rehash_large) and not args.offer_only:
            with rehash_path():
                elapsed, cpu, messaged, _, _ = enqueue(program, {"all": {}}, "rehash")
            out["enqueue, all members, deliver_many re-hashing (previous)"] = (
                f"{elapsed:.1f} s, {cpu:.1f} s CPU "
                f"({messaged / elapsed:,.0f} members/s)"
            )
        else:
            out["enqueue, all members, deliver_many re-hashing (previous)"] = (
                "— (see baseline; --rehash-large)"
            )
        elapsed, cpu, messaged, rss, backend = enqueue(program, {"all": {}}, "new")
        out["enqueue, all members, deliver_many (no re-hash)"] = (
            f"{elapsed:.1f} s, {cpu:.1f} s CPU{server(backend)} "
            f"({messaged / elapsed:,.0f} members/s)"
        )
        out["enqueue peak RSS (process)"] = f"{rss:.0f} MB"
        queued = db.session.scalar(
            select(func.count())
            .select_from(PushDelivery)
            .where(PushDelivery.status == "queued")
        )
        if args.offer_only:
            for key in (
                "delivery: queued → all sent (worker + stand-in)",
                "outbox after delivery",
                "pass_hashes job: fill the unknown hashes (worker, after)",
            ):
                out[key] = "— (--offer-only)"
        else:
            tokens = set(db.session.scalars(select(Device.push_token)))
            db.session.remove()
            seconds, cpu, delivered = deliver_all(certs, work, url, name)
            pushes = sum(delivered.values())
            assert set(delivered) == tokens, "a device was not pushed"
            assert all(v == 1 for v in delivered.values()), "a device pushed twice"
            out["delivery: queued → all sent (worker + stand-in)"] = (
                f"{seconds:.1f} s, {cpu:.1f} s CPU worker + stand-in ({queued:,} rows, "
                f"{pushes:,} pushes, {pushes / seconds:,.0f} pushes/s)"
            )
            counts = dict(
                db.session.execute(
                    select(PushDelivery.status, func.count()).group_by(
                        PushDelivery.status
                    )
                ).all()
            )
            out["outbox after delivery"] = ", ".join(
                f"{k} {v:,}" for k, v in sorted(counts.items())
            )
            seconds, cpu, filled = fill_hashes()
            out["pass_hashes job: fill the unknown hashes (worker, after)"] = (
                f"{seconds:.1f} s, {cpu:.1f} s CPU ({filled:,} passes, "
                f"{filled / max(seconds, 1e-9):,.0f} passes/s)"
            )
        # The same campaign with an offer: one INSERT ... SELECT per batch issues
        # it to the members messaged.
        program = seed_demo()
        offer = offers.create_offer(
            program,
            {
                "kind": "percent_off",
                "value": 15,
                "title": {"ru": "−15 % на всё", "en": "15 % off"},
                "valid_days": 7,
            },
            None,
        )
        db.session.commit()
        elapsed, cpu, messaged, _, backend = enqueue(
            program, {"all": {}}, "offer", offer_id=offer.id
        )
        issued = db.session.scalar(
            select(func.count())
            .select_from(MemberOffer)
            .where(MemberOffer.offer_id == offer.id)
        )
        assert issued == messaged, (issued, messaged)
        out["enqueue, all members, with an offer (issued to each)"] = (
            f"{elapsed:.1f} s, {cpu:.1f} s CPU{server(backend)} "
            f"({messaged / elapsed:,.0f} members/s, {issued:,} offers)"
        )
        program = seed_demo()
        rule = {"birthday": birthday_range(args.traced_members, total, 7)}
        _, _, traced_messaged, peak, _ = enqueue(program, rule, "traced", traced=True)
        out["enqueue peak Python heap (tracemalloc)"] = (
            f"{peak:.1f} MB ({traced_messaged:,}-member campaign)"
        )
        db.session.remove()
        db.engine.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--baseline", type=int, default=10_000)
    parser.add_argument("--device-share", type=float, default=0.3)
    parser.add_argument("--traced-members", type=int, default=20_000)
    parser.add_argument(
        "--rehash-large",
        action="store_true",
        help="also run the previous re-hashing deliver_many on the large database",
    )
    parser.add_argument(
        "--database", choices=["sqlite", "postgresql"], default="sqlite"
    )
    parser.add_argument(
        "--offer-only",
        action="store_true",
        help="the enqueues without and with an offer only: no old paths, no "
        "delivery, no pass_hashes fill",
    )
    args = parser.parse_args()
    started_load = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="bench-campaign-"))
    dev_certs(work)
    try:
        with databases(args.database, work, "small", "large") as urls:
            rows = [
                measure(urls[name], n, args, work, baseline=name == "small")
                for name, n in (("small", args.baseline), ("large", args.members))
            ]
    finally:
        shutil.rmtree(work, ignore_errors=True)  # ~0.8 GB at 1M members
    print(
        f"\ncampaigns, {args.database}, campaign job in-process, worker and APNs "
        f"stand-in as processes; {args.device_share:.0%} of members have a pass "
        f"with a registered Apple device; {os.cpu_count()} cores, load average "
        f"{started_load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end\n"
    )
    print(f"| measure | baseline ({args.baseline:,}) | large ({args.members:,}) |")
    print("|---|---|---|")
    for key in rows[0]:
        print(f"| {key} | {rows[0][key]} | {rows[1][key]} |")


if __name__ == "__main__":
    main()
