"""Previews waiting for their Publish button, in the database so any process can answer.

A preview holds the exact bytes that were checked and their hash, who asked, the live
version they were checked against, and when it expires. ``take`` removes it in the same
statement that finds it, so of two presses (on two processes) exactly one gets it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ketacompanion.core.ports import Clock
from ketacompanion.storage import tables as t


@dataclass(frozen=True, slots=True)
class Pending:
    token: str
    kind: str
    actor: str
    digest: str
    live: int | None
    payload: bytes
    expires_at: datetime


class Taken(Exception):
    """Why a press found no preview: ``unknown`` (never made, or already used), ``expired``
    or ``not_yours``."""

    def __init__(self, why: str) -> None:
        self.why = why
        super().__init__(why)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class PendingRepo:
    def __init__(self, engine: AsyncEngine, clock: Clock) -> None:
        self._engine, self._clock = engine, clock

    async def put(self, token: str, kind: str, actor: str, digest: str, live: int | None, payload: bytes,
                  ttl: timedelta) -> None:  # fmt: skip
        p = t.admin_pending
        now = self._clock.now()
        async with self._engine.begin() as conn:
            await conn.execute(delete(p).where(p.c.expires_at <= now))  # the table stays small
            await conn.execute(insert(p).values(
                token=token, kind=kind, actor=actor[:96], digest=digest, live=live, payload=payload,
                created_at=now, expires_at=now + ttl,
            ))  # fmt: skip

    async def take(self, token: str, kind: str, actor: str) -> Pending:
        """The preview, removed so no other press can use it; ``Taken`` if there is none for
        this actor. Someone else's preview is left where it is for its owner."""
        p = t.admin_pending
        now = self._clock.now()
        async with self._engine.begin() as conn:
            row = (await conn.execute(select(p).where(p.c.token == token, p.c.kind == kind))).first()
            if row is None:
                raise Taken("unknown")
            if row.actor != actor:
                raise Taken("not_yours")
            gone = await conn.execute(delete(p).where(p.c.token == token))
            if gone.rowcount != 1:  # another process took it between the read and the delete
                raise Taken("unknown")
        found = Pending(row.token, row.kind, row.actor, row.digest, row.live, bytes(row.payload), _aware(row.expires_at))
        if found.expires_at <= now:
            raise Taken("expired")
        return found
