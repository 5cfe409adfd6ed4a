"""A purchase's writes, in as few round trips as the database allows.

`write_purchase` is the one entry: on PostgreSQL one data-modifying `WITH`
statement (purchase row, ledger entries, balance and tier, audit entry, and the
pass's tag and hash when it shows something new); elsewhere (SQLite) the same
writes one statement after another. The two must leave the same rows behind:
tests/app/test_pos_pass_refresh.py and the POS API tests run on both databases
and pin them to `refresh_pass` and the ledger.

The purchase path runs prepared Core statements instead of ORM queries and
flushes: it is the busiest write of the service, and the ORM's per-object work
cost more CPU than the database did (docs/performance.md, "POS").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Boolean,
    Integer,
    String,
    bindparam,
    cast,
    insert,
    literal,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.engine import Connection, Row

from app.models import (
    AuditEntry,
    LedgerEntry,
    Member,
    PassChange,
    PosTransaction,
)
from app.models.base import utcnow
from app.services import audit, ledger, outbox
from app.services import passes as pass_service
from app.services.auth import Principal

# A ledger movement: (kind, points, idempotency key).
Movement = tuple[str, int, str | None]


@dataclass(frozen=True)
class Written:
    """What `write_purchase` did: the purchase's id and the member's new
    balance (None when nothing moved it)."""

    transaction_id: int
    balance: int | None


_INSERT_PURCHASE = insert(PosTransaction).returning(PosTransaction.id)


def write_purchase(
    connection: Connection,
    api_key: Principal,
    card: Row[Any],
    row: dict[str, Any],
    movements: list[Movement],
    tier: str,
    details: dict[str, Any],
    digest: str | None,
) -> Written:
    """Insert the purchase `row`, post `movements` and set `tier` on the card's
    member (locked by the caller), audit it (`details`), and when `digest` is
    given give the card's pass that content hash with the program's next tag and
    queue its pushes. IntegrityError when the (store, key) pair is taken."""
    write = (
        _write_at_once if connection.dialect.name == "postgresql" else _write_in_steps
    )
    transaction_id, moved = write(
        connection, api_key, card, row, movements, tier, details, digest
    )
    return Written(transaction_id, moved)


def _write_in_steps(
    connection: Connection,
    api_key: Principal,
    card: Row[Any],
    row: dict[str, Any],
    movements: list[Movement],
    tier: str,
    details: dict[str, Any],
    digest: str | None,
) -> tuple[int, int | None]:
    """The purchase's writes one statement after another (any database):
    (purchase id, new balance or None if it did not move)."""
    transaction_id = connection.execute(_INSERT_PURCHASE, row).scalar_one()
    moved = ledger.post_now(
        row["program_id"],
        card.id,
        movements,
        tier=tier if tier != card.tier else None,
        store_id=row["store_id"],
        receipt_id=row["receipt_id"],
        api_key_id=api_key.id,
        transaction_id=transaction_id,
        amount_kopecks=row["amount_kopecks"],
        created_at=row["created_at"],
    )
    audit.record_now(
        "pos.purchase",
        target=f"pos_transaction:{transaction_id}",
        key=api_key,
        details=details,
    )
    if digest is not None:
        # Last: it takes the program's update-tag row lock, held until commit.
        pass_service.refresh_pass_row(
            program_id=row["program_id"],
            pass_id=card.pass_id,
            member_id=card.id,
            content_hash=card.content_hash,
            updated_at=card.updated_at,
            digest=digest,
        )
    return transaction_id, moved


def _write_at_once(
    connection: Connection,
    api_key: Principal,
    card: Row[Any],
    row: dict[str, Any],
    movements: list[Movement],
    tier: str,
    details: dict[str, Any],
    digest: str | None,
) -> tuple[int, int | None]:
    """`_write_in_steps` in one PostgreSQL statement (a data-modifying WITH):
    one round trip instead of up to seven (more when the pass has devices or a
    Google object to push to). The pass's change is a `pass_change` row, which
    the database applies at COMMIT (tag, pass, pushes): the program's tag row
    is held only for the commit itself. (purchase id, new balance)"""
    params: dict[str, Any] = {f"p_{name}": value for name, value in row.items()}
    for i in range(2):
        kind, points, key = movements[i] if i < len(movements) else ("earn", 0, None)
        params.update({f"e{i}_kind": kind, f"e{i}_points": points, f"e{i}_key": key})
    params.update(
        delta=sum(points for _, points, _ in movements),
        new_tier=tier,
        actor=api_key.prefix,
        role=api_key.role,
        details=details,
    )
    if digest is not None:
        params.update(
            pass_id=card.pass_id,
            digest=digest,
            modified=pass_service.next_modified(card.updated_at),
            google=outbox.google_enabled(),
            queued_at=utcnow(),
        )
    statement = _purchase_statement(digest is not None)
    result = connection.execute(statement, params).one()
    transaction_id, moved = result.id, result.points
    return transaction_id, moved


_purchase_statements: dict[bool, Any] = {}


def _purchase_statement(refresh: bool) -> Any:
    """The one-statement purchase (built once per variant). Lock order as in the
    step-by-step path, enforced by data dependencies since the parts of a WITH run
    in no fixed order: the purchase row (a same-key race waits here, before any
    other lock) -> the program's tag row -> the pass row; the caller queues the
    pushes next (outbox rows after the tag, as refresh_pass does)."""
    cached = _purchase_statements.get(refresh)
    if cached is not None:
        return cached
    table = PosTransaction.__table__
    p = {c.key: bindparam(f"p_{c.key}", type_=c.type) for c in table.c}
    purchase = (
        insert(PosTransaction)
        .values({name: p[name] for name in _PURCHASE_COLUMNS})
        .returning(PosTransaction.id)
        .cte("purchase")
    )
    moves = union_all(
        *[
            select(
                bindparam(f"e{i}_kind", type_=String).label("kind"),
                bindparam(f"e{i}_points", type_=Integer).label("points"),
                bindparam(f"e{i}_key", type_=String).label("idempotency_key"),
            )
            for i in range(2)
        ]
    ).subquery("moves")
    entries = (
        insert(LedgerEntry)
        .from_select(
            [
                "program_id",
                "member_id",
                "kind",
                "points",
                "idempotency_key",
                "store_id",
                "receipt_id",
                "api_key_id",
                "transaction_id",
                "amount_kopecks",
                "note",
                "created_at",
            ],
            select(
                p["program_id"],
                p["member_id"],
                moves.c.kind,
                moves.c.points,
                moves.c.idempotency_key,
                p["store_id"],
                p["receipt_id"],
                p["api_key_id"],
                purchase.c.id,
                p["amount_kopecks"],
                literal(""),
                p["created_at"],
            )
            .select_from(purchase.join(moves, true()))
            .where(moves.c.points != 0),
        )
        .cte("entries")
    )
    # The ledger's atomic balance move (services.ledger), with the tier.
    balance = (
        update(Member)
        .where(Member.id == p["member_id"])
        .values(
            points=Member.points + bindparam("delta", type_=Integer),
            tier=bindparam("new_tier", type_=String),
        )
        .returning(Member.points)
        .cte("balance")
    )
    audit_entry = (
        insert(AuditEntry)
        .from_select(
            [
                "program_id",
                "actor",
                "role",
                "action",
                "target",
                "details",
                "created_at",
            ],
            select(
                p["program_id"],
                bindparam("actor", type_=String),
                bindparam("role", type_=String),
                literal("pos.purchase"),
                literal("pos_transaction:") + cast(purchase.c.id, String),
                bindparam("details", type_=AuditEntry.__table__.c.details.type),
                p["created_at"],
            ).select_from(purchase),
        )
        .cte("audit_entry")
    )
    parts = [entries, audit_entry]
    if refresh:
        # Applied at COMMIT by the database (PassChange): no lock taken here.
        at = PassChange.__table__.c.updated_at.type
        change = (
            insert(PassChange)
            .from_select(
                [
                    "pass_id",
                    "program_id",
                    "content_hash",
                    "updated_at",
                    "google",
                    "queued_at",
                ],
                select(
                    bindparam("pass_id", type_=Integer),
                    p["program_id"],
                    bindparam("digest", type_=String),
                    bindparam("modified", type_=at),
                    bindparam("google", type_=Boolean),
                    bindparam("queued_at", type_=at),
                ).select_from(purchase),
            )
            .cte("change")
        )
        parts.append(change)
    statement = (
        select(
            purchase.c.id,
            balance.c.points,
        )
        .select_from(purchase.join(balance, true()))
        .add_cte(*parts)
    )
    _purchase_statements[refresh] = statement
    return statement


_PURCHASE_COLUMNS = (
    "program_id",
    "member_id",
    "store_id",
    "channel",
    "api_key_id",
    "idempotency_key",
    "fingerprint",
    "receipt_id",
    "currency",
    "amount_kopecks",
    "redeemed",
    "earned",
    "stamps",
    "response",
    "created_at",
)
