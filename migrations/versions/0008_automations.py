"""automations, products and back-in-stock subscriptions, store refreshes, wallet events

Revision ID: 0008_automations
Revises: 0005_messaging
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_automations"
down_revision = "0007_campaigns"
branch_labels = None
depends_on = None


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}")
    )


def upgrade():
    op.create_table(
        "automation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=30), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("last_run_at", sa.DateTime(), nullable=True),
        sa.Column("last_result", sa.JSON(), nullable=False),
        _fk("automation", "program_id", "program"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation")),
        sa.UniqueConstraint(
            "program_id", "name", name=op.f("uq_automation_program_id")
        ),
    )
    op.create_table(
        "product",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("name", sa.JSON(), nullable=False),
        sa.Column("sizes", sa.JSON(), nullable=False),
        sa.Column("store_ids", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        _fk("product", "program_id", "program"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product")),
        sa.UniqueConstraint("program_id", "sku", name=op.f("uq_product_program_id")),
    )
    op.create_table(
        "product_subscription",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("size", sa.String(length=20), nullable=True),
        sa.Column("store_id", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("restock_size", sa.String(length=20), nullable=True),
        sa.Column("restock_store_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("restocked_at", sa.DateTime(), nullable=True),
        sa.Column("fulfilled_at", sa.DateTime(), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(), nullable=True),
        _fk("product_subscription", "program_id", "program"),
        _fk("product_subscription", "product_id", "product"),
        _fk("product_subscription", "member_id", "member"),
        _fk("product_subscription", "store_id", "store"),
        _fk("product_subscription", "restock_store_id", "store"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_subscription")),
    )
    op.create_index(
        "ix_product_subscription_product_status",
        "product_subscription",
        ["product_id", "status"],
    )
    op.create_index(
        "ix_product_subscription_member", "product_subscription", ["member_id"]
    )
    op.create_table(
        "store_refresh",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("cursor", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("processed", sa.Integer(), nullable=False),
        sa.Column("refreshed", sa.Integer(), nullable=False),
        sa.Column("stores_before", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        _fk("store_refresh", "program_id", "program"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_store_refresh")),
    )
    op.create_index(
        op.f("ix_store_refresh_program_id"), "store_refresh", ["program_id"]
    )
    op.create_table(
        "wallet_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("pass_id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=10), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        _fk("wallet_event", "program_id", "program"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallet_event")),
    )
    op.create_index(
        "ix_wallet_event_program_created", "wallet_event", ["program_id", "created_at"]
    )


def downgrade():
    op.drop_index("ix_wallet_event_program_created", table_name="wallet_event")
    op.drop_table("wallet_event")
    op.drop_index(op.f("ix_store_refresh_program_id"), table_name="store_refresh")
    op.drop_table("store_refresh")
    op.drop_index("ix_product_subscription_member", table_name="product_subscription")
    op.drop_index(
        "ix_product_subscription_product_status", table_name="product_subscription"
    )
    op.drop_table("product_subscription")
    op.drop_table("product")
    op.drop_table("automation")
