"""content versions, admin roles, audit log, announcements

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

_UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table('content_versions',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('published_by', sa.String(length=96), nullable=False),
    sa.Column('published_at', _UTC, nullable=False),
    sa.Column('note', sa.String(length=500), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('restored_from', sa.Integer(), nullable=True),
    sa.Column('validation', sa.JSON(), nullable=False),
    sa.Column('changes', sa.JSON(), nullable=False),
    sa.Column('file_count', sa.Integer(), nullable=False),
    sa.Column('total_bytes', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_content_versions'))
    )
    op.create_table('content_files',
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('path', sa.String(length=255), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['version'], ['content_versions.id'], name=op.f('fk_content_files_version_content_versions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('version', 'path', name=op.f('pk_content_files'))
    )
    op.create_table('content_live',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('changed_at', _UTC, nullable=False),
    sa.Column('changed_by', sa.String(length=96), nullable=False),
    sa.ForeignKeyConstraint(['version'], ['content_versions.id'], name=op.f('fk_content_live_version_content_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_content_live'))
    )
    op.create_table('content_loads',
    sa.Column('process', sa.String(length=96), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('detail', sa.String(length=500), nullable=False),
    sa.Column('at', _UTC, nullable=False),
    sa.Column('seen_at', _UTC, nullable=False),
    sa.PrimaryKeyConstraint('process', 'version', name=op.f('pk_content_loads'))
    )
    op.create_table('admin_roles',
    sa.Column('platform', sa.String(length=16), nullable=False),
    sa.Column('platform_user_id', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=96), nullable=False),
    sa.Column('title', sa.String(length=96), nullable=False),
    sa.Column('granted_by', sa.String(length=96), nullable=False),
    sa.Column('granted_at', _UTC, nullable=False),
    sa.PrimaryKeyConstraint('platform', 'platform_user_id', 'role', name=op.f('pk_admin_roles'))
    )
    op.create_table('admin_audit',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('at', _UTC, nullable=False),
    sa.Column('actor', sa.String(length=96), nullable=False),
    sa.Column('action', sa.String(length=24), nullable=False),
    sa.Column('ok', sa.Boolean(), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_admin_audit'))
    )
    op.create_index('ix_admin_audit_at', 'admin_audit', ['at'], unique=False)
    op.create_table('announcements',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_by', sa.String(length=96), nullable=False),
    sa.Column('created_at', _UTC, nullable=False),
    sa.Column('audience', sa.String(length=48), nullable=False),
    sa.Column('text_sha256', sa.String(length=64), nullable=False),
    sa.Column('queued', sa.Integer(), nullable=False),
    sa.Column('unreachable', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_announcements'))
    )
    op.create_table('announcement_optout',
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('at', _UTC, nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_announcement_optout_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_announcement_optout'))
    )


def downgrade() -> None:
    op.drop_table('announcement_optout')
    op.drop_table('announcements')
    op.drop_index('ix_admin_audit_at', table_name='admin_audit')
    op.drop_table('admin_audit')
    op.drop_table('admin_roles')
    op.drop_table('content_loads')
    op.drop_table('content_live')
    op.drop_table('content_files')
    op.drop_table('content_versions')
