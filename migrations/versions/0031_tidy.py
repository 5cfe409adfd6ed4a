"""Membership plan changes: membership_sale.credit_kopecks, previous_plan_id and
previous_ends_at (a change credits the unused period; its refund restores the
plan it replaced); kpi_snapshot (a large program's KPI overview as last computed)

Revision ID: 0031_tidy
Revises: 0030_results
"""

import sqlalchemy as sa
from alembic import op

revision = "0031_tidy"
down_revision = "0030_results"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "kpi_snapshot",
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("computed_at", sa.DateTime(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["program_id"], ["program.id"], name=op.f("fk_kpi_snapshot_program_id_program")
        ),
        sa.PrimaryKeyConstraint("program_id", name=op.f("pk_kpi_snapshot")),
    )
    # A batch: SQLite adds a foreign key only by copying the (small) table.
    with op.batch_alter_table("membership_sale") as batch:
        batch.add_column(sa.Column("credit_kopecks", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("previous_plan_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("previous_ends_at", sa.DateTime(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_membership_sale_previous_plan_id_membership_plan"),
            "membership_plan",
            ["previous_plan_id"],
            ["id"],
        )


def downgrade():
    op.drop_table("kpi_snapshot")
    with op.batch_alter_table("membership_sale") as batch:
        batch.drop_constraint(
            op.f("fk_membership_sale_previous_plan_id_membership_plan"),
            type_="foreignkey",
        )
        for column in ("previous_ends_at", "previous_plan_id", "credit_kopecks"):
            batch.drop_column(column)
