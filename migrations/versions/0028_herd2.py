"""signed_pass.data stored uncompressed on PostgreSQL (STORAGE EXTERNAL)

A .pkpass is a zip of PNGs and a signature: PostgreSQL's pglz compression of
each 25 KB row cost ~0.4 ms of server CPU per stored pass to save ~30 % (the
pass.json part), and its reads decompressed it again (docs/performance.md, "The
device herd"). SQLite has no such setting.

Revision ID: 0028_herd2
Revises: 0027_fallback
"""

from alembic import op

revision = "0028_herd2"
down_revision = "0027_fallback"
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE signed_pass ALTER COLUMN data SET STORAGE EXTERNAL")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE signed_pass ALTER COLUMN data SET STORAGE EXTENDED")
