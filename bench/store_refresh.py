"""Pass refresh after a store change: how fast `PassRefresh` works through a
program's passes, next to the floor of just reading them (baseline), in one run.

Scenarios: nothing changed (every pass re-hashed, none moved); a store added in
the middle of Moscow (Moscow members' nearest ten change) and one far away, each
comparing every pass's nearest ten before and after first (what the API does);
one more far away re-hashing every pass (no "before" snapshot). Then two
program settings changes that every pass shows (a colour; an uploaded logo),
which queue the same refresh without a snapshot: every pass moves.

    .venv/bin/python bench/store_refresh.py [--members 3000] [--database postgresql]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from app.extensions import db  # noqa: E402
from app.models import (  # noqa: E402
    Member,
    Pass,
    PassRefresh,
    Program,
    PushDelivery,
    Store,
)
from app.services import settings, stores  # noqa: E402
from app.services.demo import seed_demo  # noqa: E402
from app.services.signup import SignupForm, sign_up  # noqa: E402
from bench.support import bench_app, databases, dev_certs  # noqa: E402


def populate(n: int) -> Program:
    program = seed_demo()
    shops = [s for s in program.stores if s.active]
    for i in range(n):
        store = shops[i % len(shops)]
        form = SignupForm(
            name=f"Участник {i}",
            phone=f"+7999{i:07d}",
            store=store,
            city=store.city,
            language="ru",
        )
        sign_up(program, form, "bench")
        if i % 1000 == 999:
            db.session.commit()
    db.session.commit()
    return program


def read_floor(program_id: int) -> float:
    """Baseline: load every pass with its member, in the same batches, no hashing."""
    started = time.perf_counter()
    after = 0
    while True:
        rows = db.session.execute(
            select(Pass, Member)
            .join(Member, Member.id == Pass.member_id)
            .where(Pass.program_id == program_id, Pass.member_id > after)
            .order_by(Pass.member_id)
            .limit(stores.BATCH)
        ).all()
        if not rows:
            break
        after = rows[-1][0].member_id
    db.session.commit()
    return time.perf_counter() - started


def refresh_all(
    program: Program, before: list[dict] | None = None
) -> tuple[float, int, int]:
    """(seconds, passes refreshed, passes seen) for one full PassRefresh."""
    started = time.perf_counter()
    refresh = stores.queue_refresh(program, before)
    db.session.commit()
    while refresh.status == "queued":
        stores.process(refresh)
        db.session.commit()
    return time.perf_counter() - started, refresh.refreshed, refresh.processed


def finish(refresh_id: int, started: float) -> tuple[float, int, int]:
    refresh = db.session.get(PassRefresh, refresh_id)
    assert refresh is not None
    while refresh.status == "queued":
        stores.process(refresh)
        db.session.commit()
    return time.perf_counter() - started, refresh.refreshed, refresh.processed


def change_settings(program: Program, body: dict) -> tuple[float, int, int]:
    """A settings change, then its whole refresh (what the worker's job does)."""
    started = time.perf_counter()
    result = settings.apply(program, body, None)
    db.session.commit()
    return finish(result["refresh"]["id"], started)


def upload_logo(program: Program) -> tuple[float, int, int]:
    image = io.BytesIO()
    Image.new("RGBA", (600, 200), (200, 30, 30, 255)).save(image, format="PNG")
    started = time.perf_counter()
    result = settings.upload_image(program, "logo", image.getvalue(), None)
    db.session.commit()
    return finish(result["refresh"]["id"], started)


def add_store(program: Program, code: str, lat: float, lon: float, city: str) -> None:
    stores.apply(
        program,
        None,
        {
            "code": code,
            "name": code,
            "city": city,
            "address": "—",
            "latitude": lat,
            "longitude": lon,
            "relevant_text": "Bench",
        },
    )
    db.session.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=3000)
    parser.add_argument(
        "--database", choices=["sqlite", "postgresql"], default="sqlite"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-stores-"))
    rows = []
    with databases(args.database, work, "stores") as urls:
        app = bench_app(urls["stores"], dev_certs(work))
        with app.app_context():
            from flask_migrate import upgrade

            upgrade()
            program = populate(args.members)
            total = db.session.scalar(select(func.count()).select_from(Pass))
            floor = read_floor(program.id)
            rows.append(("baseline: read passes + members only", total, "—", floor))
            seconds, refreshed, seen = refresh_all(program)
            rows.append(("no change, re-hash every pass", seen, refreshed, seconds))
            before = stores.snapshot(program)
            add_store(program, "msk-centre", 55.7539, 37.6208, "Москва")
            seconds, refreshed, seen = refresh_all(program, before)
            rows.append(("store added in central Moscow", seen, refreshed, seconds))
            before = stores.snapshot(program)
            add_store(program, "vvo-1", 43.1155, 131.8855, "Владивосток")
            seconds, refreshed, seen = refresh_all(program, before)
            rows.append(("store added in Vladivostok", seen, refreshed, seconds))
            add_store(program, "vvo-2", 43.12, 131.89, "Владивосток")
            seconds, refreshed, seen = refresh_all(program)
            rows.append(
                (
                    "another there, re-hash every pass (no snapshot)",
                    seen,
                    refreshed,
                    seconds,
                )
            )
            seconds, refreshed, seen = change_settings(
                program, {"colors": {"background": "#102030"}}
            )
            rows.append(("settings: background colour", seen, refreshed, seconds))
            seconds, refreshed, seen = upload_logo(program)
            rows.append(("settings: logo uploaded", seen, refreshed, seconds))
            stores_count = db.session.scalar(select(func.count()).select_from(Store))
            queued = db.session.scalar(select(func.count()).select_from(PushDelivery))
    print(
        f"\nstore-change pass refresh, {args.database}, {args.members} members, "
        f"{stores_count} stores, batches of {stores.BATCH} "
        f"(cpu: {os.cpu_count()} cores; no devices registered: {queued} pushes)\n"
    )
    print("| scenario | passes | refreshed | seconds | passes/s |")
    print("|---|---|---|---|---|")
    for name, n, refreshed, seconds in rows:
        print(f"| {name} | {n} | {refreshed} | {seconds:.2f} | {n / seconds:,.0f} |")


if __name__ == "__main__":
    main()
