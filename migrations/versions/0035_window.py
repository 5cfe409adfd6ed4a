"""pos_transaction: the unrefunded sales in time order per program, so a
segment rule's window (or the purchases before it) is a range of an index
instead of a walk over every purchase (segment_rules.window_totals)

Revision ID: 0035_window
Revises: 0034_enqueue
"""

import sqlalchemy as sa
from alembic import op

revision = "0035_window"
down_revision = "0034_enqueue"
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


def downgrade() -> None:
    op.drop_index("ix_pos_transaction_sales_time", table_name="pos_transaction")
