"""screening cards: when a member last got the crisis card from channel screening, per server

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('screening_cards',
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('community', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('carded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['community'], ['communities.id'], name=op.f('fk_screening_cards_community_communities'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_screening_cards_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'community', name=op.f('pk_screening_cards'))
    )


def downgrade() -> None:
    op.drop_table('screening_cards')
