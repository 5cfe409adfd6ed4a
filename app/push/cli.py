"""`flask --app wsgi worker` and `flask --app wsgi check-certs`."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import socket
import threading
from datetime import UTC, datetime

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy import Engine

from app.config import (
    development_certificate_file,
    is_production,
    production_problems,
)
from app.extensions import db
from app.push.certs import (
    ERROR,
    OK,
    WARNING,
    Finding,
    SigningFiles,
    check_push_config,
    check_signing,
    errors,
    warning_window,
)
from app.services import scheduler

_MARKS = {OK: "ok     ", WARNING: "WARNING", ERROR: "ERROR  "}


@click.command("check-certs")
@with_appcontext
def check_certs() -> None:
    """Check the pass and WWDR certificates (the deployment's and each brand's), the
    APNs certificate or key and the push settings; exit 1 on errors, warn
    CERT_WARNING_DAYS before a certificate expires. In production (https
    PUBLIC_BASE_URL) also what the app refuses to start with."""
    findings = (
        _production_findings()
        + check_push_config(current_app.config)
        + _program_findings()
    )
    for finding in findings:
        click.echo(f"{_MARKS[finding.level]} {finding.message}")
    if errors(findings):
        raise click.exceptions.Exit(1)
    click.echo("push configuration is usable")


def _production_findings() -> list[Finding]:
    """The start-up refusals (app.config.production_problems), as errors."""
    config = current_app.config
    if config.get("TESTING"):
        return []
    return [Finding(ERROR, problem) for problem in production_problems(config)]


def _program_findings() -> list[Finding]:
    """Brands with their own pass certificate (and WWDR), and in token mode their
    team's APNs key: the same checks, named by program."""
    from sqlalchemy import select

    from app.models import Program
    from app.push.certs import check_token
    from app.push.clients import ProgramFiles, program_credentials

    config = current_app.config
    findings: list[Finding] = []
    production = is_production(config) and not config.get("TESTING")
    token_mode = config.get("APNS_AUTH") == "token"
    for program in db.session.scalars(select(Program).order_by(Program.id)):
        if program.pass_cert_file:
            if production and development_certificate_file(
                program.pass_cert_file, config
            ):
                findings.append(
                    Finding(
                        ERROR,
                        f"program {program.slug}: pass certificate is a development "
                        "certificate (dev-certs)",
                    )
                )
            check_signing(
                SigningFiles(
                    program.pass_cert_file,
                    program.pass_key_file,
                    program.wwdr_cert_file or config.get("WWDR_CERT_FILE"),
                    config.get("PASS_KEY_PASSWORD"),
                    program.pass_type_identifier,
                    label=f"program {program.slug}: pass certificate",
                ),
                findings,
                datetime.now(UTC),
                warning_window(config),
            )
        if not token_mode:
            continue
        credentials = program_credentials(
            config,
            ProgramFiles(
                program.slug,
                program.pass_type_identifier,
                program.team_identifier,
                apns_key_file=program.apns_key_file,
                apns_key_id=program.apns_key_id,
            ),
        )
        if isinstance(credentials, str):
            findings.append(Finding(ERROR, credentials))
        elif program.apns_key_file:
            own: list[Finding] = []
            check_token(
                {
                    "APNS_KEY_FILE": credentials.key_file,
                    "APNS_KEY_ID": credentials.key_id,
                    "TEAM_IDENTIFIER": credentials.team_id,
                },
                own,
            )
            findings.extend(
                Finding(f.level, f"program {program.slug}: {f.message}") for f in own
            )
    return findings


@click.command("worker")
@click.option(
    "--until-idle", is_flag=True, help="Exit once nothing is queued (cron, tests)."
)
@click.option(
    "--no-scheduler",
    is_flag=True,
    help="Only deliver; leave scheduled jobs (campaigns, automations) to others.",
)
@click.option(
    "--processes",
    type=click.IntRange(1, 64),
    default=None,
    help="Delivery processes (PostgreSQL only; default PUSH_WORKER_PROCESSES or 1).",
)
@with_appcontext
def worker(until_idle: bool, no_scheduler: bool, processes: int | None) -> None:
    """Deliver queued pushes (APNs, WalletPasses relay, Google) and run the
    scheduled jobs until stopped."""

    config = current_app.config
    problems = errors(check_push_config(config))
    if problems:
        for finding in problems:
            click.echo(f"ERROR   {finding.message}", err=True)
        raise click.ClickException(
            "push configuration is not usable; see `flask --app wsgi check-certs`"
        )
    nice = int(config.get("WORKER_NICE") or 0)
    engine = db.engine
    # The proxy is typed as the Flask app itself; the threads need the real one.
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    count = processes or int(config.get("PUSH_WORKER_PROCESSES") or 1)
    if count > 1 and engine.dialect.name != "postgresql":
        raise click.ClickException("--processes needs PostgreSQL (SKIP LOCKED claims)")
    # One event loop is one core: a campaign's pushes (and signing its passes
    # ahead) spread over forked delivery processes, each claiming its own
    # batches with SKIP LOCKED; only this first process runs the scheduler.
    children = [_fork_delivery(engine, until_idle, nice) for _ in range(count - 1)]
    stop_scheduler = threading.Event()
    if not (until_idle or no_scheduler):
        # Started before this thread lowers its priority (Linux: per thread), so
        # the jobs keep the normal one: a campaign's batch holds its members'
        # rows and the program's tag row while it writes, and at a lowered
        # priority it waited for the CPU while the tills waited for it
        # (docs/performance.md, "Stop 17"). Its CPU-heavy job, pass_hashes,
        # waits while the tills are busy instead.
        threading.Thread(
            target=scheduler.run_forever,
            args=(app, stop_scheduler, float(config["SCHEDULER_SECONDS"])),
            name="scheduler",
            daemon=True,
        ).start()
    # Signing and pushing (this thread, its thread pool) yield to the tills.
    be_nice(nice)

    try:
        asyncio.run(_deliver(engine, app, until_idle))
    finally:
        stop_scheduler.set()
        for child in children:
            if not until_idle:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child, signal.SIGTERM)
            os.waitpid(child, 0)


def be_nice(increment: int) -> int:
    """Lower this process's CPU priority by `increment` (WORKER_NICE); the new
    niceness. Signing a campaign's passes and pushing them is background work:
    the tills' requests in gunicorn come first when the cores are busy. Linux
    applies nice per thread; new threads and forks inherit it: called by each
    delivery process in its main thread, after the scheduler thread started."""
    if increment > 0:
        with contextlib.suppress(OSError):  # not permitted: the current priority
            return os.nice(increment)
    return os.nice(0)


async def _deliver(engine: Engine, app: Flask, until_idle: bool) -> None:
    """One delivery loop (one process): stops on SIGTERM/SIGINT."""
    from app.push.senders import build_senders
    from app.push.worker import Settings, Worker
    from app.services import pass_cache

    config = app.config
    # The loop makes a few objects per push (tasks, futures, h2 events) and
    # keeps thousands alive (batches in flight): the collector's frequent runs
    # over the app's long-lived objects were ~14% of a push's CPU (measured,
    # docs/performance.md "Push"). Those are frozen out of its reach, and it
    # runs less often.
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
    sign_ahead = (
        pass_cache.signer_for(app) if config.get("PASS_SIGN_AHEAD", True) else None
    )
    runner = Worker(
        engine,
        build_senders(config, app),
        Settings.from_config(config),
        owner=f"{socket.gethostname()}:{os.getpid()}"[:64],
        sign_ahead=sign_ahead,
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, runner.stop)
    await runner.run(until_idle=until_idle)


def _fork_delivery(engine: Engine, until_idle: bool, nice: int) -> int:
    """A forked delivery process (no scheduler), at a priority lowered by
    `nice`; its pid, in the parent."""
    pid = os.fork()
    if pid:
        return pid
    status = 1
    try:
        be_nice(nice)
        # The parent's pooled connections must not be shared across the fork.
        engine.dispose(close=False)
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        asyncio.run(_deliver(engine, app, until_idle))
        status = 0
    finally:
        os._exit(status)


@click.command("run-jobs")
@with_appcontext
def run_jobs() -> None:
    """Run the scheduled jobs once (campaigns due, automations) and report."""
    for name, result in scheduler.run_due().items():
        click.echo(f"{name}: {result}")
