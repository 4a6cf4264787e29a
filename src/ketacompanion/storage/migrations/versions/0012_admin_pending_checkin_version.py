"""previews waiting for their Publish button; the content version of each check-in

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

_UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table('admin_pending',
    sa.Column('token', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('actor', sa.String(length=96), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('live', sa.Integer(), nullable=True),
    sa.Column('payload', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', _UTC, nullable=False),
    sa.Column('expires_at', _UTC, nullable=False),
    sa.PrimaryKeyConstraint('token', name=op.f('pk_admin_pending'))
    )
    with op.batch_alter_table('checkins') as batch:
        batch.add_column(sa.Column('content_version', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('checkins') as batch:
        batch.drop_column('content_version')
    op.drop_table('admin_pending')
