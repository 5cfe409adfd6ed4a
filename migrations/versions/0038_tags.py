"""program_tag: each program's update-tag counter in a narrow row of its own

Every purchase that changes a pass takes the program's next tag. It was the
`last_update_tag` column of the wide `program` row; on PostgreSQL each take
wrote a new version of the whole row, and while any snapshot was open those
versions filled the page, so the updates stopped being HOT and the purchases
queued behind the row lock. The counter moves to `program_tag` (program id,
last tag), with the values it had.

Revision ID: 0038_tags
Revises: 0037_herd3
"""

import sqlalchemy as sa
from alembic import op

revision = "0038_tags"
down_revision = "0037_herd3"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "program_tag",
        sa.Column(
            "program_id",
            sa.Integer(),
            sa.ForeignKey("program.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("last_update_tag", sa.Integer(), nullable=False),
    )
    op.execute(
        "INSERT INTO program_tag (program_id, last_update_tag) "
        "SELECT id, last_update_tag FROM program"
    )
    # Not a batch (table copy) on SQLite: program_tag already refers to program,
    # whose copy could not replace it. SQLite 3.35+ drops a plain column itself.
    op.execute("ALTER TABLE program DROP COLUMN last_update_tag")


def downgrade():
    op.add_column(
        "program",
        sa.Column("last_update_tag", sa.Integer(), nullable=False, server_default="0"),
    )
    op.execute(
        "UPDATE program SET last_update_tag = (SELECT last_update_tag FROM "
        "program_tag WHERE program_tag.program_id = program.id) "
        "WHERE id IN (SELECT program_id FROM program_tag)"
    )
    op.drop_table("program_tag")
