"""Operator commands: `flask --app wsgi <command>`."""

from __future__ import annotations

import json
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

import passes
from app.extensions import db


@click.command("init-db")
@with_appcontext
def init_db() -> None:
    """Create or upgrade the database schema (Alembic migrations to head)."""
    from flask_migrate import upgrade

    upgrade()
    click.echo("database is at the latest migration")


@click.command("dev-certs")
@click.option("--force", is_flag=True, help="Replace existing development files.")
@with_appcontext
def dev_certs(force: bool) -> None:
    """Generate DEVELOPMENT certificates: stand-in Apple CA, pass cert, APNs, Google."""
    config = current_app.config
    directory = Path(config["DEV_CERTS_DIR"])
    cert_file = Path(config["PASS_CERT_FILE"])
    if directory not in cert_file.parents:
        state = "present" if cert_file.is_file() else "MISSING: put it in place"
        click.echo(
            f"real certificates are configured (PASS_CERT_FILE={cert_file}, {state}); "
            "nothing to do"
        )
        return
    if (directory / "pass.pem").exists() and not force:
        click.echo(f"development certificates already in {directory}")
        return
    pki = passes.make_dev_pki(
        config["PASS_TYPE_IDENTIFIER"], config["TEAM_IDENTIFIER"], "Wallet Dev"
    )
    written = passes.write_dev_pki(pki, directory)
    click.echo(f"development certificates written to {directory}:")
    for name in sorted(written):
        click.echo(f"  {written[name]}")
    click.echo(f"APNs key id: {pki.apns_key_id}")


@click.command("demo")
@with_appcontext
def demo() -> None:
    """Create or refresh the demo program, stores and members (idempotent)."""
    from app.services.demo import seed_demo

    program = seed_demo()
    db.session.commit()
    click.echo(
        json.dumps(
            {
                "program": program.slug,
                "stores": len(program.stores),
                "join": f"{current_app.config['PUBLIC_BASE_URL']}/join/{program.slug}",
            },
            ensure_ascii=False,
        )
    )


def _push_commands() -> list[click.Command]:
    from app.push.cli import check_certs, worker

    return [worker, check_certs]


commands = [init_db, dev_certs, demo, *_push_commands()]
