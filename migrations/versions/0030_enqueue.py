"""member_offer and assignment: no foreign keys to program and offer (the
campaign enqueue checked them once per row: ~30 % of those INSERTs' time at 1M
on PostgreSQL; programs and offers are never deleted, and the rows are written
from the member and offer rows the statement reads)

Revision ID: 0030_enqueue
Revises: 0029_scale
"""

from alembic import op

revision = "0030_enqueue"
down_revision = "0029_scale"
branch_labels = None
depends_on = None

DROPPED = (
    ("member_offer", "fk_member_offer_program_id_program", "program_id", "program"),
    ("member_offer", "fk_member_offer_offer_id_offer", "offer_id", "offer"),
    ("assignment", "fk_assignment_program_id_program", "program_id", "program"),
)


def upgrade():
    for table, name, _, _ in DROPPED:
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(name, type_="foreignkey")


def downgrade():
    for table, name, column, referred in DROPPED:
        with op.batch_alter_table(table) as batch:
            batch.create_foreign_key(name, referred, [column], ["id"])


