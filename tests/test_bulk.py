"""Rows written by the bulk path read back exactly as SQLAlchemy wrote them."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import insert, select

from ketacompanion.app import App
from ketacompanion.storage import tables as t
from ketacompanion.storage.bulk import bulk_insert


async def test_bulk_rows_equal_ordinary_rows(app: App) -> None:
    moment = datetime(2026, 3, 8, 6, 59, 59, 123456, tzinfo=UTC)
    async with app.engine.begin() as conn:
        await conn.execute(insert(t.users).values(id=1, platform="x", platform_user_id="a", chat_id="a",
                                                  created_at=moment, keep_notes=False))
        ordinary = {"user_id": 1, "kind": "daily", "instrument": "daily", "session_id": None, "due_at": moment,
                    "expires_at": moment, "status": "pending", "created_at": moment}
        await conn.execute(insert(t.checkins), [ordinary])
        bulk = dict(ordinary, kind="weekly")
        duplicate = dict(ordinary)  # clashes with the ordinary row's unique key
        await bulk_insert(conn, t.checkins, [bulk, duplicate], skip_conflicts_on=("user_id", "kind", "due_at"))
        rows = (await conn.execute(select(t.checkins.c.kind, t.checkins.c.due_at).order_by(t.checkins.c.kind))).all()
    assert [k for k, _ in rows] == ["daily", "weekly"]
    first, second = (d if d.tzinfo else d.replace(tzinfo=UTC) for _, d in rows)
    assert first == second == moment
    async with app.engine.connect() as conn:
        found = (await conn.execute(select(t.checkins.c.kind).where(t.checkins.c.due_at == moment))).scalars().all()
    assert sorted(found) == ["daily", "weekly"]  # the bulk row compares equal in SQL too
