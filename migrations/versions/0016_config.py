"""admin_session (server-side /admin sessions); program.apns_key_file/apns_key_id

Revision ID: 0016_config
Revises: 0014_settings2
"""

import sqlalchemy as sa
from alembic import op

revision = "0016_config"
down_revision = "0015_pos"
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
    # In place, not a batch table copy: SQLite refuses to drop program while
    # members and stores reference it with foreign keys enforced.
    op.add_column("program", sa.Column("apns_key_file", sa.String(length=500)))
    op.add_column("program", sa.Column("apns_key_id", sa.String(length=20)))


def downgrade():
    # In place too (SQLite >= 3.35 and PostgreSQL drop a column in place).
    op.execute("ALTER TABLE program DROP COLUMN apns_key_id")
    op.execute("ALTER TABLE program DROP COLUMN apns_key_file")
    op.drop_index(op.f("ix_admin_session_api_key_id"), table_name="admin_session")
    op.drop_table("admin_session")
