"""communities, their screened and venting channels, screening opt-outs, moderator alerts

Revision ID: 0007
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0005'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('communities',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('platform', sa.String(length=16), nullable=False),
    sa.Column('community_id', sa.String(length=32), nullable=False),
    sa.Column('alert_channel_id', sa.String(length=32), nullable=True),
    sa.Column('moderator_role_id', sa.String(length=32), nullable=True),
    sa.Column('country', sa.String(length=2), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_communities')),
    sa.UniqueConstraint('platform', 'community_id', name='uq_communities_platform')
    )
    op.create_table('community_channels',
    sa.Column('community', _ID, nullable=False),
    sa.Column('channel_id', sa.String(length=32), nullable=False),
    sa.Column('mode', sa.String(length=8), nullable=False),
    sa.ForeignKeyConstraint(['community'], ['communities.id'], name=op.f('fk_community_channels_community_communities'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('community', 'channel_id', name=op.f('pk_community_channels'))
    )
    op.create_table('screening_optouts',
    sa.Column('user_id', _ID, nullable=False),
    sa.Column('community', _ID, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['community'], ['communities.id'], name=op.f('fk_screening_optouts_community_communities'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_screening_optouts_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'community', name=op.f('pk_screening_optouts'))
    )
    op.create_table('moderator_alerts',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('user_id', _ID, nullable=False),
    sa.Column('community', _ID, nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('share', sa.String(length=8), nullable=True),
    sa.Column('fields_enc', sa.LargeBinary(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('alert_channel_id', sa.String(length=32), nullable=True),
    sa.Column('message_id', sa.String(length=32), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('repinged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('taken_by', sa.String(length=32), nullable=True),
    sa.Column('taken_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_by', sa.String(length=32), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['community'], ['communities.id'], name=op.f('fk_moderator_alerts_community_communities'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_moderator_alerts_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_moderator_alerts'))
    )
    op.create_index('ix_moderator_alerts_user_created', 'moderator_alerts', ['user_id', 'created_at'], unique=False)
    op.create_index('ix_moderator_alerts_status_sent', 'moderator_alerts', ['status', 'sent_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_moderator_alerts_status_sent', table_name='moderator_alerts')
    op.drop_index('ix_moderator_alerts_user_created', table_name='moderator_alerts')
    op.drop_table('moderator_alerts')
    op.drop_table('screening_optouts')
    op.drop_table('community_channels')
    op.drop_table('communities')
