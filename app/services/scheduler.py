"""Scheduled jobs (due campaigns, birthday and other automations).

A job is a function of "now" that does what is due and is safe to run again and
from several processes at once (its effects are keyed, e.g. one message per member
and source). `flask --app wsgi worker` runs every job each SCHEDULER_SECONDS in a
thread next to the push loop; `flask --app wsgi run-jobs` runs them once (cron,
tests). Register a job with `@scheduled("name")` in a module listed in
JOB_MODULES.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from flask import Flask

from app.extensions import db

log = logging.getLogger(__name__)

Job = Callable[[datetime], object]
JOBS: dict[str, Job] = {}
# Modules whose import registers jobs (each feature adds its own line).
JOB_MODULES: list[str] = [
    "app.services.automations",
    "app.services.campaigns",
    "app.services.catalog",
    "app.services.closed_cards",
    "app.services.db_stats",
    "app.services.offers",
    "app.services.imports",
    "app.services.memberships",
    "app.services.pass_hashes",
    "app.services.stores",
    "app.services.webhooks",
    "app.services.wallet",
    "app.services.feedback",
    "app.services.kpi_snapshots",
    "app.services.year_totals",
]


def scheduled(name: str) -> Callable[[Job], Job]:
    def register(job: Job) -> Job:
        JOBS[name] = job
        return job

    return register


def load_jobs() -> dict[str, Job]:
    for module in JOB_MODULES:
        importlib.import_module(module)
    return JOBS


def run_due(now: datetime | None = None) -> dict[str, str]:
    """Run every job once, each in its own transaction; name -> "ok" or the error."""
    now = now or datetime.now(UTC)
    results: dict[str, str] = {}
    for name, job in load_jobs().items():
        try:
            job(now)
            db.session.commit()
            results[name] = "ok"
        except Exception as error:  # one failing job must not stop the others
            db.session.rollback()
            log.exception("scheduled job %s failed", name)
            results[name] = f"error: {type(error).__name__}"
    return results


def run_forever(app: Flask, stop: threading.Event, seconds: float) -> None:
    """The worker's scheduler thread: run the jobs every `seconds` until stopped."""
    log.info("scheduler started (every %gs, nice %d)", seconds, os.nice(0))
    while not stop.is_set():
        with app.app_context():
            run_due()
            db.session.remove()
        stop.wait(seconds)
