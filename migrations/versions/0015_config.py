"""admin_session (server-side /admin sessions); program.apns_key_file/apns_key_id

Revision ID: 0015_config
Revises: 0014_settings2
"""

import sqlalchemy as sa
from alembic import op

revision = "0015_config"
down_revision = "0014_settings2"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "admin_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("api_key_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["api_key_id"],
            ["api_key.id"],
            name=op.f("fk_admin_session_api_key_id_api_key"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_session")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_admin_session_token_hash")),
    )
    op.create_index(
        op.f("ix_admin_session_api_key_id"), "admin_session", ["api_key_id"]
    )
    with op.batch_alter_table("program") as batch:
        batch.add_column(sa.Column("apns_key_file", sa.String(length=500)))
        batch.add_column(sa.Column("apns_key_id", sa.String(length=20)))


def downgrade():
    with op.batch_alter_table("program") as batch:
        batch.drop_column("apns_key_id")
        batch.drop_column("apns_key_file")
    op.drop_index(op.f("ix_admin_session_api_key_id"), table_name="admin_session")
    op.drop_table("admin_session")
