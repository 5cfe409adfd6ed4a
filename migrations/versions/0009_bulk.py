"""member messages by kind and time (birthday offers expire)

Revision ID: 0009_bulk
Revises: 0008_automations
"""

from alembic import op

revision = "0009_bulk"
down_revision = "0008_automations"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        "ix_member_message_kind_created", "member_message", ["kind", "created_at"]
    )


def downgrade():
    op.drop_index("ix_member_message_kind_created", table_name="member_message")
