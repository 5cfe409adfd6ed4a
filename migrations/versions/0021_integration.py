"""member_import (CSV import jobs), card_alias (old plastic card numbers),
webhook_endpoint and webhook_delivery (signed webhooks), pos_transaction.channel

Revision ID: 0021_integration
Revises: 0017_signup
"""

import sqlalchemy as sa
from alembic import op

revision = "0021_integration"
down_revision = "0020_results"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "member_import",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("api_key_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("owned", sa.Boolean(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("delimiter", sa.String(length=1), nullable=False),
        sa.Column("columns", sa.JSON(), nullable=False),
        sa.Column("rows_ok", sa.Integer(), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("message", sa.String(length=200), nullable=False),
        sa.Column("invite", sa.Boolean(), nullable=False),
        sa.Column("invite_cursor", sa.Integer(), nullable=False),
        sa.Column("invited", sa.Integer(), nullable=False),
        sa.Column("invite_done", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["program_id"],
            ["program.id"],
            name=op.f("fk_member_import_program_id_program"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_import")),
    )
    op.create_index(
        "ix_member_import_status", "member_import", ["status"], unique=False
    )
    op.create_index(
        op.f("ix_member_import_program_id"),
        "member_import",
        ["program_id"],
        unique=False,
    )
    op.create_table(
        "card_alias",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_card_alias_member_id_member")
        ),
        sa.ForeignKeyConstraint(
            ["program_id"],
            ["program.id"],
            name=op.f("fk_card_alias_program_id_program"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_card_alias")),
        sa.UniqueConstraint(
            "program_id", "number", name=op.f("uq_card_alias_program_id")
        ),
    )
    op.create_index(
        op.f("ix_card_alias_member_id"), "card_alias", ["member_id"], unique=False
    )

    # "store" (a till) or "online" (a web shop's key, role shop).
    op.add_column(
        "pos_transaction",
        sa.Column(
            "channel", sa.String(length=10), nullable=False, server_default="store"
        ),
    )
    op.create_table(
        "webhook_endpoint",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("secret", sa.String(length=80), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("disabled_at", sa.DateTime(), nullable=True),
        sa.Column("disabled_reason", sa.String(length=200), nullable=False),
        sa.Column("api_key_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["program_id"],
            ["program.id"],
            name=op.f("fk_webhook_endpoint_program_id_program"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_endpoint")),
    )
    op.create_index(
        op.f("ix_webhook_endpoint_program_id"),
        "webhook_endpoint",
        ["program_id"],
        unique=False,
    )
    op.create_table(
        "webhook_delivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("endpoint_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=40), nullable=False),
        sa.Column("event", sa.String(length=40), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("order_key", sa.String(length=40), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("leased_until", sa.DateTime(), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_reason", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["webhook_endpoint.id"],
            name=op.f("fk_webhook_delivery_endpoint_id_webhook_endpoint"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_delivery")),
    )
    op.create_index(
        "ix_webhook_delivery_queue",
        "webhook_delivery",
        ["endpoint_id", "order_key", "status", "id"],
        unique=False,
    )
    op.create_index(
        "ix_webhook_delivery_due",
        "webhook_delivery",
        ["status", "next_attempt_at"],
        unique=False,
    )


def downgrade():
    with op.batch_alter_table("pos_transaction") as batch:
        batch.drop_column("channel")
    op.drop_index("ix_webhook_delivery_due", table_name="webhook_delivery")
    op.drop_index("ix_webhook_delivery_queue", table_name="webhook_delivery")
    op.drop_table("webhook_delivery")
    op.drop_index(op.f("ix_webhook_endpoint_program_id"), table_name="webhook_endpoint")
    op.drop_table("webhook_endpoint")
    op.drop_index(op.f("ix_card_alias_member_id"), table_name="card_alias")
    op.drop_table("card_alias")
    op.drop_index(op.f("ix_member_import_program_id"), table_name="member_import")
    op.drop_index("ix_member_import_status", table_name="member_import")
    op.drop_table("member_import")
