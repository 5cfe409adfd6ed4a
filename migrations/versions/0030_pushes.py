"""push_delivery: the due index holds only queued rows, in claim order
(next_attempt_at, id), so a claim reads its batch off the index instead of
scanning and sorting the whole outbox

Revision ID: 0030_pushes
Revises: 0029_scale
"""

import sqlalchemy as sa
from alembic import op

revision = "0030_pushes"
down_revision = "0029_scale"
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index("ix_push_delivery_due", table_name="push_delivery")
    op.create_index(
        "ix_push_delivery_due",
        "push_delivery",
        ["next_attempt_at", "id"],
        postgresql_where=sa.text("status = 'queued'"),
        sqlite_where=sa.text("status = 'queued'"),
    )


def downgrade():
    op.drop_index("ix_push_delivery_due", table_name="push_delivery")
    op.create_index(
        "ix_push_delivery_due", "push_delivery", ["status", "next_attempt_at"]
    )
