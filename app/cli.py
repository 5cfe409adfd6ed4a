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


@click.group("api-key")
def api_key() -> None:
    """Create, list and revoke API keys."""


@api_key.command("create")
@click.option("--role", type=click.Choice(["pos", "marketer", "admin"]), required=True)
@click.option("--store", "store_ref", help="Store id or code (required for pos).")
@click.option("--program", "program_slug", help="Program slug (default: the only one).")
@click.option("--name", default="", help="A label, e.g. the till.")
@with_appcontext
def api_key_create(
    role: str, store_ref: str | None, program_slug: str | None, name: str
) -> None:
    """Create a key and print it ONCE (only its hash is stored)."""
    from sqlalchemy import select

    from app.models import Program, Store
    from app.services.auth import create_key

    program = None
    if program_slug:
        program = db.session.scalar(select(Program).where(Program.slug == program_slug))
        if program is None:
            raise click.BadParameter(
                f"no program {program_slug!r}", param_hint="--program"
            )
    elif role != "admin" or store_ref:
        programs = db.session.scalars(select(Program).limit(2)).all()
        if len(programs) == 1:
            program = programs[0]
        elif not store_ref or not (store_ref.isascii() and store_ref.isdigit()):
            raise click.UsageError("several programs: choose one with --program")
    store = None
    if store_ref:
        query = select(Store)
        if store_ref.isascii() and store_ref.isdigit():
            query = query.where(Store.id == int(store_ref))
        else:
            query = query.where(Store.code == store_ref)
            if program is not None:
                query = query.where(Store.program_id == program.id)
        store = db.session.scalar(query)
        if store is None:
            raise click.BadParameter(f"no store {store_ref!r}", param_hint="--store")
    try:
        issued = create_key(role, program=program, store=store, name=name)
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    db.session.commit()
    scope = issued.api_key.store.code if issued.api_key.store else "-"
    click.echo(f"# role={role} store={scope} prefix={issued.api_key.prefix}", err=True)
    click.echo("# the key is shown only now; store it in the till", err=True)
    click.echo(issued.key)


@api_key.command("list")
@with_appcontext
def api_key_list() -> None:
    """List keys (prefix, role, store, state); never the keys themselves."""
    from sqlalchemy import select

    from app.models import ApiKey

    for key in db.session.scalars(select(ApiKey).order_by(ApiKey.id)):
        store = key.store.code if key.store else "-"
        state = "revoked" if key.revoked else "active"
        used = key.last_used_at.isoformat() if key.last_used_at else "never"
        click.echo(f"{key.prefix}\t{key.role}\t{store}\t{state}\tlast used {used}")


@api_key.command("revoke")
@click.argument("prefix")
@with_appcontext
def api_key_revoke(prefix: str) -> None:
    """Revoke a key by its prefix (the part after `wlk_`)."""
    from sqlalchemy import select

    from app.models import ApiKey

    key = db.session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if key is None:
        raise click.BadParameter(f"no key with prefix {prefix!r}")
    key.revoked = True
    db.session.commit()
    click.echo(f"revoked {prefix}")


def _push_commands() -> list[click.Command]:
    from app.push.cli import check_certs, run_jobs, worker

    return [worker, check_certs, run_jobs]


commands = [init_db, dev_certs, demo, api_key, *_push_commands()]
