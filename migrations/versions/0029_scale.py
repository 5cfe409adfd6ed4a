"""pos_transaction: a covering index of the program's sales by member (KPI
overview, behaviour segments and RFM at 10M purchases)

Revision ID: 0029_scale
Revises: 0028_herd2
"""

import sqlalchemy as sa
from alembic import op

revision = "0029_scale"
down_revision = "0028_herd2"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        "ix_pos_transaction_sales",
        "pos_transaction",
        ["program_id", "member_id", "created_at", "amount_kopecks", "store_id"],
        postgresql_where=sa.text("refunded_at IS NULL"),
        sqlite_where=sa.text("refunded_at IS NULL"),
    )


def downgrade():
    op.drop_index("ix_pos_transaction_sales", table_name="pos_transaction")
