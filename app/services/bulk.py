"""Many new rows into one table, as fast as the database takes them.

On PostgreSQL `insert_rows` streams the rows with COPY ... FROM STDIN (psycopg's
`Copy.write_row`) in the caller's transaction: one round trip per a few hundred
kilobytes and no statement to parse, where SQLAlchemy's executemany sends
multi-row INSERTs of 1,000 rows with a bound parameter per cell. Measured on the
member import (docs/performance.md, "Member import"), the INSERTs of members,
passes and ledger entries took ~80 % of a batch's wall time on PostgreSQL.
On SQLite the plain executemany is already an in-process loop: it is used as is.

Values go through each column's SQLAlchemy type (e.g. `UTCDateTime` makes UTC
timestamps naive) and Python-side column defaults are filled in, so a row given
here is stored exactly as `connection.execute(insert(table), rows)` would store it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import Table, insert

from app.extensions import db

_UNSET = object()


def _default(column: Any) -> Callable[[], Any] | None:
    """A maker of the column's Python-side default; None without one."""
    default = column.default
    if default is None:
        return None
    if getattr(default, "is_scalar", False):
        value = default.arg
        return lambda: value
    if getattr(default, "is_callable", False):
        function = default.arg  # SQLAlchemy's wrapper takes the context
        return lambda: function(None)
    return None


def insert_rows(table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT `rows` (dicts with the same keys) into `table` in the session's
    transaction; nothing is returned (select the new ids by a natural key)."""
    if not rows:
        return
    connection = db.session.connection()
    dialect = connection.dialect
    if dialect.name != "postgresql":
        connection.execute(insert(table), list(rows))
        return
    given = list(rows[0])
    processors = [
        table.columns[name].type._cached_bind_processor(dialect) for name in given
    ]
    names = list(given)
    extra: list[Any] = []
    for column in table.columns:
        if column.name not in rows[0]:
            maker = _default(column)
            if maker is not None:
                # One value per call, as one INSERT statement would have it.
                processor = column.type._cached_bind_processor(dialect)
                value = maker()
                names.append(column.name)
                extra.append(processor(value) if processor else value)
    tail = tuple(extra)
    get = itemgetter(*given)
    single = len(given) == 1
    # Processed columns memoize their last value: a batch's rows mostly share
    # them (the same `now` in every row), and the processors cost ~5 µs a call.
    processed = [
        (index, processor, [_UNSET, None])
        for index, processor in enumerate(processors)
        if processor is not None
    ]
    columns = ", ".join(f'"{name}"' for name in names)
    raw = connection.connection.driver_connection
    assert raw is not None
    statement = f'COPY "{table.name}" ({columns}) FROM STDIN'
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        write = copy.write_row
        for row in rows:
            values = (get(row),) if single else get(row)
            if processed:
                values = list(values)
                for index, processor, last in processed:
                    value = values[index]
                    if value is not last[0] and value != last[0]:
                        last[0], last[1] = value, processor(value)
                    values[index] = last[1]
                write((*values, *tail))
            else:
                write(values + tail)
