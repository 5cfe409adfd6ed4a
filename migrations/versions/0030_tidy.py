"""Membership plan changes: membership_sale.credit_kopecks, previous_plan_id and
previous_ends_at (a change credits the unused period; its refund restores the
plan it replaced)

Revision ID: 0030_tidy
Revises: 0029_scale
"""

import sqlalchemy as sa
from alembic import op

revision = "0030_tidy"
down_revision = "0029_scale"
branch_labels = None
depends_on = None


def upgrade():
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
    with op.batch_alter_table("membership_sale") as batch:
        batch.drop_constraint(
            op.f("fk_membership_sale_previous_plan_id_membership_plan"),
            type_="foreignkey",
        )
        for column in ("previous_ends_at", "previous_plan_id", "credit_kopecks"):
            batch.drop_column(column)
