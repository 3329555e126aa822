"""Baseline: the registry of release 0.1.0, the last made by `create_all` (a database made by it
without a revision is stamped with this one by `sakspost db upgrade`).

Revision ID: 0001
Revises: 
Created: 2026-12-02 09:29:32.754689
"""

from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('case',
    sa.Column('id', sa.String(length=20), nullable=False),
    sa.Column('kind', sa.String(), nullable=False),
    sa.Column('state', sa.String(), nullable=False),
    sa.Column('severity', sa.String(), nullable=True),
    sa.Column('reporter', sa.String(), nullable=False),
    sa.Column('reporter_name', sa.String(), nullable=False),
    sa.Column('subject', sa.String(), nullable=False),
    sa.Column('actor', sa.String(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('service', sa.String(), nullable=False),
    sa.Column('discovered', sa.String(), nullable=False),
    sa.Column('contact', sa.String(), nullable=False),
    sa.Column('lead_actor', sa.String(), nullable=True),
    sa.Column('nhn_reference', sa.String(), nullable=True),
    sa.Column('nhn_classification', sa.String(), nullable=True),
    sa.Column('escalated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('escalated_severity', sa.String(), nullable=True),
    sa.Column('channel', sa.String(), nullable=False),
    sa.Column('info_requested_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolution', sa.Text(), nullable=False),
    sa.Column('form_type', sa.String(), nullable=True),
    sa.Column('owner_actor', sa.String(), nullable=True),
    sa.Column('answering_actor', sa.String(), nullable=True),
    sa.Column('received_at', sa.Date(), nullable=True),
    sa.Column('deadline', sa.Date(), nullable=True),
    sa.Column('flags', sa.String(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('case', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_case_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_case_nhn_reference'), ['nhn_reference'], unique=False)
        batch_op.create_index(batch_op.f('ix_case_state'), ['state'], unique=False)

    op.create_table('casecounter',
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('last', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('year')
    )
    op.create_table('mailboxstate',
    sa.Column('name', sa.String(), nullable=False),
    sa.Column('uidvalidity', sa.Integer(), nullable=True),
    sa.Column('last_uid', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(), nullable=False),
    sa.Column('last_error', sa.String(), nullable=False),
    sa.Column('since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ingested', sa.Integer(), nullable=False),
    sa.Column('duplicates', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('caseactor',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.String(), nullable=False),
    sa.Column('actor_id', sa.String(), nullable=False),
    sa.Column('role', sa.String(), nullable=False),
    sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('case_id', 'actor_id')
    )
    with op.batch_alter_table('caseactor', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_caseactor_case_id'), ['case_id'], unique=False)

    op.create_table('citizenform',
    sa.Column('case_id', sa.String(length=20), nullable=False),
    sa.Column('channel', sa.String(), nullable=False),
    sa.Column('reply_address', sa.String(), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('identity_number', sa.String(), nullable=False),
    sa.Column('name', sa.String(), nullable=False),
    sa.Column('address', sa.String(), nullable=False),
    sa.Column('phone', sa.String(), nullable=False),
    sa.Column('email', sa.String(), nullable=False),
    sa.Column('institution', sa.String(), nullable=False),
    sa.Column('period', sa.String(), nullable=False),
    sa.Column('free_text', sa.Text(), nullable=False),
    sa.Column('fields_json', sa.Text(), nullable=False),
    sa.Column('missing', sa.String(), nullable=False),
    sa.Column('duplicate_key', sa.String(), nullable=False),
    sa.Column('routed_by', sa.String(), nullable=False),
    sa.Column('original_deadline', sa.Date(), nullable=True),
    sa.Column('extension_months', sa.Integer(), nullable=False),
    sa.Column('extension_reason', sa.Text(), nullable=False),
    sa.Column('reminders_sent', sa.String(), nullable=False),
    sa.Column('source_confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('source_confirmation', sa.Text(), nullable=False),
    sa.Column('refused', sa.Boolean(), nullable=False),
    sa.Column('refusal_reason', sa.Text(), nullable=False),
    sa.Column('statsforvalter_notice', sa.Boolean(), nullable=False),
    sa.Column('answered_on', sa.Date(), nullable=True),
    sa.Column('answered_by', sa.String(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], ),
    sa.PrimaryKeyConstraint('case_id')
    )
    with op.batch_alter_table('citizenform', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_citizenform_duplicate_key'), ['duplicate_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_citizenform_identity_number'), ['identity_number'], unique=False)
        batch_op.create_index(batch_op.f('ix_citizenform_submitted_at'), ['submitted_at'], unique=False)

    op.create_table('message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('direction', sa.String(), nullable=False),
    sa.Column('fingerprint', sa.String(), nullable=False),
    sa.Column('message_id', sa.String(), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(), nullable=False),
    sa.Column('mail_from', sa.String(), nullable=False),
    sa.Column('rcpt_tos', sa.String(), nullable=False),
    sa.Column('roles', sa.String(), nullable=False),
    sa.Column('status', sa.String(), nullable=False),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('processed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('case_id', sa.String(), nullable=True),
    sa.Column('classification', sa.String(), nullable=False),
    sa.Column('subject', sa.String(), nullable=False),
    sa.Column('from_addr', sa.String(), nullable=False),
    sa.Column('in_reply_to', sa.String(), nullable=False),
    sa.Column('references', sa.Text(), nullable=False),
    sa.Column('headers', sa.Text(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('fingerprint')
    )
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_message_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_message_direction'), ['direction'], unique=False)
        batch_op.create_index(batch_op.f('ix_message_message_id'), ['message_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_message_status'), ['status'], unique=False)

    op.create_table('attachment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_pk', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(), nullable=False),
    sa.Column('content_type', sa.String(), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['message_pk'], ['message.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('attachment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_attachment_message_pk'), ['message_pk'], unique=False)

    op.create_table('auditevent',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.String(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('who', sa.String(), nullable=False),
    sa.Column('action', sa.String(), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('message_pk', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], ),
    sa.ForeignKeyConstraint(['message_pk'], ['message.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('auditevent', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_auditevent_case_id'), ['case_id'], unique=False)

    op.create_table('outboxmail',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_pk', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.String(), nullable=True),
    sa.Column('purpose', sa.String(), nullable=False),
    sa.Column('mail_from', sa.String(), nullable=False),
    sa.Column('recipients', sa.String(), nullable=False),
    sa.Column('status', sa.String(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.String(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], ),
    sa.ForeignKeyConstraint(['message_pk'], ['message.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('message_pk')
    )
    with op.batch_alter_table('outboxmail', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outboxmail_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_outboxmail_next_attempt_at'), ['next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_outboxmail_status'), ['status'], unique=False)

    op.create_table('rawmessage',
    sa.Column('message_pk', sa.Integer(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['message_pk'], ['message.id'], ),
    sa.PrimaryKeyConstraint('message_pk')
    )


def downgrade() -> None:
    op.drop_table('rawmessage')
    with op.batch_alter_table('outboxmail', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outboxmail_status'))
        batch_op.drop_index(batch_op.f('ix_outboxmail_next_attempt_at'))
        batch_op.drop_index(batch_op.f('ix_outboxmail_case_id'))

    op.drop_table('outboxmail')
    with op.batch_alter_table('auditevent', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_auditevent_case_id'))

    op.drop_table('auditevent')
    with op.batch_alter_table('attachment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_attachment_message_pk'))

    op.drop_table('attachment')
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_message_status'))
        batch_op.drop_index(batch_op.f('ix_message_message_id'))
        batch_op.drop_index(batch_op.f('ix_message_direction'))
        batch_op.drop_index(batch_op.f('ix_message_case_id'))

    op.drop_table('message')
    with op.batch_alter_table('citizenform', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_citizenform_submitted_at'))
        batch_op.drop_index(batch_op.f('ix_citizenform_identity_number'))
        batch_op.drop_index(batch_op.f('ix_citizenform_duplicate_key'))

    op.drop_table('citizenform')
    with op.batch_alter_table('caseactor', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_caseactor_case_id'))

    op.drop_table('caseactor')
    op.drop_table('mailboxstate')
    op.drop_table('casecounter')
    with op.batch_alter_table('case', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_state'))
        batch_op.drop_index(batch_op.f('ix_case_nhn_reference'))
        batch_op.drop_index(batch_op.f('ix_case_kind'))
        batch_op.drop_index(batch_op.f('ix_case_created_at'))

    op.drop_table('case')
