"""member_purchase_total: each member's purchases summed up (count, spend,
first / last / second-last time, last store), kept by triggers on
pos_transaction and backfilled here (KPI overview, RFM and last-store rules at
10M purchases)

Revision ID: 0030_results
Revises: 0029_scale
"""

import sqlalchemy as sa
from alembic import op

revision = "0030_results"
down_revision = "0029_scale"
branch_labels = None
depends_on = None

# One member recomputed from their unrefunded purchases (refund, change,
# delete): `{m}` is the member id expression.
RECOMPUTE = (
    "DELETE FROM member_purchase_total WHERE member_id = {m}; "
    "INSERT INTO member_purchase_total (member_id, program_id, purchases, "
    "spend_kopecks, first_at, last_at, prev_at, last_store_id) "
    "SELECT {m}, min(program_id), count(*), sum(amount_kopecks), "
    "min(created_at), max(created_at), "
    "(SELECT created_at FROM pos_transaction WHERE member_id = {m} AND "
    "refunded_at IS NULL ORDER BY created_at DESC, id DESC LIMIT 1 OFFSET 1), "
    "(SELECT store_id FROM pos_transaction WHERE member_id = {m} AND "
    "refunded_at IS NULL ORDER BY id DESC LIMIT 1) "
    "FROM pos_transaction WHERE member_id = {m} AND refunded_at IS NULL "
    "HAVING count(*) > 0;"
)

# A new purchase: one UPSERT (the SET side reads the row as it was).
UPSERT = (
    "INSERT INTO member_purchase_total (member_id, program_id, purchases, "
    "spend_kopecks, first_at, last_at, prev_at, last_store_id) VALUES (NEW.member_id, "
    "NEW.program_id, 1, NEW.amount_kopecks, NEW.created_at, NEW.created_at, "
    "NULL, NEW.store_id) ON CONFLICT (member_id) DO UPDATE SET "
    "purchases = member_purchase_total.purchases + 1, "
    "spend_kopecks = member_purchase_total.spend_kopecks + "
    "excluded.spend_kopecks, "
    "first_at = CASE WHEN excluded.first_at < member_purchase_total.first_at "
    "THEN excluded.first_at ELSE member_purchase_total.first_at END, "
    "prev_at = CASE WHEN excluded.last_at >= member_purchase_total.last_at "
    "THEN member_purchase_total.last_at "
    "WHEN member_purchase_total.prev_at IS NULL OR "
    "excluded.last_at > member_purchase_total.prev_at THEN excluded.last_at "
    "ELSE member_purchase_total.prev_at END, "
    "last_at = CASE WHEN excluded.last_at > member_purchase_total.last_at "
    "THEN excluded.last_at ELSE member_purchase_total.last_at END, "
    "last_store_id = excluded.last_store_id;"
)

BACKFILL = """
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
    FROM pos_transaction WHERE refunded_at IS NULL
) s
GROUP BY member_id
"""

CHANGED = (
    "OLD.refunded_at IS NOT NEW.refunded_at OR OLD.member_id <> NEW.member_id "
    "OR OLD.amount_kopecks <> NEW.amount_kopecks OR "
    "OLD.created_at <> NEW.created_at OR OLD.store_id <> NEW.store_id"
)


def _sqlite_triggers() -> list[str]:
    return [
        "CREATE TRIGGER member_purchase_total_insert AFTER INSERT ON "
        "pos_transaction WHEN NEW.refunded_at IS NULL BEGIN "
        # SQLite: in a trigger the UPSERT's target table is not qualified.
        + UPSERT.replace("member_purchase_total.", "")
        + " END",
        "CREATE TRIGGER member_purchase_total_update AFTER UPDATE ON "
        f"pos_transaction WHEN {CHANGED} BEGIN "
        + RECOMPUTE.format(m="OLD.member_id")
        + RECOMPUTE.format(m="NEW.member_id")
        + " END",
        "CREATE TRIGGER member_purchase_total_delete AFTER DELETE ON "
        "pos_transaction BEGIN " + RECOMPUTE.format(m="OLD.member_id") + " END",
    ]


def _postgresql() -> list[str]:
    changed = CHANGED.replace("IS NOT NEW", "IS DISTINCT FROM NEW")
    return [
        "CREATE FUNCTION member_purchase_total_sync() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ BEGIN "
        "IF TG_OP = 'INSERT' THEN "
        "IF NEW.refunded_at IS NULL THEN " + UPSERT + " END IF; "
        "RETURN NULL; END IF; "
        + RECOMPUTE.format(m="OLD.member_id")
        + " IF TG_OP = 'UPDATE' AND NEW.member_id <> OLD.member_id THEN "
        + RECOMPUTE.format(m="NEW.member_id")
        + " END IF; RETURN NULL; END $$",
        "CREATE TRIGGER member_purchase_total_insert AFTER INSERT ON "
        "pos_transaction FOR EACH ROW EXECUTE FUNCTION "
        "member_purchase_total_sync()",
        "CREATE TRIGGER member_purchase_total_update AFTER UPDATE ON "
        f"pos_transaction FOR EACH ROW WHEN ({changed}) EXECUTE FUNCTION "
        "member_purchase_total_sync()",
        "CREATE TRIGGER member_purchase_total_delete AFTER DELETE ON "
        "pos_transaction FOR EACH ROW EXECUTE FUNCTION "
        "member_purchase_total_sync()",
    ]


def upgrade():
    op.create_table(
        "member_purchase_total",
        sa.Column("member_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("purchases", sa.Integer(), nullable=False),
        sa.Column("spend_kopecks", sa.BigInteger(), nullable=False),
        sa.Column("first_at", sa.DateTime(), nullable=False),
        sa.Column("last_at", sa.DateTime(), nullable=False),
        sa.Column("prev_at", sa.DateTime(), nullable=True),
        sa.Column("last_store_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"]),
        sa.ForeignKeyConstraint(["program_id"], ["program.id"]),
        sa.PrimaryKeyConstraint("member_id"),
    )
    op.create_index(
        "ix_member_purchase_total_program_id",
        "member_purchase_total",
        ["program_id"],
    )
    op.execute(BACKFILL)
    postgresql = op.get_bind().dialect.name == "postgresql"
    for statement in _postgresql() if postgresql else _sqlite_triggers():
        op.execute(statement)


def downgrade():
    for event in ("insert", "update", "delete"):
        op.execute(
            f"DROP TRIGGER IF EXISTS member_purchase_total_{event}"
            + (
                " ON pos_transaction"
                if op.get_bind().dialect.name == "postgresql"
                else ""
            )
        )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS member_purchase_total_sync()")
    op.drop_index(
        "ix_member_purchase_total_program_id", table_name="member_purchase_total"
    )
    op.drop_table("member_purchase_total")
