"""The announcements opt-out, written in the turn's own transaction."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, insert, select

from ketacompanion.storage import tables as t


class SqlAnnouncementPrefs:
    async def is_off(self, tx: object, user_id: int) -> bool:
        o = t.announcement_optout
        found = await tx.conn.execute(select(o.c.user_id).where(o.c.user_id == user_id))  # type: ignore[attr-defined]
        return found.first() is not None

    async def set_off(self, tx: object, user_id: int, off: bool) -> None:
        o = t.announcement_optout
        conn = tx.conn  # type: ignore[attr-defined]
        await conn.execute(delete(o).where(o.c.user_id == user_id))
        if off:
            await conn.execute(insert(o).values(user_id=user_id, at=datetime.now(UTC)))
