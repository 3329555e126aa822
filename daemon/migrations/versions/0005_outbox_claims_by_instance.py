"""Outbox claims belong to an instance (issue 15): `outboxmail.claimed_by`.

Revision ID: 0005
Revises: 0004
Created: 2026-12-02 14:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outboxmail', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_by', sa.String(), nullable=False, server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('outboxmail', schema=None) as batch_op:
        batch_op.drop_column('claimed_by')
