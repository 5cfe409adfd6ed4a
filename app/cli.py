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
@click.option(
    "--role", type=click.Choice(["pos", "marketer", "admin", "shop"]), required=True
)
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
    """Revoke a key by its prefix (the part after `wlk_`); ends its /admin sessions."""
    from sqlalchemy import select

    from app.models import ApiKey

    key = db.session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if key is None:
        raise click.BadParameter(f"no key with prefix {prefix!r}")
    from app.admin.session import end_sessions

    key.revoked = True
    end_sessions(key)  # its /admin sign-ins end too
    db.session.commit()
    click.echo(f"revoked {prefix}")


@click.command("import-members")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, resolve_path=True))
@click.option("--program", "program_slug", help="Program slug (default: the only one).")
@click.option("--dry-run", is_flag=True, help="Check every row, change nothing.")
@click.option(
    "--invite",
    is_flag=True,
    help="Then send each new member their card link (the worker, outside quiet hours).",
)
@with_appcontext
def import_members(
    file: str, program_slug: str | None, dry_run: bool, invite: bool
) -> None:
    """Import members from a CSV file (see docs/operations.md); resumable: run
    the same command again after a crash and it goes on from the last batch."""
    from sqlalchemy import select

    from app.models import MemberImport, Program
    from app.models.imports import QUEUED, RUNNING
    from app.services import imports
    from app.services.errors import Invalid

    query = select(Program)
    if program_slug:
        query = query.where(Program.slug == program_slug)
    programs = db.session.scalars(query.limit(2)).all()
    if not programs:
        raise click.BadParameter(f"no program {program_slug!r}", param_hint="--program")
    if len(programs) > 1:
        raise click.UsageError("several programs: choose one with --program")
    program = programs[0]
    size = Path(file).stat().st_size
    # An unfinished run of the same file (a crash): go on from its cursor.
    job = db.session.scalar(
        select(MemberImport)
        .where(
            MemberImport.program_id == program.id,
            MemberImport.path == file,
            MemberImport.size_bytes == size,
            MemberImport.dry_run.is_(dry_run),
            MemberImport.status.in_((QUEUED, RUNNING)),
        )
        .order_by(MemberImport.id.desc())
        .limit(1)
    )
    if job is None:
        try:
            job = imports.create_job(
                program,
                Path(file),
                dry_run=dry_run,
                invite=invite,
                filename=Path(file).name,
                owned=False,
            )
        except Invalid as error:
            raise click.ClickException(error.message) from None
        db.session.commit()
    else:
        click.echo(f"resuming import {job.id} at line {job.line}", err=True)
    job_id = job.id
    while not imports.run_batch(job_id):
        row = db.session.get(MemberImport, job_id)
        assert row is not None
        view = imports.view(row)
        db.session.commit()
        click.echo(
            f"{view['percent']:3d}%  line {view['lines_read']}  ok {view['rows_ok']}  "
            f"failed {view['failed']}",
            err=True,
        )
    row = db.session.get(MemberImport, job_id)
    assert row is not None
    view = imports.view(row)
    db.session.commit()
    click.echo(json.dumps(view, ensure_ascii=False, indent=2))


def _push_commands() -> list[click.Command]:
    from app.push.cli import check_certs, run_jobs, worker

    return [worker, check_certs, run_jobs]


commands = [init_db, dev_certs, demo, api_key, import_members, *_push_commands()]
