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
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flask import current_app  # noqa: E402
from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import create_engine, event, select, text  # noqa: E402

from app.extensions import db  # noqa: E402
from app.models import ApiKey, Campaign, Program, Store  # noqa: E402
from app.models.campaign import DONE  # noqa: E402
from app.services import (  # noqa: E402
    kpi,
    kpi_snapshots,
    offers,
    purchase_totals,
    results,
    segments,
    year_totals,
)
from app.services.auth import create_key  # noqa: E402
from app.services.demo import seed_demo  # noqa: E402
from bench.campaign import NOW  # noqa: E402
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


def _pg() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def _series(last: int) -> str:
    """A CTE `s(i)` of the integers 0..last, as each database writes it."""
    if _pg():
        return f"WITH s(i) AS (SELECT generate_series(0, {last}))"
    return (
        "WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s "
        f"WHERE i < {last})"
    )


def _days_before(days: str, at: str = "2026-11-25 12:00:00") -> str:
    """The timestamp `days` (an SQL expression) days before `at`."""
    if _pg():
        return f"(TIMESTAMP '{at}' - ({days}) * INTERVAL '1 day')"
    # As SQLAlchemy writes a DateTime on SQLite (microseconds included).
    return f"(datetime('{at}', '-' || ({days}) || ' days') || '.000000')"


def _case(expression: str, values: list[Any]) -> str:
    """CASE `expression` % len(values) WHEN k THEN values[k] ... END."""
    whens = " ".join(
        f"WHEN {k} THEN {v if isinstance(v, int) else repr(v)}"
        for k, v in enumerate(values)
    )
    return f"(CASE ({expression}) % {len(values)} {whens} END)"


def fast_members(n: int, share: float) -> None:
    """`n` members as bench/campaign.py's `populate` makes them (the demo
    program, a `share` spread evenly with a pass and a registered Apple device),
    in a few set-based INSERT ... SELECT statements instead of Python rows."""
    program = seed_demo()
    db.session.commit()
    stores = list(db.session.scalars(select(Store.id).order_by(Store.id)).all())
    tiers = [t["code"] for t in program.tiers]
    tenths = round(share * 10)
    if _pg():
        token = "substr(md5(random()::text || i::text), 1, 24)"
        digits = "lpad(CAST({x} AS TEXT), {w}, '0')"
        birthday = "DATE '1960-01-01' + ((i * 37) % 16000)"
        hex_token = "md5(random()::text || p.id::text)"
        serial = "substr(md5(random()::text || p.member_id::text), 1, 20)"
    else:
        token = "lower(hex(randomblob(12)))"
        digits = "printf('%0{w}d', {x})"
        birthday = "date('1960-01-01', '+' || ((i * 37) % 16000) || ' days')"
        hex_token = "lower(hex(randomblob(32)))"
        serial = "lower(hex(randomblob(10)))"
    now = "'2026-11-25 12:00:00'" if _pg() else "'2026-11-25 12:00:00.000000'"
    step = 250_000
    for start in range(0, n, step):
        last = min(step, n - start) - 1
        db.session.execute(
            text(
                f"{_series(last)} INSERT INTO member (program_id, card_number, "
                "card_token, name, phone, language, city, preferred_store_id, "
                "birthday, consent_version, consent_at, points, tier, offer, "
                "stamps, created_at) SELECT :program, "
                f"'7' || {digits.format(x=f'i + {start}', w=11)}, {token}, "
                f"'Member ' || (i + {start}), "
                f"'+7900' || {digits.format(x=f'i + {start}', w=7)}, "
                f"CASE WHEN (i + {start}) % 3 = 0 THEN 'en' ELSE 'ru' END, "
                f"'Москва', {_case(f'i + {start}', stores)}, "
                f"{birthday.replace('i *', f'(i + {start}) *')}, "
                f"'bench', {now}, (i + {start}) % 5000, "
                f"{_case(f'i + {start}', tiers)}, '', 0, "
                f"{_days_before(f'(i + {start}) % 700')} FROM s"
            ),
            {"program": program.id},
        )
        db.session.commit()
        print(f"  members: {start + last + 1:,}", flush=True)
    # A pass and a registered Apple device for `share` of them (by card number,
    # as populate spreads them: i % 10 < tenths).
    card_i = "CAST(substr(m.card_number, 2) AS INTEGER)"
    if _pg():
        card_i = "CAST(substr(m.card_number, 2) AS BIGINT)"
    db.session.execute(
        text(
            "INSERT INTO pass (program_id, member_id, serial_number, "
            "authentication_token, update_tag, content_hash, updated_at, voided, "
            "created_at) SELECT m.program_id, m.id, "
            f"{serial.replace('p.member_id', 'm.id')}, "
            f"{token.replace('i::text', 'm.id::text')}, 0, '', {now}, false, {now} "
            f"FROM member m WHERE m.program_id = :program AND {card_i} % 10 < :tenths "
            "AND NOT EXISTS (SELECT 1 FROM pass p WHERE p.member_id = m.id)"
        ),
        {"program": program.id, "tenths": tenths},
    )
    db.session.execute(
        text(
            "INSERT INTO device (device_library_identifier, push_token, platform, "
            f"created_at, updated_at) SELECT 'dev' || p.id, {hex_token}, 'apple', "
            f"{now}, {now} FROM pass p WHERE p.program_id = :program"
        ),
        {"program": program.id},
    )
    db.session.execute(
        text(
            "INSERT INTO registration (device_id, pass_id, created_at) "
            f"SELECT d.id, p.id, {now} FROM pass p JOIN device d ON "
            "d.device_library_identifier = 'dev' || p.id WHERE p.program_id = :program"
        ),
        {"program": program.id},
    )
    db.session.commit()


def _tills(program: Program) -> list[tuple[int, int]]:
    """(store id, its POS key id) for every store of the program."""
    out = []
    for store in db.session.scalars(
        select(Store).where(Store.program_id == program.id).order_by(Store.id)
    ):
        key = db.session.scalar(select(ApiKey).where(ApiKey.store_id == store.id))
        if key is None:
            key = create_key("pos", store=store).api_key
            db.session.flush()
        out.append((store.id, key.id))
    db.session.commit()
    return out


def _round(
    program_id: int, tills: list[tuple[int, int]], campaign_id: int, r: int
) -> int:
    """One round of purchases in plain SQL: treated members buy in 30 % of
    rounds, held-out members in 20 %; each at one of the program's stores (mostly
    the same one per member), on a day spread over 400 days, at a time of day."""
    days = f"((m.id * 13 + {r} * 37) % 400)"
    hour = f"((m.id + {r} * 7) % 12)"
    if _pg():
        at = (
            f"(TIMESTAMP '2026-11-25 09:00:00' - {days} * INTERVAL '1 day' "
            f"+ {hour} * INTERVAL '1 hour')"
        )
    else:
        at = (
            f"(datetime('2026-11-25 09:00:00', '-' || {days} || ' days', "
            f"'+' || {hour} || ' hours') || '.000000')"
        )
    # Three rounds in four at the member's usual store, the fourth elsewhere.
    which = f"(m.id + CASE WHEN {r} % 4 = 0 THEN {r} ELSE 0 END)"
    statement = text(
        "INSERT INTO pos_transaction (program_id, member_id, store_id, api_key_id, "
        "idempotency_key, fingerprint, receipt_id, currency, amount_kopecks, "
        "redeemed, earned, stamps, response, created_at) "
        f"SELECT :program, m.id, {_case(which, [s for s, _ in tills])}, "
        f"{_case(which, [k for _, k in tills])}, 'r{r}-' || CAST(m.id AS TEXT), "
        ":fp, 'r', 'RUB', ((m.id * 31 + :r * 17) % 3000 + 200) * 100, 0, 0, 0, "
        f"'{{}}', {at} "
        "FROM member m JOIN assignment a ON a.member_id = m.id "
        "WHERE a.campaign_id = :campaign AND ((m.id % 100) * 19 + :r * 29) % 100 < "
        "CASE WHEN a.grp = 'treatment' THEN 30 ELSE 20 END"
    )
    result = db.session.execute(
        statement,
        {"program": program_id, "fp": "x" * 64, "campaign": campaign_id, "r": r},
    )
    return int(getattr(result, "rowcount", 0) or 0)


@contextmanager
def indexes_dropped(table: str) -> Iterator[None]:
    """Drop `table`'s plain indexes (not those behind a constraint) and its
    triggers for a bulk load, and put them back afterwards from their own
    definitions: the same indexes, built once instead of updated row by row
    (the caller rebuilds what the triggers keep: purchase_totals.rebuild)."""
    if _pg():
        rows = db.session.execute(
            text(
                "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE "
                "i.tablename = :t AND NOT EXISTS (SELECT 1 FROM pg_constraint c "
                "WHERE c.conname = i.indexname)"
            ),
            {"t": table},
        ).all()
    else:
        rows = db.session.execute(
            text(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND "
                "tbl_name = :t AND sql IS NOT NULL"
            ),
            {"t": table},
        ).all()
    triggers: list[Any] = []
    if _pg():
        db.session.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
    else:
        triggers = db.session.execute(
            text(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND "
                "tbl_name = :t"
            ),
            {"t": table},
        ).all()
        for name, _ in triggers:
            db.session.execute(text(f'DROP TRIGGER "{name}"'))
    for name, _ in rows:
        db.session.execute(text(f'DROP INDEX "{name}"'))
    db.session.commit()
    try:
        yield
    finally:
        if _pg():
            db.session.execute(text("SET maintenance_work_mem = '512MB'"))
            db.session.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))
        for _, definition in [*rows, *triggers]:
            db.session.execute(text(definition))
        db.session.commit()


@contextmanager
def generation_pragmas() -> Iterator[None]:
    """SQLite, the generating connections only: no fsync, a big page cache (the
    app's own connections, made afterwards, keep the app's settings)."""
    if _pg():
        yield
        return

    def pragmas(connection: Any, _record: Any) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.execute("PRAGMA cache_size=-1000000")
        cursor.close()

    db.session.remove()
    db.engine.dispose()
    event.listen(db.engine, "connect", pragmas)
    try:
        yield
    finally:
        db.session.remove()
        event.remove(db.engine, "connect", pragmas)
        db.engine.dispose()


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


def best_of(repeat: int, work: Any) -> tuple[float, float, Any]:
    """Best wall time of `repeat` runs, the CPU of that run (this process's plus,
    on PostgreSQL, the server backend's), and the answer."""
    best, best_cpu, answer = float("inf"), 0.0, None
    for _ in range(repeat):
        backend = _backend_cpu()
        process = time.process_time()
        started = time.perf_counter()
        answer = work()
        seconds = time.perf_counter() - started
        cpu = time.process_time() - process + _backend_cpu() - backend
        if seconds < best:
            best, best_cpu = seconds, cpu
        db.session.rollback()
    return best, best_cpu, answer


def _backend_cpu() -> float:
    """CPU seconds of this session's PostgreSQL backend plus those of the
    server's exited children (parallel query workers end up there); 0 on
    SQLite, which runs in this process."""
    if not _pg():
        return 0.0
    pid = db.session.scalar(text("SELECT pg_backend_pid()"))
    tick = os.sysconf("SC_CLK_TCK")
    own = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    parent = Path(f"/proc/{own[1]}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(own[11]) + int(own[12]) + int(parent[13]) + int(parent[14])) / tick


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
    at = _days_before("a.member_id % 60 + 1")
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


def generate_all(members: int, args: argparse.Namespace) -> dict[str, Any]:
    """Members, the campaign and its offer, purchases and planner statistics;
    what the timing needs to find them again (kept as meta.json)."""
    started = time.perf_counter()
    process = time.process_time()
    upgrade()
    fast_members(members, 0.3)
    program = db.session.scalar(select(Program).order_by(Program.id))
    assert program is not None
    campaign = assign_all(program)
    issue_offer(program, campaign)
    db.session.commit()
    tills = _tills(program)
    # Purchases in rounds (each ~25 % of members), ~--purchases each, one
    # commit per round; the indexes built once at the end.
    made = 0
    with indexes_dropped("pos_transaction"):
        for r in range(args.purchases * 4):
            made += _round(program.id, tills, campaign.id, r)
            db.session.commit()
    # What the purchase triggers would have kept, set-based.
    purchase_totals.rebuild(program.id)
    db.session.commit()
    db.session.execute(text("ANALYZE"))
    db.session.commit()
    if _pg():
        # As autovacuum leaves a loaded table: the visibility map set, so
        # index-only scans need no heap visits.
        with db.engine.connect().execution_options(
            isolation_level="AUTOCOMMIT"
        ) as connection:
            connection.execute(text("VACUUM ANALYZE"))
    return {
        "members": members,
        "purchases": made,
        "program": program.id,
        "campaign": campaign.id,
        "store": tills[0][0],
        "seconds": time.perf_counter() - started,
        "cpu": time.process_time() - process,
    }


def measure(
    url: str, members: int, args: argparse.Namespace, work: Path, data: Path | None
) -> dict:
    """Generate `members` (and their purchases) on `url`, or find them there
    (`data`'s meta.json); {figure: (seconds, CPU seconds, peak RSS MB during
    it, answer)}."""
    out: dict[str, tuple[float, float, float, str]] = {}
    app = bench_app(url, work / "certs")
    meta_file = data / f"{url.rsplit('/', 1)[-1].split('.')[0]}.json" if data else None
    with app.app_context():
        if meta_file is not None and meta_file.exists():
            # Kept data made by an older schema: migrated (and backfilled).
            migrating = time.perf_counter()
            upgrade()
            db.session.commit()
            print(f"  upgrade: {time.perf_counter() - migrating:.1f} s", flush=True)
            meta = json.loads(meta_file.read_text())
            print(
                f"  reusing {meta_file}: {meta['members']:,} members, "
                f"{meta['purchases']:,} purchases",
                flush=True,
            )
        else:
            with generation_pragmas():
                meta = generate_all(members, args)
            if meta_file is not None:
                meta_file.write_text(json.dumps(meta))
        # Timings on fresh connections (not the generating one's pragmas).
        db.session.remove()
        db.engine.dispose()
        program = db.session.get(Program, meta["program"])
        campaign = db.session.get(Campaign, meta["campaign"])
        assert program is not None
        assert campaign is not None
        out["setup (members, campaign, purchases, statistics)"] = (
            meta["seconds"],
            meta["cpu"],
            rss_peak_mb(),
            f"{meta['members']:,} members, {meta['purchases']:,} purchases",
        )
        rule_of = dict(SEGMENTS)
        rule_of["holdout_of the campaign"] = {"holdout_of": {"campaign": campaign.id}}
        rule_of["last_store"] = {"last_store": {"stores": [meta["store"]]}}

        def timed(label: str, work: Any, answer: Any) -> None:
            if args.only and not any(o in label for o in args.only):
                return
            rss_peak_reset()
            seconds, cpu, body = best_of(args.repeat, work)
            out[label] = (seconds, cpu, rss_peak_mb(), answer(body))
            print(f"  {label}: {seconds:.2f} s, CPU {cpu:.2f} s", flush=True)

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
        if not args.only or any("snapshot" in o for o in args.only):
            # What the page and the API answer at this size: the stored overview
            # (services.kpi_snapshots), which the scheduler computes as above.
            # (Both columns: the baseline is below KPI_SNAPSHOT_MEMBERS.)
            current_app.config["KPI_SNAPSHOT_MEMBERS"] = 1
            kpi_snapshots.refresh_job(NOW)
            db.session.commit()
            timed(
                "KPI overview served (snapshot)",
                lambda: kpi_snapshots.current(program, NOW),
                lambda figures: f"active 30d {figures['active_30d']:,}",
            )

        # The 365-day rules of a large program read its year totals
        # (services.year_totals), which the scheduler retakes daily: taken here
        # a day before NOW, so each rule also applies a day of corrections, as
        # it would just before the next run.
        def take() -> None:
            year_totals.refresh(program, NOW - timedelta(days=1))
            db.session.commit()

        job = "year totals snapshot (the daily job)"
        if args.only and not any(o in job for o in args.only):
            take()
        timed(job, take, lambda _: "")
        for label, rule in rule_of.items():
            timed(
                f"segment: {label}",
                lambda rule=rule: segments.counts(program, rule, NOW),
                lambda counted: f"{counted['members']:,}",
            )
        db.session.remove()
        db.engine.dispose()
    return out


@contextmanager
def kept_databases(
    kind: str, work: Path, data: Path | None
) -> Iterator[dict[str, str]]:
    """The small and large databases: throwaway ones under `work` (as
    bench.support.databases), or kept in `data` to be reused: SQLite files
    there, or a PostgreSQL data directory there (started, then stopped with its
    data kept)."""
    if data is None:
        with databases(kind, work, "small", "large") as urls:
            yield urls
        return
    data.mkdir(parents=True, exist_ok=True)
    if kind == "sqlite":
        yield {n: f"sqlite:///{data / f'{n}.sqlite3'}" for n in ("small", "large")}
        return
    from tests.support.postgres import PostgresServer

    server = PostgresServer()
    shutil.rmtree(server.root, ignore_errors=True)
    server.root = data / "pg"
    server.data = server.root / "data"
    fresh = not server.data.exists()
    if fresh:
        server.root.mkdir(exist_ok=True)
        if server.run_as:
            shutil.chown(server.root, "postgres")
        server.start()
        admin = create_engine(server.url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for name in ("small", "large"):
                conn.execute(text(f"CREATE DATABASE bench_{name}"))
        admin.dispose()
    else:
        server.resume()
    try:
        yield {n: server.url(f"bench_{n}") for n in ("small", "large")}
    finally:
        server.pause()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--baseline", type=int, default=10_000)
    parser.add_argument("--purchases", type=int, default=10)
    parser.add_argument(
        "--database", choices=["sqlite", "postgresql"], default="sqlite"
    )
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument(
        "--data",
        type=Path,
        help="keep the generated databases in this directory, and reuse them "
        "when they are there already (meta small.json / large.json)",
    )
    parser.add_argument(
        "--only", action="append", help="time only figures whose label has this"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-results-"))
    dev_certs(work)
    data = args.data / args.database if args.data else None
    load = os.getloadavg()[0]
    started = time.perf_counter()
    try:
        with kept_databases(args.database, work, data) as urls:
            sizes = [("small", args.baseline), ("large", args.members)]
            if not args.baseline:
                sizes = sizes[1:]
            found = {}
            for name, n in sizes:
                print(f"{name}: {n:,} members", flush=True)
                found[name] = measure(urls[name], n, args, work, data)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    small = found.get("small", {})
    large = found["large"]
    print(
        f"\nresults, {args.database}, ~{args.purchases} purchases per member; best "
        f"of {args.repeat} (CPU: of the best run, this process + the database "
        f"server's backend); {os.cpu_count()} cores, load average {load:.1f} at "
        f"the start, {os.getloadavg()[0]:.1f} at the end; whole run "
        f"{time.perf_counter() - started:.0f} s\n"
    )
    print(
        f"| figure | baseline {args.baseline:,}: wall, CPU, peak RSS | "
        f"{args.members:,}: wall, CPU, peak RSS | answer ({args.members:,}) |"
    )
    print("|---|---|---|---|")
    for label, (seconds, cpu, rss, answer) in large.items():
        base = small.get(label)
        cell = f"{base[0]:.2f} s, {base[1]:.2f} s, {base[2]:.0f} MB" if base else "—"
        print(
            f"| {label} | {cell} | {seconds:.2f} s, {cpu:.2f} s, {rss:.0f} MB "
            f"| {answer} |"
        )


if __name__ == "__main__":
    main()
