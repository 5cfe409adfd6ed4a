"""signed_pass: no foreign key to pass. The cache row of a pass is written by
every first signing (the herd after a campaign), and the key's check locked the
pass row each time (a tuple lock written to the pass's heap page); passes are
never deleted, and the row is written for a pass the same transaction read

Revision ID: 0037_signed
Revises: 0036_window
"""

from alembic import op

revision = "0037_signed"
down_revision = "0036_window"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("signed_pass") as batch:
        batch.drop_constraint("fk_signed_pass_pass_id_pass", type_="foreignkey")


def downgrade():
    with op.batch_alter_table("signed_pass") as batch:
        batch.create_foreign_key(
            "fk_signed_pass_pass_id_pass",
            "pass",
            ["pass_id"],
            ["id"],
            ondelete="CASCADE",
        )
