"""pass: a partial index on passes whose content hash is still unknown

Revision ID: 0012_lazyhash
Revises: 0011_admincat
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_lazyhash"
down_revision = "0011_admincat"
branch_labels = None
depends_on = None

UNHASHED = sa.text("content_hash = ''")


def upgrade():
    # Only the few passes the pass_hashes job has yet to hash: the job finds them
    # without scanning every pass.
    op.create_index(
        "ix_pass_unhashed",
        "pass",
        ["id"],
        postgresql_where=UNHASHED,
        sqlite_where=UNHASHED,
    )


def downgrade():
    op.drop_index("ix_pass_unhashed", table_name="pass")
