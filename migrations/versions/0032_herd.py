"""signed_pass.certificate: the fingerprint of the certificate that signed a row

A cached pass signed with a replaced pass certificate is never served: the web
service and the push worker's sign-ahead compare the row's fingerprint with the
current signer's. Existing rows get '' and so are re-signed on their next use.

Revision ID: 0032_herd
Revises: 0031_tidy
"""

import sqlalchemy as sa
from alembic import op

revision = "0032_herd"
down_revision = "0031_tidy"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("signed_pass") as batch:
        batch.add_column(
            sa.Column("certificate", sa.String(64), nullable=False, server_default="")
        )


def downgrade():
    with op.batch_alter_table("signed_pass") as batch:
        batch.drop_column("certificate")
