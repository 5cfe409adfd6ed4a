"""Per-member purchase totals (`member_purchase_total`): what the purchases say,
summed up per member, so that the KPI overview and the RFM / last-store rules
read one row per member instead of every purchase.

Kept by triggers on `pos_transaction` (migration 0030_results), so every write
keeps them in the same transaction whoever makes it (the POS path, refunds,
imports, tests): a new purchase UPSERTs its member's row (one statement, on the
row of the member the purchase already locks); a refund (refunded_at set), a
changed or a deleted purchase recomputes that member from the purchase index.
`rebuild` recomputes a whole program (or all) the same way, set-based: after a
bulk load that ran with the triggers off (bench/results.py).
"""

from __future__ import annotations

from sqlalchemy import text

from app.extensions import db

# The member's totals from their unrefunded purchases: count, spend, first and
# last time, the second latest time, the store of the highest id.
_REBUILD = """
INSERT INTO member_purchase_total (member_id, program_id, purchases,
    spend_kopecks, first_at, last_at, prev_at, last_store_id)
SELECT member_id, min(program_id), count(*), sum(amount_kopecks),
    min(created_at), max(created_at),
    max(CASE WHEN by_time = 2 THEN created_at END),
    max(CASE WHEN by_id = 1 THEN store_id END)
FROM (
    SELECT member_id, program_id, amount_kopecks, created_at, store_id,
        row_number() OVER (PARTITION BY member_id
            ORDER BY created_at DESC, id DESC) AS by_time,
        row_number() OVER (PARTITION BY member_id ORDER BY id DESC) AS by_id
    FROM pos_transaction WHERE refunded_at IS NULL {where}
) s
GROUP BY member_id
"""


def rebuild(program_id: int | None = None) -> None:
    """Recompute the totals of a program's members (all programs: None) from
    their purchases, in two set-based statements."""
    if program_id is None:
        db.session.execute(text("DELETE FROM member_purchase_total"))
        db.session.execute(text(_REBUILD.format(where="")))
        return
    db.session.execute(
        text("DELETE FROM member_purchase_total WHERE program_id = :p"),
        {"p": program_id},
    )
    db.session.execute(
        text(_REBUILD.format(where="AND program_id = :p")), {"p": program_id}
    )
