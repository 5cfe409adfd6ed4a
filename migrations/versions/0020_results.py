"""Results: control groups, variants, attribution windows, saved segments

Campaigns get holdout_percent (10 for campaigns not yet started; 0 for those
already sending, sent or cancelled: they had no control group, so their results
say so), variants and attribution_days; a new assignment table records who was
treated and who was held out; saved_segment holds named segments. Automations
keep their holdout_percent in their settings (missing keys fall back to the
default of 10).

Revision ID: 0020_results
Revises: 0017_signup
"""

import sqlalchemy as sa
from alembic import op

revision = "0020_results"
down_revision = "0019_offers"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("campaign") as batch:
        batch.add_column(
            sa.Column(
                "holdout_percent", sa.Integer(), nullable=False, server_default="10"
            )
        )
        batch.add_column(
            sa.Column("variants", sa.JSON(), nullable=False, server_default="[]")
        )
        batch.add_column(
            sa.Column(
                "attribution_days", sa.Integer(), nullable=False, server_default="14"
            )
        )
    # Campaigns that already began went out to everyone: no control group.
    op.execute(
        "UPDATE campaign SET holdout_percent = 0 "
        "WHERE state IN ('sending', 'done') OR started_at IS NOT NULL"
    )
    op.create_table(
        "assignment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("source_key", sa.String(length=80), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("automation", sa.String(length=30), nullable=True),
        sa.Column("grp", sa.String(length=10), nullable=False),
        sa.Column("variant", sa.String(length=20), nullable=True),
        sa.Column("reached", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_assignment_member_id_member")
        ),
        sa.ForeignKeyConstraint(
            ["program_id"],
            ["program.id"],
            name=op.f("fk_assignment_program_id_program"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assignment")),
        sa.UniqueConstraint(
            "member_id", "source_key", name=op.f("uq_assignment_member_id")
        ),
    )
    op.create_index(
        "ix_assignment_campaign", "assignment", ["campaign_id", "grp"], unique=False
    )
    op.create_index(
        "ix_assignment_automation",
        "assignment",
        ["program_id", "automation", "created_at"],
        unique=False,
    )

    op.create_table(
        "saved_segment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["program_id"],
            ["program.id"],
            name=op.f("fk_saved_segment_program_id_program"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saved_segment")),
        sa.UniqueConstraint(
            "program_id", "name", name=op.f("uq_saved_segment_program_id")
        ),
    )


def downgrade():
    op.drop_table("saved_segment")
    op.drop_index("ix_assignment_automation", table_name="assignment")
    op.drop_index("ix_assignment_campaign", table_name="assignment")
    op.drop_table("assignment")
    with op.batch_alter_table("campaign") as batch:
        batch.drop_column("attribution_days")
        batch.drop_column("variants")
        batch.drop_column("holdout_percent")
