"""member_offer and assignment: no foreign keys to program, offer and member
(the campaign enqueue checked them once per row: ~40 % of those INSERTs' time
at 1M on PostgreSQL; none is ever deleted, and the rows are written from the
member and offer rows the statement reads); the transaction and
automation indexes partial, so a campaign's rows have no entries there

Revision ID: 0034_enqueue
Revises: 0033_pushes
"""

import sqlalchemy as sa
from alembic import op

revision = "0034_enqueue"
down_revision = "0033_pushes"
branch_labels = None
depends_on = None

DROPPED = (
    ("member_offer", "fk_member_offer_program_id_program", "program_id", "program"),
    ("member_offer", "fk_member_offer_offer_id_offer", "offer_id", "offer"),
    ("member_offer", "fk_member_offer_member_id_member", "member_id", "member"),
    ("assignment", "fk_assignment_program_id_program", "program_id", "program"),
    ("assignment", "fk_assignment_member_id_member", "member_id", "member"),
)


# (index, table, columns, the column the index keeps only when set)
PARTIAL = (
    (
        "ix_member_offer_transaction_id",
        "member_offer",
        ["transaction_id"],
        "transaction_id",
    ),
    (
        "ix_assignment_automation",
        "assignment",
        ["program_id", "automation", "created_at"],
        "automation",
    ),
)


def upgrade():
    for table, name, _, _ in DROPPED:
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(name, type_="foreignkey")
    for name, table, columns, column in PARTIAL:
        where = sa.text(f"{column} IS NOT NULL")
        op.drop_index(name, table_name=table)
        op.create_index(
            name, table, columns, postgresql_where=where, sqlite_where=where
        )


def downgrade():
    for name, table, columns, _ in PARTIAL:
        op.drop_index(name, table_name=table)
        op.create_index(name, table, columns)
    for table, name, column, referred in DROPPED:
        with op.batch_alter_table(table) as batch:
            batch.create_foreign_key(name, referred, [column], ["id"])


