"""Readiness checks; their messages name what is wrong, never paths or secrets."""

from __future__ import annotations

import logging
from typing import Any

from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import current_app
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

import passes
from app.extensions import db
from app.services.passes import signer

log = logging.getLogger(__name__)


def _database() -> dict[str, Any]:
    try:
        with db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            current = MigrationContext.configure(connection).get_current_heads()
    except SQLAlchemyError as error:
        log.warning("readiness: database unavailable: %s", type(error).__name__)
        return {"ok": False, "message": "database unavailable"}
    migrate = current_app.extensions["migrate"]
    config = migrate.migrate.get_config(migrate.directory)
    heads = ScriptDirectory.from_config(config).get_heads()
    if set(current) != set(heads):
        return {"ok": False, "message": "database schema is not at the latest "
                "migration (run `flask --app wsgi init-db`)"}  # fmt: skip
    return {"ok": True}


def _signing() -> dict[str, Any]:
    try:
        signer()
    except passes.PassSigningError as error:
        log.warning("readiness: %s", error)
        return {"ok": False, "message": "pass signing unavailable (see the log)"}
    return {"ok": True}


def readiness() -> dict[str, dict[str, Any]]:
    return {"database": _database(), "pass_signing": _signing()}
