"""member messages

Revision ID: 0005_messaging
Revises: 0004_google
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_messaging"
down_revision = "0004_google"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "member_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("source_key", sa.String(length=80), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("header", sa.String(length=80), nullable=False),
        sa.Column("body", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["member.id"],
            name=op.f("fk_member_message_member_id_member"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_message")),
        sa.UniqueConstraint(
            "member_id", "source_key", name=op.f("uq_member_message_member_id")
        ),
    )
    op.create_index(
        "ix_member_message_campaign", "member_message", ["campaign_id"], unique=False
    )


def downgrade():
    op.drop_index("ix_member_message_campaign", table_name="member_message")
    op.drop_table("member_message")
