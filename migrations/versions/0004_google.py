"""Google Wallet: classes and objects sent, messages, save/delete callbacks

Revision ID: 0004_google
Revises: 0001
Create Date: 2026-11-25 11:10:11

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004_google'
down_revision = '0003_pos'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('google_callback',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('nonce', sa.String(length=200), nullable=False),
    sa.Column('object_id', sa.String(length=200), nullable=False),
    sa.Column('class_id', sa.String(length=200), nullable=False),
    sa.Column('event_type', sa.String(length=10), nullable=False),
    sa.Column('exp_time_ms', sa.BigInteger(), nullable=False),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_google_callback')),
    sa.UniqueConstraint('nonce', name=op.f('uq_google_callback_nonce'))
    )
    with op.batch_alter_table('google_callback', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_google_callback_object_id'), ['object_id'], unique=False)

    op.create_table('google_class',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('program_id', sa.Integer(), nullable=False),
    sa.Column('class_id', sa.String(length=200), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('synced_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['program_id'], ['program.id'], name=op.f('fk_google_class_program_id_program')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_google_class')),
    sa.UniqueConstraint('class_id', name=op.f('uq_google_class_class_id')),
    sa.UniqueConstraint('program_id', name=op.f('uq_google_class_program_id'))
    )
    op.create_table('google_object',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('object_id', sa.String(length=200), nullable=False),
    sa.Column('class_id', sa.String(length=200), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('body', sa.JSON(), nullable=False),
    sa.Column('notified_at', sa.JSON(), nullable=False),
    sa.Column('saved', sa.Boolean(), nullable=False),
    sa.Column('save_count', sa.Integer(), nullable=False),
    sa.Column('delete_count', sa.Integer(), nullable=False),
    sa.Column('last_event_ms', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('synced_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], name=op.f('fk_google_object_member_id_member')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_google_object')),
    sa.UniqueConstraint('member_id', name=op.f('uq_google_object_member_id')),
    sa.UniqueConstraint('object_id', name=op.f('uq_google_object_object_id'))
    )
    op.create_table('google_message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('google_object_id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.String(length=80), nullable=False),
    sa.Column('header', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('message_type', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['google_object_id'], ['google_object.id'], name=op.f('fk_google_message_google_object_id_google_object')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_google_message'))
    )
    with op.batch_alter_table('google_message', schema=None) as batch_op:
        batch_op.create_index('ix_google_message_object', ['google_object_id', 'id'], unique=False)



def downgrade():
    with op.batch_alter_table('google_message', schema=None) as batch_op:
        batch_op.drop_index('ix_google_message_object')

    op.drop_table('google_message')
    op.drop_table('google_object')
    op.drop_table('google_class')
    with op.batch_alter_table('google_callback', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_google_callback_object_id'))

    op.drop_table('google_callback')
