"""The points ledger: the only way points move.

Every movement is an append-only `LedgerEntry`; `Member.points` is a cache of the
entries' sum, changed by the same transaction with an atomic
`UPDATE member SET points = points + :delta`, so the two can never disagree, and a
concurrent writer can neither lose nor double an update. Callers that must check
the balance first (redemption) lock the member row with `lock_member`.
"""

from __future__ import annotations

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.orm.attributes import set_committed_value

from app.extensions import db
from app.models import LedgerEntry, Member, Pass
from app.models.ledger import KINDS
from app.services.passes import pass_for_member, refresh_pass


def lock_member(member_id: int) -> Member:
    """The member, row-locked until commit (`SELECT ... FOR NO KEY UPDATE`, as
    the purchase's card lock: rows that only refer to the member do not block
    it; SQLite serialises writers anyway). Re-reads the row: the balance is
    current."""
    return db.session.execute(
        select(Member)
        .where(Member.id == member_id)
        .with_for_update(of=Member, key_share=True)
        .execution_options(populate_existing=True)
    ).scalar_one()


def post(
    member: Member,
    kind: str,
    points: int,
    *,
    idempotency_key: str | None = None,
    **fields: object,
) -> LedgerEntry:
    """Append an entry and move the cached balance with it. Caller commits.

    `idempotency_key` is unique in the ledger: posting the same movement twice
    raises IntegrityError instead of counting it twice.
    """
    return post_many(member, [(kind, points, idempotency_key)], **fields)[0]


def post_many(
    member: Member, movements: list[tuple[str, int, str | None]], **fields: object
) -> list[LedgerEntry]:
    """Append several entries (kind, points, idempotency key) sharing `fields`,
    then move the balance once by their total."""
    entries = []
    for kind, points, idempotency_key in movements:
        if kind not in KINDS:
            raise ValueError(f"unknown ledger kind {kind!r}")
        entries.append(
            LedgerEntry(
                program_id=member.program_id,
                member_id=member.id,
                kind=kind,
                points=points,
                idempotency_key=idempotency_key,
                **fields,
            )
        )
    db.session.add_all(entries)
    db.session.flush()
    delta = sum(points for _, points, _ in movements)
    if delta:
        points = db.session.execute(
            update(Member)
            .where(Member.id == member.id)
            .values(points=Member.points + delta)
            .returning(Member.points)
            .execution_options(synchronize_session=False)
        ).scalar_one()
        # The row already holds it: record it as loaded, not as a change to write.
        set_committed_value(member, "points", points)
    return entries


_INSERT_ENTRIES = insert(LedgerEntry)
_MOVE = (
    update(Member)
    .where(Member.id == bindparam("member_id"))
    .values(points=Member.points + bindparam("delta"))
    .returning(Member.points)
)
_MOVE_AND_SET_TIER = _MOVE.values(tier=bindparam("new_tier"))


def post_now(
    program_id: int,
    member_id: int,
    movements: list[tuple[str, int, str | None]],
    *,
    tier: str | None = None,
    **fields: object,
) -> int | None:
    """`post_many` in two Core statements without ORM objects (the POS path):
    the entries in one INSERT, then the balance moved by their total in the same
    atomic UPDATE, which also sets `tier` when given. Returns the new balance
    (None when nothing moved and no tier was given). Caller commits."""
    connection = db.session.connection()
    delta = 0
    rows = []
    for kind, points, idempotency_key in movements:
        if kind not in KINDS:
            raise ValueError(f"unknown ledger kind {kind!r}")
        delta += points
        rows.append(
            {
                "program_id": program_id,
                "member_id": member_id,
                "kind": kind,
                "points": points,
                "idempotency_key": idempotency_key,
                "note": "",
                **fields,
            }
        )
    if rows:
        connection.execute(_INSERT_ENTRIES, rows)
    if not delta and tier is None:
        return None
    params: dict[str, object] = {"member_id": member_id, "delta": delta}
    if tier is not None:
        params["new_tier"] = tier
    return connection.execute(
        _MOVE_AND_SET_TIER if tier is not None else _MOVE, params
    ).scalar_one()


def forfeit(member_id: int, note: str) -> Member:
    """Close the member's balance: lock the row and post one `forfeit` entry that
    brings it to 0 (a debt from a refund is written off the same way). Caller
    commits; call it before changing the member object (the lock re-reads it)."""
    member = lock_member(member_id)
    if member.points:
        post(
            member,
            "forfeit",
            -member.points,
            idempotency_key=f"forfeit:{member.id}",
            note=note,
        )
    return member


def balance_from_ledger(member_id: int) -> int:
    """The sum of the member's entries (what `Member.points` must equal)."""
    total = db.session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.points), 0)).where(
            LedgerEntry.member_id == member_id
        )
    )
    return int(total or 0)


def refresh_member_pass(member: Member, pass_: Pass | None = None) -> None:
    """Rebuild the member's pass after a balance or tier change (same transaction;
    this is where pushes get queued). Call it last: it takes the program's
    update-tag row lock, which is held until commit. `pass_`: if already loaded."""
    if pass_ is None:
        pass_ = pass_for_member(member)
    if pass_ is not None:
        # One UPDATE of the pass at commit instead of a flush per attribute.
        with db.session.no_autoflush:
            refresh_pass(pass_)
