"""Paid premium membership: membership_plan, membership_sale, and the member's
current membership (member.membership_plan_id, member.membership_ends_at)

Revision ID: 0025_premium
Revises: 0024_mechanics
"""

import sqlalchemy as sa
from alembic import op

revision = "0025_premium"
down_revision = "0024_mechanics"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "membership_plan",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.JSON(), nullable=False),
        sa.Column("price_kopecks", sa.BigInteger(), nullable=False),
        sa.Column("period_days", sa.Integer(), nullable=False),
        sa.Column("earn_bonus_percent", sa.Integer(), nullable=False),
        sa.Column("perks", sa.JSON(), nullable=False),
        sa.Column("welcome_offer_id", sa.Integer(), nullable=True),
        sa.Column("archived_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["program_id"],
            ["program.id"],
            name=op.f("fk_membership_plan_program_id_program"),
        ),
        sa.ForeignKeyConstraint(
            ["welcome_offer_id"],
            ["offer.id"],
            name=op.f("fk_membership_plan_welcome_offer_id_offer"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_membership_plan")),
        sa.UniqueConstraint(
            "program_id", "code", name=op.f("uq_membership_plan_program_id")
        ),
    )
    op.create_table(
        "membership_sale",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=True),
        sa.Column("api_key_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("idempotency_key", sa.String(length=100), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("amount_kopecks", sa.BigInteger(), nullable=False),
        sa.Column("starts_at", sa.DateTime(), nullable=False),
        sa.Column("ends_at", sa.DateTime(), nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.Column("refunded_at", sa.DateTime(), nullable=True),
        sa.Column("refund_response", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["program_id"],
            ["program.id"],
            name=op.f("fk_membership_sale_program_id_program"),
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_membership_sale_member_id_member")
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["membership_plan.id"],
            name=op.f("fk_membership_sale_plan_id_membership_plan"),
        ),
        sa.ForeignKeyConstraint(
            ["store_id"], ["store.id"], name=op.f("fk_membership_sale_store_id_store")
        ),
        sa.ForeignKeyConstraint(
            ["api_key_id"],
            ["api_key.id"],
            name=op.f("fk_membership_sale_api_key_id_api_key"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_membership_sale")),
        sa.UniqueConstraint(
            "api_key_id",
            "idempotency_key",
            name=op.f("uq_membership_sale_api_key_id"),
        ),
    )
    op.create_index(
        "ix_membership_sale_member_id", "membership_sale", ["member_id", "id"]
    )
    op.create_index(
        "ix_membership_sale_program_created",
        "membership_sale",
        ["program_id", "created_at"],
    )
    # Plain ADD COLUMN (no table copy: other tables reference member).
    op.add_column("member", sa.Column("membership_plan_id", sa.Integer(), nullable=True))
    op.add_column("member", sa.Column("membership_ends_at", sa.DateTime(), nullable=True))


def downgrade():
    for column in ("membership_ends_at", "membership_plan_id"):
        op.drop_column("member", column)
    op.drop_index("ix_membership_sale_program_created", table_name="membership_sale")
    op.drop_index("ix_membership_sale_member_id", table_name="membership_sale")
    op.drop_table("membership_sale")
    op.drop_table("membership_plan")
