"""push_delivery: the due index holds only queued rows, in claim order
(next_attempt_at, id), so a claim reads its batch off the index instead of
scanning and sorting the whole outbox; on PostgreSQL the table's pages are
filled half, so a claim (which changes no indexed column) is a HOT update that
writes no index entries

Revision ID: 0033_pushes
Revises: 0032_herd
"""

import sqlalchemy as sa
from alembic import op

revision = "0033_pushes"
down_revision = "0032_herd"
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
    if op.get_bind().dialect.name == "postgresql":
        # Applies to pages written from now on (new rows); VACUUM FULL would
        # rewrite the old ones, not needed: finished rows are not updated again.
        op.execute("ALTER TABLE push_delivery SET (fillfactor = 50)")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE push_delivery RESET (fillfactor)")
    op.drop_index("ix_push_delivery_due", table_name="push_delivery")
    op.create_index(
        "ix_push_delivery_due", "push_delivery", ["status", "next_attempt_at"]
    )
