"""Web service latency with many passes in the database.

Times the changed-serials list and the latest-pass GET (200 with signing, and 304)
through the Flask app in-process, on a small database (baseline) and a large one,
side by side in the same run, so the effect of table size is visible.

    .venv/bin/python bench/webservice.py [--passes 100000] [--baseline 1000]
        [--database sqlite|postgresql] [--requests 300]
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, select, text  # noqa: E402

from app.extensions import db  # noqa: E402
from app.models import Device, Member, Pass, ProgramTag, Registration  # noqa: E402
from app.models.base import utcnow  # noqa: E402
from app.services.demo import seed_demo  # noqa: E402
from bench.support import bench_app, databases, dev_certs  # noqa: E402

DEVICE = "benchdevice0001"
REGISTERED = 5  # passes on the benchmark device


def populate(n: int) -> tuple[str, list[tuple[str, str]]]:
    """Insert n members with passes (bulk), register REGISTERED of them on DEVICE."""
    program = seed_demo()
    db.session.commit()
    now = utcnow()
    batch = 10_000
    existing = db.session.scalar(select(db.func.count()).select_from(Pass))
    for start in range(existing, n, batch):
        count = min(batch, n - start)
        members = [
            {
                "program_id": program.id,
                "card_number": f"{i:012d}",
                "card_token": secrets.token_urlsafe(24),
                "name": f"Member {i}",
                "phone": f"+7900{i:07d}",
                "language": "ru",
                "city": "Москва",
                "consent_version": "bench",
                "consent_at": now,
                "points": i % 5000,
                "tier": "silver",
                "offer": "",
                "created_at": now,
            }
            for i in range(start, start + count)
        ]
        db.session.execute(insert(Member), members)
        ids = db.session.scalars(
            select(Member.id).where(
                Member.card_number.in_([m["card_number"] for m in members])
            )
        ).all()
        db.session.execute(
            insert(Pass),
            [
                {
                    "program_id": program.id,
                    "member_id": member_id,
                    "serial_number": secrets.token_hex(10),
                    "authentication_token": secrets.token_urlsafe(24),
                    "update_tag": start + k + 1,
                    "content_hash": "",
                    "updated_at": now,
                    "voided": False,
                    "created_at": now,
                }
                for k, member_id in enumerate(ids)
            ],
        )
        db.session.commit()
    db.session.merge(ProgramTag(program_id=program.id, last_update_tag=n + 10))
    device = Device(device_library_identifier=DEVICE, push_token="ab" * 32)
    db.session.add(device)
    chosen = db.session.scalars(
        select(Pass).order_by(Pass.id.desc()).limit(REGISTERED)
    ).all()
    for pass_ in chosen:
        db.session.add(Registration(device=device, pass_=pass_))
    db.session.commit()
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("ANALYZE"))
        db.session.commit()
    return program.pass_type_identifier, [
        (p.serial_number, p.authentication_token) for p in chosen
    ]


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    for _ in range(min(20, repeat)):
        fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"{statistics.median(ordered):.2f} / {p99:.2f}"


def measure(database_url: str, n: int, repeat: int, certs: Path) -> dict[str, str]:
    # Latency, not the per-device rate limit (one device asks over and over).
    app = bench_app(database_url, certs, RATELIMIT_ENABLED=False)
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        started = time.perf_counter()
        pass_type, registered = populate(n)
        fill_seconds = time.perf_counter() - started
        tag = db.session.scalar(select(db.func.max(Pass.update_tag)))
        # Make the newest registered pass real (its content hash and signature).
        from app.services.passes import last_update_tag, refresh_pass

        newest = db.session.scalar(
            select(Pass).where(Pass.serial_number == registered[0][0])
        )
        refresh_pass(newest)
        db.session.commit()
        program_tag = last_update_tag(newest.program_id)
    client = app.test_client()
    serial, token = registered[0]
    headers = {"Authorization": f"ApplePass {token}"}
    list_url = f"/wallet/v1/devices/{DEVICE}/registrations/{pass_type}"
    pass_url = f"/wallet/v1/passes/{pass_type}/{serial}"
    last_modified = client.get(pass_url, headers=headers).headers["Last-Modified"]

    def ok(response, status: int) -> None:
        assert response.status_code == status, (
            response.status_code,
            response.data[:200],
        )

    results = {
        "passes": f"{n:,}",
        "fill (s)": f"{fill_seconds:.1f}",
        "list, no tag": summary(timed(lambda: ok(client.get(list_url), 200), repeat)),
        "list, since old tag": summary(
            timed(
                lambda: ok(
                    client.get(
                        list_url, query_string={"passesUpdatedSince": str(tag - 2)}
                    ),
                    200,
                ),
                repeat,
            )
        ),
        "list, none changed (204)": summary(
            timed(
                lambda: ok(
                    client.get(
                        list_url, query_string={"passesUpdatedSince": str(program_tag)}
                    ),
                    204,
                ),
                repeat,
            )
        ),
        "GET pass (200, signed)": summary(
            timed(lambda: ok(client.get(pass_url, headers=headers), 200), repeat)
        ),
        "GET pass (304)": summary(
            timed(
                lambda: ok(
                    client.get(
                        pass_url,
                        headers={**headers, "If-Modified-Since": last_modified},
                    ),
                    304,
                ),
                repeat,
            )
        ),
    }
    with app.app_context():
        db.engine.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--passes", type=int, default=100_000)
    parser.add_argument("--baseline", type=int, default=1_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument(
        "--database", choices=["sqlite", "postgresql"], default="sqlite"
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-ws-"))
    certs = dev_certs(work)
    with databases(args.database, work, "small", "large") as urls:
        rows = [
            measure(urls["small"], args.baseline, args.requests, certs),
            measure(urls["large"], args.passes, args.requests, certs),
        ]
    print(
        f"\nweb service latency, {args.database}, in-process Flask client, "
        f"{args.requests} requests each; cells are p50 / p99 in ms "
        f"(cpu: {os.cpu_count()} cores)\n"
    )
    keys = list(rows[0])
    print("| measure | baseline | large |")
    print("|---|---|---|")
    for key in keys:
        print(f"| {key} | {rows[0][key]} | {rows[1][key]} |")


if __name__ == "__main__":
    main()
