"""Many ids in one bound parameter.

`column.in_(ids)` renders one placeholder per id, so a batch of 1,000 ids makes
a statement SQLAlchemy renders again on every call and PostgreSQL parses and
plans again (psycopg also re-scans such a long statement in Python each time:
its statement cache stops at 4 KB). On PostgreSQL profiling a 200k-member
campaign put about half of the enqueue's client CPU there
(docs/performance.md, "PostgreSQL enqueue"). `in_ids` passes the ids as ONE
parameter instead, so the statement's text is the same whatever the ids:
`column = ANY(:ids)` with an int[] on PostgreSQL, `column IN (SELECT value FROM
json_each(:ids))` with a JSON array on SQLite.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    String,
    any_,
    bindparam,
    cast,
    func,
    select,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.expression import FromClause
from sqlalchemy.sql.sqltypes import NullType

from app.extensions import db


def in_ids(
    column: ColumnElement[int] | QueryableAttribute[int], ids: Iterable[int]
) -> ColumnElement[bool]:
    """`column IN ids` with the ids bound as one parameter (see the module)."""
    values = [int(i) for i in ids]
    if db.session.get_bind().dialect.name == "postgresql":
        return column == any_(_pg_array(values))
    return column.in_(select(_json_each(values).c.value))


def id_rows(ids: Iterable[int]) -> FromClause:
    """The ids as a one-column table (`.c.id`), one bound parameter: `unnest`
    on PostgreSQL, `json_each` on SQLite. A join driven by it probes the joined
    tables' indexes per id, where `= ANY(:ids)` filters may be planned as a
    scan of the whole joined table per batch (which grows with the program)."""
    values = [int(i) for i in ids]
    if db.session.get_bind().dialect.name == "postgresql":
        return func.unnest(_pg_array(values)).table_valued("id").render_derived()
    return select(_json_each(values).c.value.label("id")).subquery()


def _json_each(values: list[int]) -> Any:
    """SQLite: the ints as a JSON array bound as one text, read by json_each."""
    return func.json_each(
        bindparam(None, json.dumps(values), type_=String, unique=True)
    ).table_valued("value")


def _pg_array(values: list[int]) -> ColumnElement[Any]:
    """The ints as an int[] literal bound as text and cast by the server: psycopg
    dumps a Python list element by element in Python (1.9 ms for 5,000 ids,
    against 0.4 ms for this join; a campaign batch binds a dozen such lists).

    The parameter is untyped (psycopg sends a str as `unknown`), so the server
    reads it as an int[] constant: `CAST($1::VARCHAR AS INTEGER[])` goes
    through array_in, which is only stable, so the planner cannot fold it, and
    a sequential scan then searched the whole array for every row instead of
    hashing it once (4,003 ids against a 4,003-row table: 500 ms against
    2.5 ms; docs/performance.md, "Stop 16")."""
    literal = "{" + ",".join(map(str, values)) + "}"
    return cast(
        bindparam(None, literal, type_=NullType(), unique=True),
        postgresql.ARRAY(Integer),
    )
