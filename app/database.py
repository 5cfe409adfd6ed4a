"""Database engine settings that SQLAlchemy does not apply by itself, and the
dialect's INSERT construct (the one with ON CONFLICT) for the session's database."""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from app.extensions import db


@event.listens_for(Engine, "connect")
def _sqlite_on_connect(dbapi_connection: Any, connection_record: Any) -> None:
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    # Let SQLAlchemy, not pysqlite, decide where transactions begin: pysqlite's own
    # handling skips BEGIN before SELECT and breaks SAVEPOINT (SQLAlchemy docs,
    # "Serializable isolation / Savepoints / Transactional DDL").
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


_SQLITE_BEGIN = {"deferred": "BEGIN", "immediate": "BEGIN IMMEDIATE"}


@event.listens_for(Engine, "begin")
def _sqlite_on_begin(connection: Connection) -> None:
    if connection.dialect.name == "sqlite":
        # "immediate" (execution option `sqlite_begin`) takes the write lock at
        # once: a transaction that reads and then writes can otherwise fail with
        # "database is locked" when another writer commits in between (WAL).
        mode = connection.get_execution_options().get("sqlite_begin", "deferred")
        connection.exec_driver_sql(_SQLITE_BEGIN[mode])


def insert(table: Any) -> Any:
    """INSERT into `table` with the construct of the session's database (it has
    `on_conflict_do_nothing` / `on_conflict_do_update`)."""
    dialect = db.session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
