"""Fallback channels: outbound_message.campaign_id, source_key, segments and
cost_kopecks (campaign and automation messages by SMS or e-mail to members
without a wallet card)

Revision ID: 0027_fallback
Revises: 0026_feedback
"""

import sqlalchemy as sa
from alembic import op

revision = "0027_fallback"
down_revision = "0026_feedback"
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMN, all nullable: no table copy on SQLite.
    op.add_column(
        "outbound_message", sa.Column("campaign_id", sa.Integer(), nullable=True)
    )
    op.add_column(
        "outbound_message",
        sa.Column("source_key", sa.String(length=80), nullable=True),
    )
    op.add_column(
        "outbound_message", sa.Column("segments", sa.Integer(), nullable=True)
    )
    op.add_column(
        "outbound_message", sa.Column("cost_kopecks", sa.Integer(), nullable=True)
    )
    op.create_index("ix_outbound_message_campaign", "outbound_message", ["campaign_id"])
    op.create_index(
        "ix_outbound_message_source", "outbound_message", ["source_key", "member_id"]
    )


def downgrade():
    op.drop_index("ix_outbound_message_source", table_name="outbound_message")
    op.drop_index("ix_outbound_message_campaign", table_name="outbound_message")
    for column in ("cost_kopecks", "segments", "source_key", "campaign_id"):
        op.drop_column("outbound_message", column)
