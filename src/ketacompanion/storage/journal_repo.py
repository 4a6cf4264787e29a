"""Journal entries and the summary's chosen name, in SQL, each text encrypted per field."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ketacompanion.cipher import FieldCipher
from ketacompanion.core.journal_port import JournalEntry
from ketacompanion.storage import tables as t
from ketacompanion.storage.fields import aware as _aware
from ketacompanion.storage.fields import enc_context

# A draft the person neither kept nor dropped is not kept for good.
DRAFT_LIFETIME = timedelta(days=1)


class SqlJournalRepo:
    def __init__(self, conn: AsyncConnection, cipher: FieldCipher) -> None:
        self._conn, self._cipher = conn, cipher

    def _ctx(self, user_id: int) -> str:
        return enc_context("journal_entries", "text_enc", user_id)

    async def add(self, user_id: int, text: str, now: datetime, kept: bool) -> int:
        j = t.journal_entries
        await self._conn.execute(
            delete(j).where(j.c.user_id == user_id, j.c.kept.is_(False), j.c.created_at < now - DRAFT_LIFETIME)
        )
        result = await self._conn.execute(
            insert(j).values(
                user_id=user_id, created_at=now, text_enc=self._cipher.encrypt(text, self._ctx(user_id)),
                kept=kept, in_summary=False,
            ).returning(j.c.id)
        )
        return int(result.scalar_one())

    async def get(self, user_id: int, entry_id: int) -> JournalEntry | None:
        j = t.journal_entries
        row = (await self._conn.execute(select(j).where(j.c.user_id == user_id, j.c.id == entry_id))).mappings().first()
        return self._entry(user_id, row) if row else None

    async def _set(self, user_id: int, entry_id: int, **values: object) -> bool:
        j = t.journal_entries
        changed = await self._conn.execute(update(j).where(j.c.user_id == user_id, j.c.id == entry_id).values(**values))
        return bool(changed.rowcount)

    async def keep(self, user_id: int, entry_id: int) -> bool:
        return await self._set(user_id, entry_id, kept=True)

    async def set_in_summary(self, user_id: int, entry_id: int, value: bool) -> bool:
        return await self._set(user_id, entry_id, in_summary=value)

    async def drop(self, user_id: int, entry_id: int) -> bool:
        j = t.journal_entries
        gone = await self._conn.execute(delete(j).where(j.c.user_id == user_id, j.c.id == entry_id))
        return bool(gone.rowcount)

    async def recent(self, user_id: int, since: datetime | None = None, limit: int = 50) -> list[JournalEntry]:
        j = t.journal_entries
        query = select(j).where(j.c.user_id == user_id, j.c.kept.is_(True))
        if since is not None:
            query = query.where(j.c.created_at >= since)
        rows = (await self._conn.execute(query.order_by(j.c.created_at.desc(), j.c.id.desc()).limit(limit))).mappings()
        return [self._entry(user_id, r) for r in rows]

    def _entry(self, user_id: int, row: object) -> JournalEntry:
        r = dict(row)  # type: ignore[call-overload]
        return JournalEntry(
            int(r["id"]), _aware(r["created_at"]),  # type: ignore[arg-type]
            self._cipher.decrypt(r["text_enc"], self._ctx(user_id)), bool(r["kept"]), bool(r["in_summary"]),
        )

    async def summary_name(self, user_id: int) -> str | None:
        sp = t.summary_profiles
        token = (await self._conn.execute(select(sp.c.name_enc).where(sp.c.user_id == user_id))).scalar()
        if token is None:
            return None
        return self._cipher.decrypt(token, enc_context("summary_profiles", "name_enc", user_id))

    async def set_summary_name(self, user_id: int, name: str | None, now: datetime) -> None:
        sp = t.summary_profiles
        token = None if name is None else self._cipher.encrypt(name, enc_context("summary_profiles", "name_enc", user_id))
        changed = await self._conn.execute(update(sp).where(sp.c.user_id == user_id).values(name_enc=token, updated_at=now))
        if changed.rowcount == 0:
            await self._conn.execute(insert(sp).values(user_id=user_id, name_enc=token, updated_at=now))
