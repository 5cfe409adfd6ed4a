"""Filling in the content hashes that set-based tag moves leave unknown.

`passes.move_changed_passes` (campaigns and the other `deliver_many` senders)
moves the tags of passes whose offer it just changed without building them, and
stores UNKNOWN_HASH. That is always safe (`refresh_pass` never computes it, so a
later refresh moves the tag), but a later re-check of every pass (a store or
settings change) would then push all of them again for nothing. This worker job
computes the missing hashes in bounded batches and stores each with a
compare-and-set, so those re-checks find them unchanged.

Why storing the hash of the content read NOW is right: the stored hash must be
the hash of what the pass showed when its tag last moved (what the devices were
told to fetch). Member-level content (points, tier, offer, name, ...) never
changes without its pass's tag moving in the same transaction (refresh_pass,
refresh_passes, move_changed_passes), so if the tag is still the one read in the
same statement as the member, no member change came after it. Program-level
content (design, texts, tiers, stores) changes first and moves the tags later, in
`PassRefresh` batches; but the change and its queued PassRefresh commit
together. So the job takes no pass of a program with a queued refresh, and the
compare-and-set checks that again after the content was read: a program change
seen by the read is then either refreshed already (every pass it touched has a
real hash, or a newer tag) or still queued (no fill). A change committed after
the read is not in the stored hash, so its refresh still sees a difference.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import ColumnElement, Exists, bindparam, exists, select, update
from sqlalchemy.orm import QueryableAttribute, contains_eager

from app import database
from app.extensions import db
from app.models import Member, Pass, PassRefresh
from app.services import purchases
from app.services.passes import UNKNOWN_HASH, content_hashes
from app.services.scheduler import scheduled

# Small: a sender or refresh touching a pass of the batch waits for it.
BATCH = 200
# Batches one job run fills before yielding to the other jobs.
BATCHES_PER_RUN = 50


def _refresh_queued(
    program_id: ColumnElement[int] | QueryableAttribute[int],
) -> Exists:
    return exists().where(
        PassRefresh.program_id == program_id, PassRefresh.status == "queued"
    )


class HashRead(NamedTuple):
    """A pass, the tag read with its content, and the hash of that content."""

    pass_id: int
    tag: int
    digest: str


def read_batch(limit: int = BATCH, after: int = 0) -> list[HashRead]:
    """(pass id, tag read, hash of the content read) for up to `limit` passes
    with an unknown hash and an id above `after`, of programs with no queued
    refresh."""
    # Pass and member in one statement: the tag read is as new as the content.
    # No lock: the hashing below is CPU work in a worker that yields its CPU to
    # the tills (WORKER_NICE), and pass rows held meanwhile made purchases of
    # those members wait for it; `store_hashes` locks in a short transaction.
    batch = list(
        db.session.scalars(
            select(Pass)
            .join(Member, Member.id == Pass.member_id)
            .options(contains_eager(Pass.member))
            .where(
                Pass.content_hash == UNKNOWN_HASH,
                Pass.id > after,
                ~_refresh_queued(Pass.program_id),
            )
            .order_by(Pass.id)
            .limit(limit)
            .execution_options(populate_existing=True)
        )
    )
    return [
        HashRead(pass_.id, pass_.update_tag, digest)
        for pass_, digest in zip(batch, content_hashes(batch), strict=True)
    ]


def store_hashes(read: list[HashRead]) -> None:
    """Store the hashes `read_batch` computed, each only if its pass still has an
    unknown hash and the tag that was read, and its program no queued refresh
    (compare-and-set: otherwise a later batch reads it again)."""
    if not read:
        return
    table = Pass.__table__
    # Only the rows nobody else holds, locked at once: the CAS then never waits
    # for (or deadlocks with) a sender or a refresh; a row skipped is read again
    # by a later batch (PostgreSQL; SQLite has one writer anyway).
    free = set(
        db.session.scalars(
            select(table.c.id)
            .where(table.c.id.in_([pass_id for pass_id, _, _ in read]))
            .with_for_update(skip_locked=True)
        )
    )
    read = [row for row in read if row.pass_id in free]
    if not read:
        return
    cas = (
        update(table)
        .where(
            table.c.id == bindparam("b_id"),
            table.c.content_hash == UNKNOWN_HASH,
            table.c.update_tag == bindparam("b_tag"),
            ~_refresh_queued(table.c.program_id),
        )
        .values(content_hash=bindparam("b_digest"))
    )
    db.session.execute(
        cas,
        [
            {"b_id": pass_id, "b_tag": tag, "b_digest": digest}
            for pass_id, tag, digest in read
        ],
    )
    # Pass objects this session holds must not keep the old hash.
    filled = {pass_id for pass_id, _, _ in read}
    for held in list(db.session.identity_map.values()):
        if isinstance(held, Pass) and held.id in filled:
            db.session.expire(held, ["content_hash"])


def fill_batch(limit: int = BATCH) -> int:
    """Hash up to `limit` passes with an unknown hash; how many were examined
    (fewer than `limit`: none left). Only adds/flushes; the caller commits."""
    read = read_batch(limit)
    store_hashes(read)
    return len(read)


def fill(max_batches: int | None = BATCHES_PER_RUN) -> int:
    """Fill unknown hashes, one transaction per batch, until none is left or
    after `max_batches`; how many passes were examined."""
    examined, after, batches = 0, 0, 0
    while max_batches is None or batches < max_batches:
        # Read and hash in a reading transaction, then the compare-and-set in a
        # short writing one: on SQLite the write lock, on PostgreSQL the pass
        # rows, are held only for the CAS, not while 200 passes are built.
        read = read_batch(BATCH, after)
        db.session.commit()
        database.begin_write()
        store_hashes(read)
        db.session.commit()
        examined, batches = examined + len(read), batches + 1
        if len(read) < BATCH:
            break
        # Keyset over the batches: with statistics taken while most hashes
        # were unknown, SQLite's planner walks `pass` in id order rather than
        # the partial index, so without it each batch would re-read every pass
        # filled before it (quadratic). A pass skipped here (locked, CAS lost)
        # is read again by the next run.
        after = read[-1].pass_id
    return examined


@scheduled("pass_hashes")
def pass_hashes_job(now: datetime) -> None:
    """Fill unknown hashes, at most BATCHES_PER_RUN batches per run; none while
    the tills are busy (building passes is CPU they need, and the CAS holds
    pass rows their purchases update; a hash still unknown costs at most an
    extra push)."""
    if purchases.tills_busy():
        return
    fill(BATCHES_PER_RUN)
