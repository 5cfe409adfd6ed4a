"""program images (uploaded icon, logo, strip)

Revision ID: 0010_settings
Revises: 0008_automations
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_settings"
down_revision = "0009_bulk"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "program_image",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["program_id"],
            ["program.id"],
            name=op.f("fk_program_image_program_id_program"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_program_image")),
        sa.UniqueConstraint(
            "program_id", "kind", name=op.f("uq_program_image_program_id")
        ),
    )


def downgrade():
    op.drop_table("program_image")
