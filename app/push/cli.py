"""`flask --app wsgi worker` and `flask --app wsgi check-certs`."""

from __future__ import annotations

import asyncio
import signal

import click
from flask import current_app
from flask.cli import with_appcontext

from app.extensions import db
from app.push.certs import ERROR, OK, WARNING, check_push_config, errors

_MARKS = {OK: "ok     ", WARNING: "WARNING", ERROR: "ERROR  "}


@click.command("check-certs")
@with_appcontext
def check_certs() -> None:
    """Check the APNs certificate or key and the push settings; exit 1 on errors."""
    findings = check_push_config(current_app.config)
    for finding in findings:
        click.echo(f"{_MARKS[finding.level]} {finding.message}")
    if errors(findings):
        raise click.exceptions.Exit(1)
    click.echo("push configuration is usable")


@click.command("worker")
@click.option(
    "--until-idle", is_flag=True, help="Exit once nothing is queued (cron, tests)."
)
@with_appcontext
def worker(until_idle: bool) -> None:
    """Deliver queued pushes (APNs, WalletPasses relay) until stopped."""
    from app.push.senders import build_senders
    from app.push.worker import Settings, Worker

    config = current_app.config
    problems = errors(check_push_config(config))
    if problems:
        for finding in problems:
            click.echo(f"ERROR   {finding.message}", err=True)
        raise click.ClickException(
            "push configuration is not usable; see `flask --app wsgi check-certs`"
        )
    engine = db.engine

    async def main() -> None:
        senders = build_senders(config, current_app._get_current_object())
        runner = Worker(engine, senders, Settings.from_config(config))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, runner.stop)
        await runner.run(until_idle=until_idle)

    asyncio.run(main())
