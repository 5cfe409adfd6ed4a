"""offer, member_offer; campaign.offer_id

Revision ID: 0019_offers
Revises: 0017_signup
"""

import sqlalchemy as sa
from alembic import op

revision = "0019_offers"
down_revision = "0018_errors"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "offer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("cap_kopecks", sa.BigInteger(), nullable=True),
        sa.Column("min_kopecks", sa.BigInteger(), nullable=False),
        sa.Column("combinable", sa.Boolean(), nullable=False),
        sa.Column("valid_days", sa.Integer(), nullable=True),
        sa.Column("valid_from", sa.DateTime(), nullable=True),
        sa.Column("valid_until", sa.DateTime(), nullable=True),
        sa.Column("title", sa.JSON(), nullable=False),
        sa.Column("terms", sa.JSON(), nullable=False),
        sa.Column("archived_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["program_id"], ["program.id"], name=op.f("fk_offer_program_id_program")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_offer")),
    )
    op.create_index("ix_offer_program_id_id", "offer", ["program_id", "id"])
    op.create_table(
        "member_offer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("offer_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=120), nullable=False),
        sa.Column("source_kind", sa.String(length=12), nullable=False),
        sa.Column("source_ref", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("issued_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("redeemed_at", sa.DateTime(), nullable=True),
        sa.Column("transaction_id", sa.Integer(), nullable=True),
        sa.Column("discount_kopecks", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_member_offer_member_id_member")
        ),
        sa.ForeignKeyConstraint(
            ["offer_id"], ["offer.id"], name=op.f("fk_member_offer_offer_id_offer")
        ),
        sa.ForeignKeyConstraint(
            ["program_id"],
            ["program.id"],
            name=op.f("fk_member_offer_program_id_program"),
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["pos_transaction.id"],
            name=op.f("fk_member_offer_transaction_id_pos_transaction"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_offer")),
        sa.UniqueConstraint(
            "member_id", "source", name=op.f("uq_member_offer_member_id")
        ),
    )
    op.create_index(
        "ix_member_offer_member_status", "member_offer", ["member_id", "status"]
    )
    op.create_index(
        "ix_member_offer_offer_status", "member_offer", ["offer_id", "status"]
    )
    op.create_index(
        "ix_member_offer_status_expires", "member_offer", ["status", "expires_at"]
    )
    op.create_index(
        op.f("ix_member_offer_transaction_id"), "member_offer", ["transaction_id"]
    )
    op.add_column("campaign", sa.Column("offer_id", sa.Integer(), nullable=True))


def downgrade():
    with op.batch_alter_table("campaign") as batch:
        batch.drop_column("offer_id")
    op.drop_table("member_offer")
    op.drop_table("offer")
