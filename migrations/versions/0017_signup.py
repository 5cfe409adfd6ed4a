"""outbound_message (card-link SMS and e-mail) and signup_code

Revision ID: 0017_signup
Revises: 0014_settings2
"""

import sqlalchemy as sa
from alembic import op

revision = "0017_signup"
down_revision = "0016_config"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "outbound_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=True),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("recipient_key", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=254), nullable=True),
        sa.Column("subject", sa.String(length=200), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbound_message")),
    )
    op.create_index(
        "ix_outbound_message_recipient",
        "outbound_message",
        ["recipient_key", "purpose", "created_at"],
        unique=False,
    )
    op.create_table(
        "signup_code",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("phone_key", sa.String(length=64), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signup_code")),
    )
    op.create_index(
        "ix_signup_code_phone",
        "signup_code",
        ["program_id", "phone_key"],
        unique=False,
    )


def downgrade():
    op.drop_index("ix_signup_code_phone", table_name="signup_code")
    op.drop_table("signup_code")
    op.drop_index("ix_outbound_message_recipient", table_name="outbound_message")
    op.drop_table("outbound_message")
