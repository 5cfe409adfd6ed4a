"""automation_run: the error a scheduled run of one program ended with

Revision ID: 0018_errors
Revises: 0014_settings2
"""

import sqlalchemy as sa
from alembic import op

revision = "0018_errors"
down_revision = "0017_signup"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("automation_run") as batch:
        batch.add_column(sa.Column("error", sa.String(length=200), nullable=True))


def downgrade():
    with op.batch_alter_table("automation_run") as batch:
        batch.drop_column("error")
