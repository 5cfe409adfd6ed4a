"""pass: a partial index of voided passes (the closed_passes job)

Revision ID: 0015_pos
Revises: 0014_settings2
"""

import sqlalchemy as sa
from alembic import op

revision = "0015_pos"
down_revision = "0014_settings2"
branch_labels = None
depends_on = None


def upgrade():
    # Only the few voided passes: the job finds those with devices left to
    # forget without scanning every pass.
    op.create_index(
        "ix_pass_voided",
        "pass",
        ["id"],
        postgresql_where=sa.text("voided"),
        sqlite_where=sa.text("voided = 1"),
    )


def downgrade():
    op.drop_index("ix_pass_voided", table_name="pass")
