"""Feedback: the feedback table (rating requests, answers, recovery) and
member.feedback_token (the open request the pass links to)

Revision ID: 0026_feedback
Revises: 0025_premium
"""

import sqlalchemy as sa
from alembic import op

revision = "0026_feedback"
down_revision = "0025_premium"
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMN (no table copy: other tables reference member).
    op.add_column(
        "member", sa.Column("feedback_token", sa.String(length=43), nullable=True)
    )
    # Only members whose pass links to an open request (the expiry job).
    op.create_index(
        "ix_member_feedback_token",
        "member",
        ["feedback_token"],
        postgresql_where=sa.text("feedback_token IS NOT NULL"),
        sqlite_where=sa.text("feedback_token IS NOT NULL"),
    )
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=True),
        sa.Column("transaction_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("source", sa.String(length=60), nullable=False),
        sa.Column("token", sa.String(length=43), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("comment", sa.String(length=1000), nullable=False),
        sa.Column("answered_at", sa.DateTime(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.Column("resolution", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["program_id"], ["program.id"], name=op.f("fk_feedback_program_id_program")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_feedback_member_id_member")
        ),
        sa.ForeignKeyConstraint(
            ["store_id"], ["store.id"], name=op.f("fk_feedback_store_id_store")
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["pos_transaction.id"],
            name=op.f("fk_feedback_transaction_id_pos_transaction"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback")),
        sa.UniqueConstraint("member_id", "source", name=op.f("uq_feedback_member_id")),
        sa.UniqueConstraint("token", name=op.f("uq_feedback_token")),
    )
    op.create_index(
        "ix_feedback_member_created", "feedback", ["member_id", "created_at"]
    )
    op.create_index(
        "ix_feedback_program_answered", "feedback", ["program_id", "answered_at"]
    )


def downgrade():
    op.drop_index("ix_feedback_program_answered", table_name="feedback")
    op.drop_index("ix_feedback_member_created", table_name="feedback")
    op.drop_table("feedback")
    op.drop_index("ix_member_feedback_token", table_name="member")
    # DROP COLUMN in place (SQLite 3.35+), as 0024 does.
    op.drop_column("member", "feedback_token")
