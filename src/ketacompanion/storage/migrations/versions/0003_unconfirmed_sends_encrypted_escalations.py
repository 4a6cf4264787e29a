"""sends of unknown outcome counted in the outbox row; escalation level, source, category
and outcomes encrypted (existing rows converted with the data key)

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import context, op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

_ESC = sa.table(
    'escalations', sa.column('id', sa.Integer), sa.column('user_id', sa.Integer),
    sa.column('level', sa.String), sa.column('source', sa.String), sa.column('category', sa.String),
    sa.column('outcome', sa.String), sa.column('level_enc', sa.LargeBinary), sa.column('source_enc', sa.LargeBinary),
    sa.column('category_enc', sa.LargeBinary), sa.column('outcomes_enc', sa.LargeBinary),
)


def _cipher(conn: sa.Connection) -> Any:
    make: Callable[[sa.Connection], Any] | None = context.config.attributes.get('cipher')
    if make is None:
        raise RuntimeError('this migration encrypts stored escalations and needs the data key')
    return make(conn)


def _ctx(column: str, user_id: int) -> str:
    return f'escalations.{column}:{user_id}'  # as storage.store.enc_context


def _widen_status(old: int, new: int) -> None:
    # SQLite ignores the length; rebuilding checkins there would also cascade-delete its
    # children (outbox, answers) under foreign_keys=ON, so only PostgreSQL is altered.
    if op.get_bind().dialect.name == 'sqlite':
        return
    for table in ('outbox', 'checkins'):
        op.alter_column(table, 'status', existing_type=sa.String(length=old), type_=sa.String(length=new),
                        existing_nullable=False)


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('unconfirmed', sa.Integer(), server_default='0', nullable=False))
    _widen_status(12, 20)

    with op.batch_alter_table('escalations', schema=None) as batch_op:
        for name in ('level_enc', 'source_enc', 'category_enc', 'outcomes_enc'):
            batch_op.add_column(sa.Column(name, sa.LargeBinary(), nullable=True))
    conn = op.get_bind()
    rows = conn.execute(sa.select(_ESC.c.id, _ESC.c.user_id, _ESC.c.level, _ESC.c.source, _ESC.c.category,
                                  _ESC.c.outcome)).all()
    if rows:
        cipher = _cipher(conn)
        for r in rows:
            outcomes = [{'outcome': r.outcome, 'at': None}] if r.outcome else []
            conn.execute(sa.update(_ESC).where(_ESC.c.id == r.id).values(
                level_enc=cipher.encrypt(r.level, _ctx('level_enc', r.user_id)),
                source_enc=cipher.encrypt(r.source, _ctx('source_enc', r.user_id)),
                category_enc=cipher.encrypt(r.category, _ctx('category_enc', r.user_id)) if r.category else None,
                outcomes_enc=cipher.encrypt(json.dumps(outcomes), _ctx('outcomes_enc', r.user_id)) if outcomes else None,
            ))
    with op.batch_alter_table('escalations', schema=None) as batch_op:
        batch_op.drop_column('level')
        batch_op.drop_column('source')
        batch_op.drop_column('category')
        batch_op.drop_column('outcome')
        batch_op.alter_column('level_enc', existing_type=sa.LargeBinary(), nullable=False)
        batch_op.alter_column('source_enc', existing_type=sa.LargeBinary(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('escalations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('level', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('source', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('category', sa.String(length=24), nullable=True))
        batch_op.add_column(sa.Column('outcome', sa.String(length=24), nullable=True))
    conn = op.get_bind()
    rows = conn.execute(sa.select(_ESC.c.id, _ESC.c.user_id, _ESC.c.level_enc, _ESC.c.source_enc,
                                  _ESC.c.category_enc, _ESC.c.outcomes_enc)).all()
    if rows:
        cipher = _cipher(conn)
        for r in rows:
            outcomes = json.loads(cipher.decrypt(r.outcomes_enc, _ctx('outcomes_enc', r.user_id))) if r.outcomes_enc else []
            conn.execute(sa.update(_ESC).where(_ESC.c.id == r.id).values(
                level=cipher.decrypt(r.level_enc, _ctx('level_enc', r.user_id)),
                source=cipher.decrypt(r.source_enc, _ctx('source_enc', r.user_id)),
                category=cipher.decrypt(r.category_enc, _ctx('category_enc', r.user_id)) if r.category_enc else None,
                outcome=outcomes[-1]['outcome'] if outcomes else None,
            ))
    with op.batch_alter_table('escalations', schema=None) as batch_op:
        for name in ('outcomes_enc', 'category_enc', 'source_enc', 'level_enc'):
            batch_op.drop_column(name)
        batch_op.alter_column('level', existing_type=sa.String(length=8), nullable=False)
        batch_op.alter_column('source', existing_type=sa.String(length=16), nullable=False)
    _widen_status(20, 12)
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('unconfirmed')
