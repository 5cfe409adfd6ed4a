"""Stamp cards: member.stamps (the current card) and pos_transaction.stamps (what
a purchase added, taken back by its refund)

Revision ID: 0022_mechanics
Revises: 0021_integration
"""

import sqlalchemy as sa
from alembic import op

revision = "0022_mechanics"
down_revision = "0021_integration"
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMN (no table copy: other tables reference both).
    for table in ("member", "pos_transaction"):
        op.add_column(
            table,
            sa.Column("stamps", sa.Integer(), server_default="0", nullable=False),
        )


def downgrade():
    # DROP COLUMN in place (SQLite 3.35+): a batch copy of member would break
    # the foreign keys that point at it.
    for table in ("pos_transaction", "member"):
        op.drop_column(table, "stamps")
