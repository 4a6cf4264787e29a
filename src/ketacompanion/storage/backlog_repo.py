"""Updates kept over a stop: sealed on the way out, taken (read and deleted) at the next start."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ketacompanion.cipher import FieldCipher
from ketacompanion.core.ports import Clock
from ketacompanion.storage import tables as t
from ketacompanion.storage.fields import enc_context

NO_OWNER = 0  # the sealing owner of an update from someone not yet known


class SqlPendingUpdateRepo:
    def __init__(self, conn: AsyncConnection, cipher: FieldCipher, clock: Clock) -> None:
        self._conn, self._cipher, self._clock = conn, cipher, clock

    async def keep(self, platform: str, items: Sequence[tuple[str | None, str]]) -> None:
        """Store ``(platform user id or None, payload)`` pairs, in the order given."""
        if not items:
            return
        u = t.users
        senders = {puid for puid, _ in items if puid is not None}
        owners: dict[str, int] = {}
        if senders:
            rows = await self._conn.execute(
                select(u.c.platform_user_id, u.c.id).where(u.c.platform == platform, u.c.platform_user_id.in_(senders))
            )
            owners = {r.platform_user_id: int(r.id) for r in rows}
        ids = [owners.get(puid) if puid is not None else None for puid, _ in items]
        sealed = self._cipher.encrypt_many(
            [(payload, enc_context("pending_updates", "payload_enc", uid or NO_OWNER))
             for uid, (_, payload) in zip(ids, items, strict=True)]
        )  # fmt: skip
        now = self._clock.now()
        await self._conn.execute(
            insert(t.pending_updates),
            [{"platform": platform, "user_id": uid, "payload_enc": blob, "kept_at": now}
             for uid, blob in zip(ids, sealed, strict=True)],
        )  # fmt: skip

    async def take(self, platform: str) -> list[str]:
        """Every payload kept for ``platform``, oldest first; they are deleted as they are read."""
        p = t.pending_updates
        rows = (
            await self._conn.execute(
                select(p.c.id, p.c.user_id, p.c.payload_enc).where(p.c.platform == platform).order_by(p.c.id)
            )
        ).all()
        if not rows:
            return []
        await self._conn.execute(delete(p).where(p.c.id.in_([r.id for r in rows])))
        return [
            self._cipher.decrypt(r.payload_enc, enc_context("pending_updates", "payload_enc", r.user_id or NO_OWNER))
            for r in rows
        ]
