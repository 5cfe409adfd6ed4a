"""membership_sale.refund_kopecks: what a refund paid back

A refund returns the unused part of the fee (pro rata of the days of its period
still to come), so the fee less this is revenue kept. Rows refunded before this
revision were refunded in full: NULL on a refunded sale means the whole fee.

Revision ID: 0035_defer
Revises: 0034_enqueue
"""

import sqlalchemy as sa
from alembic import op

revision = "0035_defer"
down_revision = "0034_enqueue"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column(
        "membership_sale", sa.Column("refund_kopecks", sa.BigInteger(), nullable=True)
    )


def downgrade():
    with op.batch_alter_table("membership_sale") as batch:
        batch.drop_column("refund_kopecks")
