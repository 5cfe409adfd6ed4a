"""member.marketing_off_at (the customer switched off offers), program.country,
campaign.held_back (members the message_cap rule held back)

Revision ID: 0022_ux
Revises: 0017_signup
"""

import sqlalchemy as sa
from alembic import op

revision = "0022_ux"
down_revision = "0021_integration"
branch_labels = None
depends_on = None


def upgrade():
    # Plain add/drop column (no batch copy: SQLite refuses a batch copy of these
    # tables with foreign keys on, see 0015_config).
    op.add_column("member", sa.Column("marketing_off_at", sa.DateTime(), nullable=True))
    op.add_column(
        "program",
        sa.Column("country", sa.String(length=2), nullable=False, server_default="RU"),
    )
    op.add_column(
        "campaign",
        sa.Column("held_back", sa.Integer(), nullable=False, server_default="0"),
    )


def downgrade():
    op.drop_column("campaign", "held_back")
    op.drop_column("program", "country")
    op.drop_column("member", "marketing_off_at")
