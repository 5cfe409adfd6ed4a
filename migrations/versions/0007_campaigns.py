"""campaigns and audit log

Revision ID: 0007_campaigns
Revises: 0005_messaging
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_campaigns"
down_revision = "0005_messaging"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "campaign",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("texts", sa.JSON(), nullable=False),
        sa.Column("segment", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("start_at", sa.DateTime(), nullable=True),
        sa.Column("cursor", sa.Integer(), nullable=False),
        sa.Column("targeted", sa.Integer(), nullable=True),
        sa.Column("reachable", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("scheduled_at", sa.DateTime(), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["program_id"], ["program.id"], name=op.f("fk_campaign_program_id_program")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign")),
    )
    op.create_index("ix_campaign_due", "campaign", ["state", "start_at"])
    op.create_index(op.f("ix_campaign_program_id"), "campaign", ["program_id"])
    op.create_table(
        "audit_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=40), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("target", sa.String(length=80), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["program_id"],
            ["program.id"],
            name=op.f("fk_audit_entry_program_id_program"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_entry")),
    )
    op.create_index(
        "ix_audit_entry_program_id_id", "audit_entry", ["program_id", "id"]
    )
    # Campaign batches walk a program's members in id order (keyset pagination).
    op.create_index("ix_member_program_id_id", "member", ["program_id", "id"])


def downgrade():
    op.drop_index("ix_member_program_id_id", table_name="member")
    op.drop_index("ix_audit_entry_program_id_id", table_name="audit_entry")
    op.drop_table("audit_entry")
    op.drop_index(op.f("ix_campaign_program_id"), table_name="campaign")
    op.drop_index("ix_campaign_due", table_name="campaign")
    op.drop_table("campaign")
