"""member: fillfactor 50 on PostgreSQL, so offer and points updates stay HOT

Revision ID: 0013_pgenq
Revises: 0012_lazyhash
"""

from alembic import op

revision = "0013_pgenq"
down_revision = "0012_lazyhash"
branch_labels = None
depends_on = None


def upgrade():
    # A campaign rewrites the offer of every member it reaches. With full pages
    # each new row version goes to another page and every index on member gets a
    # new entry (6 of them); with half of each page free the update is HOT (same
    # page, no index entry): in the PostgreSQL enqueue of 1M members that UPDATE
    # took 29 s, 9 s with this (docs/performance.md, "PostgreSQL
    # enqueue"). Purchases (points) gain the same way. The cost: the table takes
    # twice the pages. Applies to pages written from now on; an existing table
    # gets it fully after a rewrite (VACUUM FULL member, in a quiet hour).
    # SQLite has no such setting.
    if op.get_context().dialect.name == "postgresql":
        op.execute("ALTER TABLE member SET (fillfactor = 50)")


def downgrade():
    if op.get_context().dialect.name == "postgresql":
        op.execute("ALTER TABLE member RESET (fillfactor)")
