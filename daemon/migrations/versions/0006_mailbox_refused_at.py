"""A mailbox whose login is refused tells the handlers once (issue 30): `mailboxstate.refused_at`.

Revision ID: 0006
Revises: 0005
Created: 2026-12-07 12:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('mailboxstate', schema=None) as batch_op:
        batch_op.add_column(sa.Column('refused_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('mailboxstate', schema=None) as batch_op:
        batch_op.drop_column('refused_at')
