"""journal entries, corrected check-in answers, summary profiles

Revision ID: 0005
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0003'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('journal_entries',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('user_id', _ID, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('text_enc', sa.LargeBinary(), nullable=False),
    sa.Column('kept', sa.Boolean(), nullable=False),
    sa.Column('in_summary', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_journal_entries_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_journal_entries'))
    )
    op.create_index('ix_journal_entries_user_created', 'journal_entries', ['user_id', 'created_at'], unique=False)
    op.create_table('checkin_answer_versions',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('checkin_id', _ID, nullable=False),
    sa.Column('item_id', sa.String(length=32), nullable=False),
    sa.Column('user_id', _ID, nullable=False),
    sa.Column('value_enc', sa.LargeBinary(), nullable=False),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('replaced_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['checkin_id'], ['checkins.id'], name=op.f('fk_checkin_answer_versions_checkin_id_checkins'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_checkin_answer_versions_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_checkin_answer_versions'))
    )
    op.create_table('summary_profiles',
    sa.Column('user_id', _ID, nullable=False),
    sa.Column('name_enc', sa.LargeBinary(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_summary_profiles_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_summary_profiles'))
    )


def downgrade() -> None:
    op.drop_table('summary_profiles')
    op.drop_table('checkin_answer_versions')
    op.drop_index('ix_journal_entries_user_created', table_name='journal_entries')
    op.drop_table('journal_entries')
