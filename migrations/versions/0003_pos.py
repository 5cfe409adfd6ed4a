"""POS: API keys, purchases, the points ledger, program rules

Revision ID: 0003_pos
Revises: 0001
Create Date: 2026-11-25 11:30:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0003_pos"
down_revision = "0002_push"
branch_labels = None
depends_on = None


def upgrade():
    # In place (no batch table copy, which SQLite refuses while members and stores
    # reference program with foreign keys enforced).
    op.add_column(
        "program",
        sa.Column("rules", sa.JSON(), nullable=False, server_default=sa.text("'{}'")),
    )

    op.create_table(
        "api_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=True),
        sa.Column("store_id", sa.Integer(), nullable=True),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["program_id"], ["program.id"], name=op.f("fk_api_key_program_id_program")
        ),
        sa.ForeignKeyConstraint(
            ["store_id"], ["store.id"], name=op.f("fk_api_key_store_id_store")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_key")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_key_prefix")),
    )

    op.create_table(
        "pos_transaction",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=False),
        sa.Column("api_key_id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=100), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("receipt_id", sa.String(length=64), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount_kopecks", sa.BigInteger(), nullable=False),
        sa.Column("redeemed", sa.Integer(), nullable=False),
        sa.Column("earned", sa.Integer(), nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.Column("refunded_at", sa.DateTime(), nullable=True),
        sa.Column("refund_response", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["api_key_id"],
            ["api_key.id"],
            name=op.f("fk_pos_transaction_api_key_id_api_key"),
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_pos_transaction_member_id_member")
        ),
        sa.ForeignKeyConstraint(
            ["program_id"],
            ["program.id"],
            name=op.f("fk_pos_transaction_program_id_program"),
        ),
        sa.ForeignKeyConstraint(
            ["store_id"], ["store.id"], name=op.f("fk_pos_transaction_store_id_store")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pos_transaction")),
        sa.UniqueConstraint(
            "store_id", "idempotency_key", name=op.f("uq_pos_transaction_store_id")
        ),
    )
    with op.batch_alter_table("pos_transaction", schema=None) as batch_op:
        batch_op.create_index(
            "ix_pos_transaction_member_created", ["member_id", "created_at"]
        )
        batch_op.create_index(
            "ix_pos_transaction_store_created", ["store_id", "created_at"]
        )

    op.create_table(
        "ledger_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("amount_kopecks", sa.BigInteger(), nullable=True),
        sa.Column("store_id", sa.Integer(), nullable=True),
        sa.Column("receipt_id", sa.String(length=64), nullable=True),
        sa.Column("idempotency_key", sa.String(length=160), nullable=True),
        sa.Column("api_key_id", sa.Integer(), nullable=True),
        sa.Column("transaction_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["api_key_id"], ["api_key.id"], name=op.f("fk_ledger_entry_api_key_id_api_key")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_ledger_entry_member_id_member")
        ),
        sa.ForeignKeyConstraint(
            ["program_id"], ["program.id"], name=op.f("fk_ledger_entry_program_id_program")
        ),
        sa.ForeignKeyConstraint(
            ["store_id"], ["store.id"], name=op.f("fk_ledger_entry_store_id_store")
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["pos_transaction.id"],
            name=op.f("fk_ledger_entry_transaction_id_pos_transaction"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entry")),
        sa.UniqueConstraint(
            "idempotency_key", name=op.f("uq_ledger_entry_idempotency_key")
        ),
    )
    with op.batch_alter_table("ledger_entry", schema=None) as batch_op:
        batch_op.create_index("ix_ledger_entry_member_id_id", ["member_id", "id"])
        batch_op.create_index(
            batch_op.f("ix_ledger_entry_transaction_id"), ["transaction_id"]
        )

    # Members that already hold points get an opening entry, so that from here on
    # the balance is exactly the sum of the ledger.
    op.execute(
        "INSERT INTO ledger_entry (program_id, member_id, kind, points, note,"
        " created_at, idempotency_key)"
        " SELECT program_id, id, 'adjustment', points, 'opening balance',"
        " CURRENT_TIMESTAMP, 'opening:' || id FROM member WHERE points <> 0"
    )


def downgrade():
    with op.batch_alter_table("ledger_entry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_entry_transaction_id"))
        batch_op.drop_index("ix_ledger_entry_member_id_id")
    op.drop_table("ledger_entry")
    with op.batch_alter_table("pos_transaction", schema=None) as batch_op:
        batch_op.drop_index("ix_pos_transaction_store_created")
        batch_op.drop_index("ix_pos_transaction_member_created")
    op.drop_table("pos_transaction")
    op.drop_table("api_key")
    # Not a batch (table copy): on SQLite that drop fails while member and store
    # still reference program with foreign keys enforced. SQLite >= 3.35 and
    # PostgreSQL both drop a column in place.
    op.execute("ALTER TABLE program DROP COLUMN rules")
