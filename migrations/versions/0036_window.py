"""Windowed segment rules at scale: pos_transaction's unrefunded sales in time
order and its refunds in time order (indexes), and the per-member year totals
the scheduler keeps for large programs (member_year_total, year_total_snapshot;
services.year_totals)

Revision ID: 0036_window
Revises: 0035_defer
"""

import sqlalchemy as sa
from alembic import op

revision = "0036_window"
down_revision = "0035_defer"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_pos_transaction_sales_time",
        "pos_transaction",
        ["program_id", "created_at", "member_id", "amount_kopecks"],
        postgresql_where=sa.text("refunded_at IS NULL"),
        sqlite_where=sa.text("refunded_at IS NULL"),
    )
    op.create_index(
        "ix_pos_transaction_refunded",
        "pos_transaction",
        ["program_id", "refunded_at"],
        postgresql_where=sa.text("refunded_at IS NOT NULL"),
        sqlite_where=sa.text("refunded_at IS NOT NULL"),
    )
    op.create_table(
        "year_total_snapshot",
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("as_of", sa.DateTime(), nullable=False),
        sa.Column("max_transaction_id", sa.Integer(), nullable=False),
        sa.Column("computed_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["program_id"],
            ["program.id"],
            name=op.f("fk_year_total_snapshot_program_id_program"),
        ),
        sa.PrimaryKeyConstraint("program_id", name=op.f("pk_year_total_snapshot")),
    )
    op.create_table(
        "member_year_total",
        sa.Column("member_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("purchases", sa.Integer(), nullable=False),
        sa.Column("spend_kopecks", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("member_id", name=op.f("pk_member_year_total")),
    )
    op.create_index(
        op.f("ix_member_year_total_program_id"),
        "member_year_total",
        ["program_id"],
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_member_year_total_program_id"), table_name="member_year_total"
    )
    op.drop_table("member_year_total")
    op.drop_table("year_total_snapshot")
    op.drop_index("ix_pos_transaction_refunded", table_name="pos_transaction")
    op.drop_index("ix_pos_transaction_sales_time", table_name="pos_transaction")
