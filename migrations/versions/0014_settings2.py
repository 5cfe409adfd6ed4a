"""store_refresh: re-tier the program's members in the refresh after a tiers change

Revision ID: 0014_settings2
Revises: 0013_pgenq
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_settings2"
down_revision = "0013_pgenq"
branch_labels = None
depends_on = None


def upgrade():
    # Server defaults only to fill the rows already there; the app sets both.
    with op.batch_alter_table("store_refresh") as batch:
        batch.add_column(
            sa.Column("retier", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(
            sa.Column("retiered", sa.Integer(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("store_refresh") as batch:
        batch.alter_column("retier", server_default=None)
        batch.alter_column("retiered", server_default=None)


def downgrade():
    with op.batch_alter_table("store_refresh") as batch:
        batch.drop_column("retiered")
        batch.drop_column("retier")
