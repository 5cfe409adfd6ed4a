"""signed_pass: the shared cache of signed .pkpass bytes

One row per pass at its current update tag, filled by the push worker ahead of
a campaign's pushes and by the web service on a miss.

Revision ID: 0023_herd
Revises: 0021_integration
"""

import sqlalchemy as sa
from alembic import op

revision = "0023_herd"
down_revision = "0022_ux"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "signed_pass",
        sa.Column("pass_id", sa.Integer(), nullable=False),
        sa.Column("update_tag", sa.Integer(), nullable=False),
        sa.Column("modified_at", sa.DateTime(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["pass_id"],
            ["pass.id"],
            name=op.f("fk_signed_pass_pass_id_pass"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pass_id", name=op.f("pk_signed_pass")),
    )


def downgrade():
    op.drop_table("signed_pass")
