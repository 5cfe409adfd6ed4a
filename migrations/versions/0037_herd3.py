"""signed_pass_part: the design's shared part of signed passes, stored once

A signed .pkpass of the demo program is 38 KB, 25 KB of it the design's images
(the same bytes for every pass of the design). The worker now stores each pass's
own part (13 KB) in signed_pass with the SHA-256 of the shared part (`shared`), and the
shared part once in signed_pass_part; the web service joins the two. Existing
rows get shared = '' (their data is the whole archive) and are served as before.

Revision ID: 0037_herd3
Revises: 0036_window
"""

import sqlalchemy as sa
from alembic import op

revision = "0037_herd3"
down_revision = "0036_window"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "signed_pass_part",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    with op.batch_alter_table("signed_pass") as batch:
        batch.add_column(
            sa.Column("shared", sa.String(64), nullable=False, server_default="")
        )


def downgrade():
    with op.batch_alter_table("signed_pass") as batch:
        batch.drop_column("shared")
    op.drop_table("signed_pass_part")
