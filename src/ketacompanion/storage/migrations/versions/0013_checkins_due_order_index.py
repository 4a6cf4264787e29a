"""check-ins indexed in claim order: status, due time, id

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A claim takes the first due rows in (due_at, id) order. On PostgreSQL an index
    # without id leaves every row of a shared due moment to be sorted at each batch, so a
    # fan-out of N rows sorted N rows, then N - batch, and so on. On SQLite the rowid
    # already ends every index: the same order, at no extra cost.
    with op.batch_alter_table('checkins') as batch:
        batch.create_index('ix_checkins_status_due_id', ['status', 'due_at', 'id'], unique=False)
        batch.drop_index('ix_checkins_status_due')


def downgrade() -> None:
    with op.batch_alter_table('checkins') as batch:
        batch.create_index('ix_checkins_status_due', ['status', 'due_at'], unique=False)
        batch.drop_index('ix_checkins_status_due_id')
