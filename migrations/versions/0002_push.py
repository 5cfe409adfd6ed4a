"""push outbox

Revision ID: 0002_push
Revises: 0001
Create Date: 2026-11-25 11:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002_push'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('push_delivery',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('device_id', sa.Integer(), nullable=True),
    sa.Column('pass_id', sa.Integer(), nullable=True),
    sa.Column('campaign_id', sa.Integer(), nullable=True),
    sa.Column('topic', sa.String(length=120), nullable=False),
    sa.Column('push_token', sa.String(length=256), nullable=False),
    sa.Column('pending_key', sa.String(length=400), nullable=True),
    sa.Column('generation', sa.Integer(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(), nullable=False),
    sa.Column('lease_owner', sa.String(length=64), nullable=True),
    sa.Column('lease_expires_at', sa.DateTime(), nullable=True),
    sa.Column('last_reason', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('sent_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_push_delivery')),
    sa.UniqueConstraint('pending_key', name=op.f('uq_push_delivery_pending_key'))
    )
    with op.batch_alter_table('push_delivery', schema=None) as batch_op:
        batch_op.create_index('ix_push_delivery_due', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index('ix_push_delivery_pass', ['pass_id'], unique=False)
        batch_op.create_index('ix_push_delivery_campaign', ['campaign_id'], unique=False)


def downgrade():
    with op.batch_alter_table('push_delivery', schema=None) as batch_op:
        batch_op.drop_index('ix_push_delivery_campaign')
        batch_op.drop_index('ix_push_delivery_pass')
        batch_op.drop_index('ix_push_delivery_due')

    op.drop_table('push_delivery')
