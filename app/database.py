"""Database engine settings that SQLAlchemy does not apply by itself, the
dialect's INSERT construct (the one with ON CONFLICT) for the session's database,
and the SQLite write lock taken up front.

SQLite has one writer at a time. A transaction that begins with a read (plain
`BEGIN`) and then writes must upgrade its lock, and in WAL mode SQLite refuses
that at once ("database is locked", no busy wait) when another writer committed
meanwhile: concurrent sign-ups got 503s. So every transaction that may write
begins with `BEGIN IMMEDIATE`, which waits its turn (busy_timeout) instead:

- requests: every request other than GET/HEAD/OPTIONS (`register_write_lock`),
  and the GET views marked `@writes`;
- services and jobs outside a request, or after a commit: `begin_write()`.

PostgreSQL needs none of it (row locks), and it costs nothing there.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import psycopg
from flask import (
    Flask,
    Response,
    after_this_request,
    current_app,
    has_request_context,
    request,
)
from sqlalchemy import event, exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

from app.extensions import db

log = logging.getLogger(__name__)


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


class _ResultView:
    """What psycopg's `Column` reads from a cursor, taken when a result arrives
    (the cursor may move on to the next result before the columns are built)."""

    __slots__ = ("_encoding", "adapters", "pgresult")

    def __init__(self, cursor: psycopg.Cursor[Any]) -> None:
        self.pgresult = cursor.pgresult
        self._encoding = cursor._encoding
        self.adapters = cursor.adapters


class _Description(Sequence[Any]):
    """A result's `cursor.description`, its columns built on first use.

    psycopg builds a `Column` object per result column on every access (about
    5 µs each), and SQLAlchemy reads `description` after every statement; but
    when its compiled statement is cached (every repeated statement) it already
    knows the columns and only checks the description for None. At ~75 columns
    per POS purchase that was ~12 % of its app CPU (docs/performance.md, "POS").
    """

    __slots__ = ("_columns", "_view")

    def __init__(self, view: _ResultView) -> None:
        self._view = view
        self._columns: list[psycopg.Column] | None = None

    def _built(self) -> list[psycopg.Column]:
        if self._columns is None:
            count = self._view.pgresult.nfields  # type: ignore[union-attr]
            self._columns = [
                psycopg.Column(self._view, i)  # type: ignore[arg-type]
                for i in range(count)
            ]
        return self._columns

    def __len__(self) -> int:
        return len(self._built())

    def __getitem__(self, index: Any) -> Any:
        return self._built()[index]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._built())

    def __eq__(self, other: object) -> bool:
        return self._built() == other

    def __repr__(self) -> str:
        return repr(self._built())


_RESULT_STATUSES = (
    psycopg.pq.ExecStatus.TUPLES_OK,
    psycopg.pq.ExecStatus.SINGLE_TUPLE,
    psycopg.pq.ExecStatus.TUPLES_CHUNK,
)


class _Cursor(psycopg.Cursor[Any]):
    """psycopg's cursor with a lazily built `description` (see _Description)."""

    @property
    def description(self) -> list[psycopg.Column] | None:
        result = self.pgresult
        # As psycopg decides: columns, or a result that said it has rows.
        if result and (result.nfields or result.status in _RESULT_STATUSES):
            return _Description(_ResultView(self))  # type: ignore[return-value]
        return None


@event.listens_for(Engine, "connect")
def _psycopg_on_connect(dbapi_connection: Any, connection_record: Any) -> None:
    if isinstance(dbapi_connection, psycopg.Connection):
        dbapi_connection.cursor_factory = _Cursor


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


def begin_write() -> None:
    """Begin the session's transaction as a writer: on SQLite `BEGIN IMMEDIATE`
    (writers queue on the database lock instead of failing when they read
    before writing); nothing on PostgreSQL, which relies on row locks. Call it
    before the transaction's first statement (it does nothing inside one)."""
    session = db.session()
    if session.in_transaction() or session.get_bind().dialect.name != "sqlite":
        return
    db.session.connection(execution_options={"sqlite_begin": "immediate"})


def is_writer() -> bool:
    """Whether the session's transaction can write without upgrading a lock:
    always on PostgreSQL; on SQLite when it began with `BEGIN IMMEDIATE`."""
    connection = db.session.connection()
    if connection.dialect.name != "sqlite":
        return True
    return connection.get_execution_options().get("sqlite_begin") == "immediate"


# id(statement) -> (the statement, its SQL for psycopg, its literal binds, its
# columns' result processors or None): the herd's statements
# are module constants, compiled once per process.
_compiled_sql: dict[int, tuple[Any, str, dict[str, Any], list[Any] | None]] = {}


def read_rows(statement: Any, params: dict[str, Any]) -> Sequence[Any]:
    """The rows of one read-only statement, on a pooled connection of its own
    rather than the request's session: no ORM session state to set up and tear
    down, and on PostgreSQL in autocommit (one round trip: no BEGIN before it,
    no ROLLBACK after). For the device herd's two wallet GETs, which run one
    statement each (docs/performance.md, "herdfast").

    On PostgreSQL the statement runs on the pooled psycopg connection itself,
    its SQL compiled once: SQLAlchemy's Connection, execution context and
    Result around one single-row statement cost ~150 µs of CPU against ~75 µs
    this way (docs/performance.md, "Stop 16"). Rows are plain tuples, their
    values processed as SQLAlchemy would (the columns' result processors)."""
    engine = db.engine
    if engine.dialect.name == "postgresql":
        return _read_rows_psycopg(engine, statement, params)
    with engine.connect() as conn:
        return conn.execute(statement, params).all()


def _read_rows_psycopg(
    engine: Engine, statement: Any, params: dict[str, Any]
) -> Sequence[Any]:
    compiled = _compiled_sql.get(id(statement))
    if compiled is None or compiled[0] is not statement:
        made = statement.compile(dialect=engine.dialect)
        # Its own literal binds (e.g. `+ 0`), and its columns' result
        # processing (UTCDateTime's time zone) as SQLAlchemy would apply it.
        found = [
            column.type._cached_result_processor(engine.dialect, None)  # noqa: SLF001
            for column in statement.selected_columns
        ]
        compiled = (statement, str(made), made.params, found if any(found) else None)
        _compiled_sql[id(statement)] = compiled
    sql, processors = compiled[1], compiled[3]
    params = {**compiled[2], **params}
    try:
        pooled = engine.raw_connection()
    except psycopg.Error as error:
        # The pool gives the driver's error when it cannot connect (the
        # database down): SQLAlchemy's, as a Connection would (a 503).
        raise exc.DBAPIError.instance(
            None, None, error, psycopg.Error, dialect=engine.dialect
        ) from error
    try:
        conn = pooled.driver_connection
        try:
            conn.autocommit = True  # type: ignore[union-attr]
            try:
                with conn.cursor() as cursor:  # type: ignore[union-attr]
                    cursor.execute(sql, params)
                    rows: list[Any] = cursor.fetchall()
            finally:
                conn.autocommit = False  # type: ignore[union-attr]
            if processors is not None:
                rows = [
                    tuple(
                        value if process is None else process(value)
                        for process, value in zip(processors, row, strict=True)
                    )
                    for row in rows
                ]
            return rows
        except psycopg.Error as error:
            # As SQLAlchemy would: its error types (app/errors.py maps them),
            # and a dead connection is not given back to the pool.
            invalidated = engine.dialect.is_disconnect(error, conn, None)  # type: ignore[arg-type]
            if invalidated:
                pooled.invalidate(error)
            raise exc.DBAPIError.instance(
                sql,
                params,
                error,
                psycopg.Error,
                connection_invalidated=invalidated,
                dialect=engine.dialect,
            ) from error
    finally:
        pooled.close()


def write_aside(statement: Any, params: dict[str, Any]) -> None:
    """A small write that need not commit with the request (a key's last use):
    in the session's transaction when it is a writer; else (a reading request on
    SQLite) in a short writer transaction of its own once the view is done,
    which waits its turn instead of failing on a lock upgrade. Not at once: a
    commit from aside would make the request's own read snapshot stale, and a
    GET marked `@writes` could then no longer write."""
    if is_writer():
        db.session.connection().execute(statement, params)
        return

    def write(response: Response) -> Response:
        try:
            with db.engine.execution_options(sqlite_begin="immediate").begin() as own:
                own.execute(statement, params)
        except OperationalError as error:  # bookkeeping: never fail the answer
            log.warning("write aside failed: %s", type(error.orig).__name__)
        return response

    if has_request_context():
        after_this_request(write)
    else:
        write(Response())


View = TypeVar("View", bound=Callable[..., Any])

# Methods whose requests only read (the rest begin as writers).
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def writes(view: View) -> View:
    """Mark a GET view that writes: its request begins as a writer too."""
    view.writes = True  # type: ignore[attr-defined]
    return view


def writes_when(predicate: Callable[[], bool]) -> Callable[[View], View]:
    """Mark a GET view that writes only when `predicate()` holds for the request:
    the other GETs stay readers (on SQLite, a page view then never waits for
    the write lock behind the tills)."""

    def mark(view: View) -> View:
        view.writes = predicate  # type: ignore[attr-defined]
        return view

    return mark


def register_write_lock(app: Flask) -> None:
    """Every request that may write begins its transaction as a writer (SQLite):
    any method but GET/HEAD/OPTIONS, and views marked `@writes`. Registered after
    the rate limiter and CSRF checks, so refused requests take no lock."""

    @app.before_request
    def begin_writes() -> None:
        if request.url_rule is None or request.endpoint is None:
            return  # 404/405: nothing runs
        if request.method in READ_METHODS:
            view = current_app.view_functions.get(request.endpoint)
            flag = getattr(view, "writes", False)
            if not (flag() if callable(flag) else flag):
                return
        begin_write()
