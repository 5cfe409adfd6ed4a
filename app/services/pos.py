"""Point of sale: scan a card, record a purchase (earn/redeem), refund it.

Rules (documented for cashiers and the program owner):
- Money is handled as integer kopecks (parsed with Decimal, never float).
- Points pay `point_value` roubles each, at most `max_redeem_share` of a receipt and
  never more than the balance. Redeeming needs the scanned barcode (its MAC proves
  the card is present), not a typed number.
- Earned points = paid roubles * tier earn_percent / 100 / point_value, where
  paid = amount - redeemed points' value, rounded to whole points as the
  program's `points_rounding` rule says: down (the default), nearest (halves
  up) or up. The purchase stores what it earned, so a refund withdraws exactly
  that whatever the rule is by then.
- Earning uses the tier held before the purchase; the purchase then counts toward
  the rolling 12-month spend (receipt amounts of purchases not refunded), and the
  member moves up to the highest tier whose `min_spend` (roubles) it reaches.
  Tiers never move down automatically here.
- A refund is made in the store of the purchase. It reverses the purchase's earned
  and redeemed points exactly once; asking again answers 200 with the same body.
  The balance may go below zero when the earned points were already spent (the
  ledger keeps the debt visible).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from sqlalchemy import (
    Integer,
    String,
    and_,
    bindparam,
    cast,
    exists,
    func,
    insert,
    literal,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.engine import Connection, Row
from sqlalchemy.exc import IntegrityError

import passes
from app.errors import ApiError
from app.extensions import db
from app.ids import MAX_ID
from app.models import (
    AuditEntry,
    GoogleObject,
    LedgerEntry,
    Member,
    Pass,
    PosTransaction,
    Program,
    Registration,
)
from app.models.base import utcnow
from app.services import audit, catalog, ledger, outbox
from app.services import passes as pass_service
from app.services.auth import Principal
from app.services.masking import mask_phone
from app.services.passes import barcode_secret

CURRENCIES = ("RUB",)
MAX_AMOUNT_KOPECKS = 100_000_000 * 100  # a hundred million roubles per receipt
SPEND_WINDOW = timedelta(days=365)
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{8,100}$")


# -- cards ------------------------------------------------------------------


def card_number(code: str) -> tuple[str | None, bool]:
    """(card number, genuine) from a barcode payload or a typed number.

    `genuine` is True only for a barcode whose MAC checks out.
    """
    number = passes.parse_barcode_payload(code, barcode_secret())
    if number is not None:
        return number, True
    return passes.normalize_card_number(code), False


def _check_card(member: Member | None, program_id: int) -> Member:
    if member is None:
        raise ApiError(404, "unknown_card", "No card with this code. Scan again.")
    if member.program_id != program_id:
        raise ApiError(
            403, "other_program", "This card belongs to another loyalty program."
        )
    return member


def resolve_code(program_id: int, code: str) -> tuple[Member, bool]:
    """(member, genuine) for a barcode payload or a typed card number; 404 if
    none, 403 if the card is another program's (card numbers are unique overall)."""
    number, genuine = card_number(code)
    member = None
    if number is not None:
        member = db.session.scalar(select(Member).where(Member.card_number == number))
    return _check_card(member, program_id), genuine


def tier_view(program: Program, code: str) -> dict[str, Any]:
    return {"code": code, "name": program.tier_names(code)}


def member_summary(member: Member, genuine: bool) -> dict[str, Any]:
    """What the till shows after a scan."""
    program = member.program
    return {
        "member_id": member.id,
        "name": member.name,
        "phone": mask_phone(member.phone),
        "card_number": member.card_number,
        "balance": member.points,
        "tier": tier_view(program, member.tier),
        "earn_percent": _earn_percent(program, member.tier),
        "offers": [member.offer] if member.offer else [],
        # What the member is waiting for (the cashier can check the shelf).
        "back_in_stock": [
            {
                "subscription_id": sub.id,
                "sku": sub.product.sku,
                "name": sub.product.name,
                "size": sub.size,
                "store": sub.store.name if sub.store else None,
            }
            for sub in catalog.waiting(member)
        ],
        # Redemption needs the barcode; a typed number can only earn.
        "can_redeem": genuine,
        "language": member.language,
    }


# -- purchases --------------------------------------------------------------


@dataclass(frozen=True)
class Purchase:
    """A validated purchase request."""

    code: str
    amount_kopecks: int
    receipt_id: str
    redeem_points: int
    currency: str

    def fingerprint(self) -> str:
        canonical = json.dumps(
            [
                self.code,
                self.amount_kopecks,
                self.receipt_id,
                self.redeem_points,
                self.currency,
            ]
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


def _bad(code: str, message: str) -> ApiError:
    return ApiError(422, code, message)


def parse_amount(value: object) -> int:
    """Roubles (JSON number or string, at most 2 decimals) -> kopecks; 422 if bad."""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise _bad("invalid_amount", "amount must be a number of roubles, e.g. 1499.90")
    try:
        amount = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        raise _bad("invalid_amount", "amount must be a number, e.g. 1499.90") from None
    if not amount.is_finite() or amount <= 0:
        raise _bad("invalid_amount", "amount must be greater than zero")
    if amount > Decimal(MAX_AMOUNT_KOPECKS) / 100:  # before "1e999999" * 100 overflows
        raise _bad("invalid_amount", "amount is too large")
    kopecks = amount * 100
    if kopecks != kopecks.to_integral_value() or not kopecks:  # "1e-9999999" -> 0
        raise _bad("invalid_amount", "amount may have at most 2 decimal places")
    return int(kopecks)


def parse_purchase(body: object) -> Purchase:
    """Validate a purchase body; 422 naming the first bad field."""
    if not isinstance(body, dict):
        raise _bad("invalid_body", "The body must be a JSON object.")
    code = body.get("code")
    if not isinstance(code, str) or not code.strip() or len(code) > 100:
        raise _bad(
            "invalid_code", "code (the scanned barcode or card number) is required"
        )
    amount_kopecks = parse_amount(body.get("amount"))
    receipt_id = body.get("receipt_id")
    if isinstance(receipt_id, int) and not isinstance(receipt_id, bool):
        receipt_id = str(receipt_id)
    if not isinstance(receipt_id, str) or not receipt_id.strip():
        raise _bad("invalid_receipt_id", "receipt_id is required")
    if len(receipt_id.strip()) > 64:
        raise _bad("invalid_receipt_id", "receipt_id may have at most 64 characters")
    if not receipt_id.isprintable():
        # Control characters (NUL above all: PostgreSQL refuses it) are never part
        # of a receipt number.
        raise _bad("invalid_receipt_id", "receipt_id has control characters")
    redeem = body.get("redeem_points", 0)
    if redeem is None:
        redeem = 0
    if isinstance(redeem, bool) or not isinstance(redeem, int) or redeem < 0:
        raise _bad("invalid_redeem_points", "redeem_points must be a whole number ≥ 0")
    currency = body.get("currency", "RUB")
    if currency not in CURRENCIES:
        raise _bad("unknown_currency", "Only RUB is accepted.")
    return Purchase(
        code=code.strip(),
        amount_kopecks=amount_kopecks,
        receipt_id=receipt_id.strip(),
        redeem_points=redeem,
        currency=str(currency),
    )


def check_idempotency_key(value: str | None) -> str:
    if not value or not _IDEMPOTENCY_KEY.match(value):
        raise ApiError(
            400,
            "idempotency_key_required",
            "Send an Idempotency-Key header (8-100 printable characters, e.g. a "
            "UUID) and reuse it when retrying.",
        )
    return value


def _earn_percent(program: Program, tier: str) -> Decimal:
    for entry in program.tiers:
        if entry["code"] == tier:
            return Decimal(str(entry.get("earn_percent", 0)))
    return Decimal(0)


def _point_kopecks(program: Program) -> int:
    return int(Decimal(str(program.rule("point_value"))) * 100)


def max_redeem(program: Program, amount_kopecks: int) -> int:
    """Points that may pay for a receipt of this amount (the share cap)."""
    share = Decimal(str(program.rule("max_redeem_share")))
    limit = Decimal(amount_kopecks) * share / _point_kopecks(program)
    return int(limit.to_integral_value(rounding=ROUND_FLOOR))


# The program's `points_rounding` rule -> the Decimal rounding of earned points.
ROUNDING = {"down": ROUND_FLOOR, "nearest": ROUND_HALF_UP, "up": ROUND_CEILING}


def earned_points(program: Program, tier: str, paid_kopecks: int) -> int:
    """paid * earn_percent / 100 / point value, rounded to whole points by the
    program's `points_rounding` rule (down, nearest, up)."""
    raw = Decimal(paid_kopecks) * _earn_percent(program, tier) / 100
    rounding = ROUNDING[program.rule("points_rounding")]
    return int((raw / _point_kopecks(program)).to_integral_value(rounding=rounding))


def tier_for_spend(program: Program, spend_kopecks: int) -> str:
    """The highest tier whose min_spend (roubles) the spend reaches."""
    chosen = program.base_tier
    for entry in program.tiers:  # ascending
        if spend_kopecks >= Decimal(str(entry.get("min_spend", 0))) * 100:
            chosen = entry["code"]
    return chosen


# Members read per statement when re-tiering (ids, tiers and spends only).
RETIER_BATCH = 1000


def retier(
    program: Program, after_id: int, upto_id: int | None, now: datetime
) -> list[int]:
    """Give each of the program's members with after_id < id <= upto_id (None:
    no upper bound) the tier their rolling 12-month spend reaches
    (`tier_for_spend`, the purchase's rule), up or down: after a tiers change.

    Set-based: per RETIER_BATCH members one SELECT of (id, tier, spend) rows and
    one UPDATE per (old, new) tier pair; no ORM objects. The UPDATE only moves a
    member still holding the tier read, so a purchase that changed it meanwhile
    (under its row lock) wins. Returns the ids of the members moved; the caller
    refreshes their passes in the same transaction and commits."""
    connection = db.session.connection()
    moved: list[int] = []
    lower = after_id
    while True:
        query = (
            select(Member.id, Member.tier, rolling_spend(Member.id).label("spend"))
            .where(
                Member.program_id == program.id,
                Member.id > lower,
                Member.erased_at.is_(None),
            )
            .order_by(Member.id)
            .limit(RETIER_BATCH)
        )
        if upto_id is not None:
            query = query.where(Member.id <= upto_id)
        rows = connection.execute(query, {"since": now - SPEND_WINDOW}).all()
        changes: dict[tuple[str, str], list[int]] = {}
        for member_id, tier, spend in rows:
            reached = tier_for_spend(program, spend)
            if reached != tier:
                changes.setdefault((tier, reached), []).append(member_id)
        for (old, new), ids in changes.items():
            result = connection.execute(
                update(Member)
                .where(Member.id.in_(ids), Member.tier == old)
                .values(tier=new)
                .returning(Member.id)
            )
            moved.extend(result.scalars())
        if len(rows) < RETIER_BATCH:
            return moved
        lower = rows[-1].id


def _tier_rank(program: Program, code: str) -> int:
    codes = [entry["code"] for entry in program.tiers]
    return codes.index(code) if code in codes else -1


def _replay(
    fingerprint: str, body: dict[str, Any], purchase: Purchase
) -> dict[str, Any]:
    if fingerprint != purchase.fingerprint():
        raise ApiError(
            422,
            "idempotency_key_reused",
            "This Idempotency-Key was already used for a different purchase. "
            "Check the recent transactions before trying again.",
        )
    return body


def _find(store_id: int, key: str) -> PosTransaction | None:
    return db.session.scalar(
        select(PosTransaction).where(
            PosTransaction.store_id == store_id,
            PosTransaction.idempotency_key == key,
        )
    )


def transaction_body(transaction: PosTransaction) -> dict[str, Any]:
    return {"transaction_id": transaction.id, **transaction.response}


# The purchase path runs a few prepared Core statements instead of ORM queries and
# flushes: it is the busiest write of the service, and the ORM's per-object work
# cost more CPU than the database did (docs/performance.md, "POS").

# The card's member row, locked until commit, with what its pass shows.
_LOCK_CARD = (
    select(
        Member.id,
        Member.program_id,
        Member.points,
        Member.tier,
        Member.card_number,
        Member.card_token,
        Member.name,
        Member.language,
        Member.offer,
        Member.city,
        Member.preferred_store_id,
        Pass.id.label("pass_id"),
        Pass.serial_number,
        Pass.authentication_token,
        Pass.voided,
        Pass.content_hash,
        Pass.updated_at,
    )
    .outerjoin(Pass, Pass.member_id == Member.id)
    .where(Member.card_number == bindparam("number"))
    .with_for_update(of=Member)
)

# Under that lock: an earlier purchase with this Idempotency-Key (its first
# attempt may have committed while we waited) and the member's rolling spend.
_ONE_ROW = select(literal(1).label("one")).subquery()


def rolling_spend(member_id: Any) -> Any:
    """The spend tiers are reached by (kopecks): receipt amounts of the member's
    purchases since the `since` parameter (now - SPEND_WINDOW), not refunded."""
    return (
        select(func.coalesce(func.sum(PosTransaction.amount_kopecks), 0))
        .where(
            PosTransaction.member_id == member_id,
            PosTransaction.created_at >= bindparam("since"),
            PosTransaction.refunded_at.is_(None),
        )
        .scalar_subquery()
    )


_PRIOR_AND_SPEND = select(
    PosTransaction.id,
    PosTransaction.fingerprint,
    PosTransaction.response,
    rolling_spend(bindparam("member_id")).label("spend"),
).select_from(
    _ONE_ROW.outerjoin(
        PosTransaction,
        and_(
            PosTransaction.store_id == bindparam("store_id"),
            PosTransaction.idempotency_key == bindparam("key"),
        ),
    )
)
_INSERT_PURCHASE = insert(PosTransaction).returning(PosTransaction.id)


def record_purchase(
    api_key: Principal, idempotency_key: str, purchase: Purchase
) -> tuple[dict[str, Any], bool]:
    """Record a purchase once per key: (201 body, replayed). Caller commits.

    The member's row lock serialises tills on one card; under it a retry finds the
    purchase its first attempt committed. The unique (store, key) constraint
    catches the one case the lock cannot: the same key sent for another card.
    """
    assert api_key.store_id is not None
    assert api_key.program is not None
    program = api_key.program
    store_id = api_key.store_id
    number, genuine = card_number(purchase.code)
    if purchase.redeem_points and not genuine:
        resolve_code(program.id, purchase.code)  # 404/403 come first
        raise ApiError(
            403,
            "barcode_required",
            "Points can be redeemed only with the scanned barcode, "
            "not a typed card number.",
        )
    connection = db.session.connection()
    card = None
    if number is not None:
        card = connection.execute(_LOCK_CARD, {"number": number}).first()
    if card is None:
        _check_card(None, program.id)
    elif card.program_id != program.id:
        raise ApiError(
            403, "other_program", "This card belongs to another loyalty program."
        )
    now = utcnow()
    prior = connection.execute(
        _PRIOR_AND_SPEND,
        {
            "store_id": store_id,
            "key": idempotency_key,
            "member_id": card.id,
            "since": now - SPEND_WINDOW,
        },
    ).one()
    if prior.id is not None:
        body = {"transaction_id": prior.id, **prior.response}
        return _replay(prior.fingerprint, body, purchase), True

    redeem = purchase.redeem_points
    if redeem > card.points:
        raise ApiError(
            422,
            "insufficient_points",
            f"Not enough points: the balance is {card.points}.",
        )
    limit = max_redeem(program, purchase.amount_kopecks)
    if redeem > limit:
        raise ApiError(
            422,
            "redeem_limit",
            f"At most {limit} points can pay for this receipt "
            f"({Decimal(str(program.rule('max_redeem_share'))) * 100:.0f}% of it).",
        )
    paid = purchase.amount_kopecks - redeem * _point_kopecks(program)
    # Earned at the tier held before this purchase; the purchase may lift it.
    earned = earned_points(program, card.tier, paid)
    tier = card.tier
    reached = tier_for_spend(program, prior.spend + purchase.amount_kopecks)
    if _tier_rank(program, reached) > _tier_rank(program, tier):
        tier = reached
    balance = card.points - redeem + earned
    response = {
        "receipt_id": purchase.receipt_id,
        "amount": _roubles(purchase.amount_kopecks),
        "currency": purchase.currency,
        "earned": earned,
        "redeemed": redeem,
        "balance": balance,
        "tier": tier_view(program, tier),
        "tier_upgraded": tier != card.tier,
        "card_number": card.card_number,
        "created_at": now.isoformat(),
    }
    row = {
        "program_id": program.id,
        "member_id": card.id,
        "store_id": store_id,
        "api_key_id": api_key.id,
        "idempotency_key": idempotency_key,
        "fingerprint": purchase.fingerprint(),
        "receipt_id": purchase.receipt_id,
        "currency": purchase.currency,
        "amount_kopecks": purchase.amount_kopecks,
        "redeemed": redeem,
        "earned": earned,
        "response": response,
        "created_at": now,
    }
    key_base = f"pos:{store_id}:{idempotency_key}"
    movements = [
        (kind, points, f"{key_base}:{kind}")
        for kind, points in (("redeem", -redeem), ("earn", earned))
        if points
    ]
    details = {
        "member_id": card.id,
        "store_id": store_id,
        "amount_kopecks": purchase.amount_kopecks,
        "earned": earned,
        "redeemed": redeem,
    }
    digest = None
    if card.pass_id is not None:
        # What refresh_member_pass would compute, from the values at hand.
        digest = passes.content_fingerprint(
            pass_service.program_view(program),
            pass_service.member_inputs(
                program=program,
                serial_number=card.serial_number,
                authentication_token=card.authentication_token,
                voided=card.voided,
                card_number=card.card_number,
                card_token=card.card_token,
                name=card.name,
                language=card.language,
                points=balance,
                tier=tier,
                offer=card.offer,
            ),
            pass_service.stores_near(program, card.preferred_store_id, card.city),
        )
        if digest == card.content_hash:
            digest = None  # the pass shows nothing new: no tag, no push
    try:
        if connection.dialect.name == "postgresql":
            transaction_id, moved = _write_at_once(
                connection, api_key, card, row, movements, tier, details, digest
            )
        else:
            transaction_id, moved = _write_in_steps(
                connection, api_key, card, row, movements, tier, details, digest
            )
    except IntegrityError:
        # The same key, sent at the same moment for another card, won the race.
        # Nothing of ours is worth keeping (at most a last_used_at stamp), and
        # PostgreSQL refuses further statements in this transaction: start over.
        db.session.rollback()
        existing = _find(store_id, idempotency_key)
        if existing is None:
            raise
        return _replay(existing.fingerprint, transaction_body(existing), purchase), True
    assert moved in (None, balance), (moved, balance)
    return {"transaction_id": transaction_id, **response}, False


def _write_in_steps(
    connection: Connection,
    api_key: Principal,
    card: Row[Any],
    row: dict[str, Any],
    movements: list[tuple[str, int, str | None]],
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
    movements: list[tuple[str, int, str | None]],
    tier: str,
    details: dict[str, Any],
    digest: str | None,
) -> tuple[int, int | None]:
    """`_write_in_steps` in one PostgreSQL statement (a data-modifying WITH):
    one round trip instead of up to seven (more when the pass has devices or a
    Google object to push to), and the program's tag lock is held from it to
    COMMIT. (purchase id, new balance)"""
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
        )
    statement = _purchase_statement(digest is not None)
    result = connection.execute(statement, params).one()
    if result.devices or (result.google and outbox.google_enabled()):
        # After the tag (held until commit), as in refresh_pass; not part of the
        # WITH because SQLAlchemy does not cache ON CONFLICT statements.
        outbox.enqueue_pass_update_ids(card.pass_id, card.id)
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
        tag = (
            update(Program)
            .where(Program.id == p["program_id"], exists(select(purchase.c.id)))
            .values(last_update_tag=Program.last_update_tag + 1)
            .returning(Program.last_update_tag)
            .cte("tag")
        )
        set_pass = (
            update(Pass)
            .where(Pass.id == bindparam("pass_id", type_=Integer))
            .values(
                update_tag=select(tag.c.last_update_tag).scalar_subquery(),
                content_hash=bindparam("digest", type_=String),
                updated_at=bindparam(
                    "modified", type_=Pass.__table__.c.updated_at.type
                ),
            )
            .cte("set_pass")
        )
        parts += [tag, set_pass]
    # Whether there is anything to push (read like the separate SELECT it
    # replaces: under the member lock, just before commit).
    devices = exists(
        select(Registration.id).where(
            Registration.pass_id == bindparam("pass_id", type_=Integer)
        )
    )
    google = exists(
        select(GoogleObject.id).where(
            GoogleObject.member_id == p["member_id"], GoogleObject.state != "EXPIRED"
        )
    )
    statement = (
        select(
            purchase.c.id,
            balance.c.points,
            (devices if refresh else literal(False)).label("devices"),
            (google if refresh else literal(False)).label("google"),
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
    "api_key_id",
    "idempotency_key",
    "fingerprint",
    "receipt_id",
    "currency",
    "amount_kopecks",
    "redeemed",
    "earned",
    "response",
    "created_at",
)


def _roubles(kopecks: int) -> str:
    return f"{Decimal(kopecks) / 100:.2f}"


# -- refunds and history ----------------------------------------------------


def get_transaction(api_key: Principal, transaction_id: int) -> PosTransaction:
    # The route accepts any digits; larger ids cannot exist, and would overflow
    # the column type or the driver (a 500 the API fuzzer found).
    transaction = None
    if 0 < transaction_id <= MAX_ID:
        transaction = db.session.get(PosTransaction, transaction_id)
    if transaction is None:
        raise ApiError(404, "unknown_transaction", "No such transaction.")
    if transaction.store_id != api_key.store_id:
        raise ApiError(403, "other_store", "This purchase was made in another store.")
    return transaction


def refund(api_key: Principal, transaction_id: int) -> tuple[dict[str, Any], bool]:
    """Reverse a purchase's points once: (body, already refunded). Caller commits."""
    transaction = get_transaction(api_key, transaction_id)
    member = ledger.lock_member(transaction.member_id)
    # Re-read under the member lock: a concurrent refund may have just committed.
    db.session.refresh(transaction)
    if transaction.refunded_at is not None:
        assert transaction.refund_response is not None
        return dict(transaction.refund_response), True

    now = utcnow()
    fields: dict[str, Any] = {
        "store_id": api_key.store_id,
        "receipt_id": transaction.receipt_id,
        "api_key_id": api_key.id,
        "transaction_id": transaction.id,
        "amount_kopecks": transaction.amount_kopecks,
        "created_at": now,
        "note": "refund",
    }
    # Unique keys: even a bug elsewhere cannot reverse the same purchase twice.
    if transaction.earned:
        ledger.post(
            member,
            "refund",
            -transaction.earned,
            idempotency_key=f"refund:{transaction.id}:earn",
            **fields,
        )
    if transaction.redeemed:
        ledger.post(
            member,
            "refund",
            transaction.redeemed,
            idempotency_key=f"refund:{transaction.id}:redeem",
            **fields,
        )
    transaction.refunded_at = now
    transaction.refund_response = {
        "transaction_id": transaction.id,
        "refunded": True,
        "points_returned": transaction.redeemed,
        "points_withdrawn": transaction.earned,
        "balance": member.points,
        "tier": tier_view(member.program, member.tier),
        "refunded_at": now.isoformat(),
    }
    audit.record(
        "pos.refund",
        target=f"pos_transaction:{transaction.id}",
        key=api_key,
        details={"member_id": member.id, "store_id": api_key.store_id},
    )
    ledger.refresh_member_pass(member)
    return dict(transaction.refund_response), False


def recent_transactions(api_key: Principal, limit: int = 20) -> list[dict[str, Any]]:
    """The key's store's latest purchases, newest first."""
    rows = db.session.scalars(
        select(PosTransaction)
        .where(PosTransaction.store_id == api_key.store_id)
        .order_by(PosTransaction.id.desc())
        .limit(limit)
    )
    return [
        {
            **transaction_body(t),
            "refunded": t.refunded_at is not None,
        }
        for t in rows
    ]
