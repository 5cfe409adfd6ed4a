"""Stamp cards: member.stamps (the current card) and pos_transaction.stamps (what
a purchase added, taken back by its refund); referral and referral_open

Revision ID: 0024_mechanics
Revises: 0021_integration
"""

import sqlalchemy as sa
from alembic import op

revision = "0024_mechanics"
down_revision = "0023_herd"
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMN (no table copy: other tables reference both).
    for table in ("member", "pos_transaction"):
        op.add_column(
            table,
            sa.Column("stamps", sa.Integer(), server_default="0", nullable=False),
        )
    op.create_table(
        "referral",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("referrer_id", sa.Integer(), nullable=False),
        sa.Column("friend_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("transaction_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["program_id"], ["program.id"], name=op.f("fk_referral_program_id_program")
        ),
        sa.ForeignKeyConstraint(
            ["referrer_id"], ["member.id"], name=op.f("fk_referral_referrer_id_member")
        ),
        sa.ForeignKeyConstraint(
            ["friend_id"], ["member.id"], name=op.f("fk_referral_friend_id_member")
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["pos_transaction.id"],
            name=op.f("fk_referral_transaction_id_pos_transaction"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral")),
        sa.UniqueConstraint("friend_id", name=op.f("uq_referral_friend_id")),
    )
    op.create_index(
        "ix_referral_referrer_status", "referral", ["referrer_id", "status"]
    )
    op.create_index("ix_referral_program_id", "referral", ["program_id"])
    op.create_table(
        "referral_open",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("referrer_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["program_id"],
            ["program.id"],
            name=op.f("fk_referral_open_program_id_program"),
        ),
        sa.ForeignKeyConstraint(
            ["referrer_id"],
            ["member.id"],
            name=op.f("fk_referral_open_referrer_id_member"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral_open")),
        sa.UniqueConstraint(
            "referrer_id", "day", name=op.f("uq_referral_open_referrer_id")
        ),
    )
    op.create_index(
        op.f("ix_referral_open_program_id"), "referral_open", ["program_id"]
    )


def downgrade():
    op.drop_index(op.f("ix_referral_open_program_id"), table_name="referral_open")
    op.drop_table("referral_open")
    op.drop_index("ix_referral_program_id", table_name="referral")
    op.drop_index("ix_referral_referrer_status", table_name="referral")
    op.drop_table("referral")
    # DROP COLUMN in place (SQLite 3.35+): a batch copy of member would break
    # the foreign keys that point at it.
    for table in ("pos_transaction", "member"):
        op.drop_column(table, "stamps")
