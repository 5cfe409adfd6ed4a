"""automation_run: the history of automation runs shown in /admin

Revision ID: 0011_admincat
Revises: 0008_automations
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_admincat"
down_revision = "0010_settings"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "automation_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("automation_id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("trigger", sa.String(length=10), nullable=False),
        sa.Column("for_date", sa.Date(), nullable=False),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["automation_id"],
            ["automation.id"],
            name=op.f("fk_automation_run_automation_id_automation"),
        ),
        sa.ForeignKeyConstraint(
            ["program_id"],
            ["program.id"],
            name=op.f("fk_automation_run_program_id_program"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_run")),
    )
    op.create_index(
        "ix_automation_run_automation_id", "automation_run", ["automation_id", "id"]
    )


def downgrade():
    op.drop_index("ix_automation_run_automation_id", table_name="automation_run")
    op.drop_table("automation_run")
