"""The purge record: one row per `sakspost purge` (cut-off, who, case ids, row counts).

Revision ID: 0002
Revises: 0001
Created: 2026-12-02 09:31:46.383999
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('purgerecord',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('who', sa.String(), nullable=False),
    sa.Column('closed_before', sa.DateTime(timezone=True), nullable=False),
    sa.Column('case_ids', sa.Text(), nullable=False),
    sa.Column('counts', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )


def downgrade() -> None:
    op.drop_table('purgerecord')
