"""Member import at scale: a generated CSV of N rows imported batch by batch
through the real path (`imports.create_job` + `imports.run_batch`, as the worker
and `flask --app wsgi import-members` run it), then the same file again (nothing
changes), with the Python heap's peak (tracemalloc) to show memory stays flat.

    .venv/bin/python bench/import.py [--rows 20000] [--database sqlite|postgresql]
        [--no-trace] [--trace-rows 10000]

Reported with each run: wall seconds, this process's CPU, on PostgreSQL the
server backend's CPU (from /proc), and the load average; at the end the
process's peak RSS (compare two --rows: memory must not grow with the file).

The CSV is written the way Excel writes it (UTF-8 BOM, `;`, CRLF): phone, name,
e-mail (every other row), birthday, old card number (every third row), opening
balance, tier, consent date.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select, text  # noqa: E402

from app.extensions import db  # noqa: E402
from app.models import Member, MemberImport, Program  # noqa: E402
from app.services import imports  # noqa: E402
from app.services.demo import seed_demo  # noqa: E402
from bench.support import bench_app, databases, dev_certs  # noqa: E402

HEADER = "Телефон;ФИО;E-mail;Дата рождения;Номер карты;Баланс;Уровень;Дата согласия"


def write_csv(path: Path, rows: int) -> None:
    tiers = ["silver", "gold", "platinum"]
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        out.write(HEADER + "\r\n")
        for i in range(rows):
            email = f"member{i}@example.ru" if i % 2 else ""
            card = f"{900000000 + i}" if i % 3 == 0 else ""
            out.write(
                f"+7 9{i:09d};Участник {i};{email};{1 + i % 28:02d}.{1 + i % 12:02d}."
                f"{1960 + i % 45};{card};{i % 5000};{tiers[i % 3]};01.02.2024\r\n"
            )


def backend_cpu() -> float:
    """CPU seconds of this session's PostgreSQL backend so far (0 on SQLite,
    whose work is in this process's CPU)."""
    if db.session.get_bind().dialect.name != "postgresql":
        return 0.0
    pid = db.session.scalar(text("SELECT pg_backend_pid()"))
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_import(path: Path, program: Program) -> tuple[float, dict[str, int]]:
    """(wall seconds, counts); prints the process's CPU seconds too (the machine
    may be shared: CPU time is what the import itself costs here), and on
    PostgreSQL the server backend's."""
    server = backend_cpu()
    load = os.getloadavg()[0]
    started = time.perf_counter()
    cpu = time.process_time()
    job = imports.create_job(program, path, dry_run=False, owned=False)
    db.session.commit()
    job_id = job.id
    while not imports.run_batch(job_id):
        pass
    seconds = time.perf_counter() - started
    print(
        f"  (this process's CPU: {time.process_time() - cpu:.2f} s; server "
        f"backend CPU: {backend_cpu() - server:.2f} s; load average "
        f"{load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end)"
    )
    row = db.session.get(MemberImport, job_id)
    assert row is not None
    view = imports.view(row)
    db.session.commit()
    return seconds, {k: view[k] for k in ("created", "updated", "unchanged", "failed")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument(
        "--database", choices=["sqlite", "postgresql"], default="sqlite"
    )
    parser.add_argument(
        "--no-trace", action="store_true", help="skip the tracemalloc run"
    )
    parser.add_argument(
        "--trace-rows", type=int, default=10_000, help="rows of the traced run"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-import-"))
    csv_path = work / "members.csv"
    write_csv(csv_path, args.rows)
    print(f"CSV: {args.rows} rows, {csv_path.stat().st_size / 1e6:.1f} MB")
    with databases(args.database, work, "imp") as urls:
        app = bench_app(urls["imp"], dev_certs(work), IMPORT_DIR=str(work))
        with app.app_context():
            from flask_migrate import upgrade

            upgrade()
            program = seed_demo()
            db.session.commit()
            seconds, first = run_import(csv_path, program)
            print(
                f"first run:  {seconds:6.2f} s  {args.rows / seconds:8.0f} rows/s  "
                f"{first}"
            )
            seconds, again = run_import(csv_path, program)
            print(
                f"same again: {seconds:6.2f} s  {args.rows / seconds:8.0f} rows/s  "
                f"{again}"
            )
            members = db.session.scalar(select(func.count()).select_from(Member))
            print(f"members in the database: {members}")
            print(
                "peak RSS so far: "
                f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
            )
            if not args.no_trace:
                # A fresh file of new phones, traced: the heap peak is per batch.
                traced = work / "traced.csv"
                with traced.open("w", encoding="utf-8-sig", newline="") as out:
                    out.write(HEADER + "\r\n")
                    for i in range(args.trace_rows):
                        out.write(
                            f"+7950{i:07d};Новый {i};;;;{i % 100};;01.02.2024\r\n"
                        )
                tracemalloc.start()
                seconds, _ = run_import(traced, program)
                peak = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
                print(
                    f"traced run of {args.trace_rows} new rows: Python heap peak "
                    f"{peak / 1e6:.1f} MB (bounded by one batch of {imports.BATCH})"
                )


if __name__ == "__main__":
    main()
