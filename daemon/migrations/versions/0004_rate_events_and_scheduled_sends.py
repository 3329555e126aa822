"""Rate events (the [limits] caps, issue 13) and scheduled sends (the meeting digest, issue 19).

Revision ID: 0004
Revises: 0003
Created: 2026-12-02 10:37:59.241567
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('rateevent',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(), nullable=False),
    sa.Column('address', sa.String(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('rateevent', schema=None) as batch_op:
        batch_op.create_index('ix_rateevent_kind_address_at', ['kind', 'address', 'at'], unique=False)

    op.create_table('scheduledsend',
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('last_slot', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sent_by', sa.String(), nullable=False),
    sa.Column('message_pk', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('name')
    )


def downgrade() -> None:
    op.drop_table('scheduledsend')
    with op.batch_alter_table('rateevent', schema=None) as batch_op:
        batch_op.drop_index('ix_rateevent_kind_address_at')

    op.drop_table('rateevent')
