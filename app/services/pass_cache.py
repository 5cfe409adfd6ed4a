"""The signed-pass cache: a campaign's passes are signed once, ahead of the herd.

After a campaign every pushed device downloads its changed pass; signing one
costs ~3 ms of CPU, so the web tier would spend its cores re-building what the
push worker can build once per pass before it pushes. The cache is a table
(`signed_pass`, one row per pass at its current update tag): every web process
and worker share it through the database both on SQLite and PostgreSQL, with no
other store to run, and a pass that changes again simply replaces its row (an
older tag is never served and never kept).

A row is valid for a pass while its (update tag, Last-Modified) equal the
pass's own: the same contract as the web service's 304s, which already treat a
pass as unchanged until its tag and Last-Modified move; and while it was signed
with the program's current pass certificate (its SHA-256 fingerprint is stored
with the row): after a certificate is replaced, old rows count as misses and are
re-signed, with nothing to empty by hand.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any, NamedTuple

from flask import Flask
from sqlalchemy import Connection, and_, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import selectinload

from app.database import read_rows, write_aside
from app.extensions import db
from app.models import Pass, Program, SignedPass, SignedPassPart
from app.services import passes as pass_service
from passes import PassSigningError, shared_digest

log = logging.getLogger(__name__)
T = SignedPass.__table__
PART = SignedPassPart.__table__
_DUMMY_TOKEN = "x" * 32


def _store_statement(dialect: str) -> Any:
    """Upsert of one row; never replaces a newer version with an older one."""
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(T)
    statement = insert.values(
        pass_id=bindparam("b_pass"),
        update_tag=bindparam("b_tag"),
        modified_at=bindparam("b_modified"),
        data=bindparam("b_data"),
        certificate=bindparam("b_certificate"),
        shared=bindparam("b_shared"),
    )
    return statement.on_conflict_do_update(
        index_elements=[T.c.pass_id],
        set_={
            "update_tag": statement.excluded.update_tag,
            "modified_at": statement.excluded.modified_at,
            "data": statement.excluded.data,
            "certificate": statement.excluded.certificate,
            "shared": statement.excluded.shared,
            "created_at": statement.excluded.created_at,
        },
        where=and_(
            T.c.update_tag <= statement.excluded.update_tag,
            T.c.modified_at <= statement.excluded.modified_at,
        ),
    )


def _part_statement(dialect: str) -> Any:
    """Insert of a shared part; one already stored (same digest, so the same
    bytes) is left as it is."""
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(PART)
    return insert.values(
        digest=bindparam("b_digest"), data=bindparam("b_data")
    ).on_conflict_do_nothing(index_elements=[PART.c.digest])


def _row(
    pass_: Pass, data: bytes, certificate: str, shared: str = ""
) -> dict[str, Any]:
    return {
        "b_pass": pass_.id,
        "b_tag": pass_.update_tag,
        "b_modified": pass_.updated_at,
        "b_data": data,
        "b_certificate": certificate,
        "b_shared": shared,
    }


def cached(pass_: Pass) -> bytes | None:
    """The cached bytes of the pass at its current tag and certificate, if any."""
    row = db.session.execute(
        select(T.c.data, T.c.shared).where(
            T.c.pass_id == pass_.id,
            T.c.update_tag == pass_.update_tag,
            T.c.modified_at == pass_.updated_at,
            T.c.certificate == pass_service.signer(pass_.program).fingerprint,
        )
    ).first()
    return None if row is None else _whole(row[0], row[1])


# digest -> a shared part's bytes: content-addressed (a part never changes
# under its digest), so a process keeps the few designs it serves; a changed
# design is a new digest, read once.
_parts: dict[str, bytes] = {}
_PARTS_KEPT = 32
_PART = select(PART.c.data).where(PART.c.digest == bindparam("b_digest"))


def _whole(data: bytes, shared: str) -> bytes | None:
    """The archive of a cache row: its shared part (by digest) and its own
    bytes; None if that part is not stored (then it counts as a miss)."""
    if not shared:
        return data  # the whole archive
    part = _parts.get(shared)
    if part is None:
        rows = read_rows(_PART, {"b_digest": shared})
        if not rows:
            return None
        if len(_parts) >= _PARTS_KEPT:
            _parts.pop(next(iter(_parts)))
        part = _parts[shared] = rows[0][0]
    return part + data


def pkpass(pass_: Pass) -> bytes:
    """The signed pass at its current tag: cached, or signed now and stored.

    The store is a transaction of its own (the web service's GETs never commit):
    at once on PostgreSQL; on SQLite after the answer (write_aside), as a reading
    request there cannot upgrade its lock without risking "database is locked".
    """
    data = cached(pass_)
    if data is not None:
        return data
    data = pass_service.build_pkpass(pass_)
    row = _row(pass_, data, pass_service.signer(pass_.program).fingerprint)
    if db.session.get_bind().dialect.name == "sqlite":
        write_aside(_store_statement("sqlite"), row)
        return data
    try:
        store([row])
    except SQLAlchemyError as error:  # only a cache: never fail the answer
        log.warning("could not cache pass %d: %s", pass_.id, type(error).__name__)
    return data


class Download(NamedTuple):
    """What GET latest pass needs: the pass's Last-Modified, and its signed bytes
    when cached at its current tag (else None: sign with `pkpass`)."""

    pass_id: int
    modified: datetime
    data: bytes | None


# Built once: a statement made per request costs more to construct and key for
# SQLAlchemy's compiled cache (~0.2 ms) than PostgreSQL takes to run it.
_DOWNLOAD = (
    select(
        Pass.id,
        Pass.authentication_token,
        Pass.updated_at,
        T.c.data,
        T.c.certificate,
        Program.pass_cert_file,
        Program.pass_key_file,
        Program.wwdr_cert_file,
        T.c.shared,
    )
    .join(Program, Pass.program_id == Program.id)
    .outerjoin(
        T,
        and_(
            T.c.pass_id == Pass.id,
            T.c.update_tag == Pass.update_tag,
            T.c.modified_at == Pass.updated_at,
        ),
    )
    .where(
        Program.pass_type_identifier == bindparam("b_type"),
        Pass.serial_number == bindparam("b_serial"),
    )
)


def download(pass_type: str, serial: str, token: str) -> Download | None:
    """The pass the token opens, with its cached bytes, in one statement (the
    herd's downloads: the pass by its serial's index, the cache row by its
    primary key); None when the serial is unknown or the token wrong."""
    rows = read_rows(_DOWNLOAD, {"b_type": pass_type, "b_serial": serial})
    row = rows[0] if rows else None
    # Compared even when the serial is unknown, so both take the same time.
    expected = row[1] if row is not None else _DUMMY_TOKEN
    if not hmac.compare_digest(expected.encode(), token.encode()) or row is None:
        return None
    data = row[3]
    if data is not None and row[4] != _fingerprint(row[5], row[6], row[7]):
        data = None  # signed with a replaced certificate: sign again
    if data is not None:
        data = _whole(data, row[8])
    return Download(row[0], row[2], data)


# (resolved signing files) -> (checked until, fingerprint): the herd's downloads
# would otherwise stat the three files per request. A file replaced in place is
# seen within _PRINT_SECONDS (a new path in the settings at once).
_prints: dict[tuple[str, str, str], tuple[float, str]] = {}
_PRINT_SECONDS = 2.0


def _fingerprint(cert_file: str | None, key_file: str | None, wwdr: str | None) -> str:
    files = pass_service.signer_files(cert_file, key_file, wwdr)
    now = time.monotonic()
    known = _prints.get(files)
    if known is not None and known[0] > now:
        return known[1]
    try:
        fingerprint = pass_service.signer_of(cert_file, key_file, wwdr).fingerprint
    except PassSigningError:
        return ""  # nothing to serve cached; signing says what is wrong
    _prints[files] = (now + _PRINT_SECONDS, fingerprint)
    return fingerprint


def sign_missed(found: Download) -> tuple[bytes, datetime]:
    """The bytes and Last-Modified of a download the cache missed: signed now
    (and stored, see `pkpass`)."""
    pass_ = db.session.get_one(Pass, found.pass_id)
    return pkpass(pass_), pass_.updated_at


def _uncached(pass_ids: list[int]) -> list[tuple[Pass, str]]:
    """The passes not cached at their tag with their program's certificate, each
    with that certificate's fingerprint (passes whose signer cannot be loaded are
    left to a miss, which reports the error)."""
    rows = db.session.execute(
        select(Pass, T.c.certificate)
        .outerjoin(
            T,
            and_(
                T.c.pass_id == Pass.id,
                T.c.update_tag == Pass.update_tag,
                T.c.modified_at == Pass.updated_at,
            ),
        )
        .where(Pass.id.in_(pass_ids), ~Pass.voided)
        .options(selectinload(Pass.program), selectinload(Pass.member))
    ).all()
    prints: dict[int, str] = {}
    out = []
    for pass_, stored in rows:
        if pass_.program_id not in prints:
            try:
                prints[pass_.program_id] = pass_service.signer(
                    pass_.program
                ).fingerprint
            except PassSigningError as error:
                log.warning(
                    "cannot sign program %d's passes: %s", pass_.program_id, error
                )
                prints[pass_.program_id] = ""
        current = prints[pass_.program_id]
        if current and stored != current:
            out.append((pass_, current))
    return out


def sign_ahead(pass_ids: Iterable[int]) -> int:
    """Sign the passes not cached at their current tag and store them; how many
    were signed. Needs an app context; commits in its own short transaction
    (signing happens outside it, so SQLite's write lock is held only to write)."""
    wanted = sorted(set(pass_ids))
    rows: list[dict[str, Any]] = []
    parts: dict[str, bytes] = {}
    for start in range(0, len(wanted), 500):
        group = _uncached(wanted[start : start + 500])
        built = pass_service.build_pkpasses([pass_ for pass_, _ in group])
        for pass_, certificate in group:
            data = built[pass_.id]
            if isinstance(data, Exception):
                # A miss later signs it (or shows the error).
                log.warning("could not sign pass %d ahead: %r", pass_.id, data)
                continue
            # The design's images once (by digest), each pass's own part.
            shared, own = data
            digest = shared_digest(shared) if shared else ""
            if digest:
                parts[digest] = shared
            rows.append(_row(pass_, own, certificate, digest))
    db.session.rollback()
    if rows:
        store(rows, parts)
    return len(rows)


def store(rows: list[dict[str, Any]], parts: dict[str, bytes] | None = None) -> None:
    """Upsert cache rows, with the shared parts they name (in one transaction,
    parts first: a row never names a part that is not stored)."""
    engine = db.engine
    with engine.execution_options(sqlite_begin="immediate").begin() as conn:
        if parts:
            conn.execute(
                _part_statement(conn.dialect.name),
                [{"b_digest": k, "b_data": v} for k, v in parts.items()],
            )
        _store(conn, rows)


def _store(conn: Connection, rows: list[dict[str, Any]]) -> None:
    conn.execute(_store_statement(conn.dialect.name), rows)


def signer_for(app: Flask) -> Any:
    """A callable for the push worker: sign these passes ahead, in `app`."""

    def sign(pass_ids: list[int]) -> int:
        with app.app_context():
            try:
                return sign_ahead(pass_ids)
            finally:
                db.session.remove()

    return sign
