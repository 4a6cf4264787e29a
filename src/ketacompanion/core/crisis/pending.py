"""Escalations that could not be written because the database was busy, kept in memory
and written as soon as it is free again.

The crisis card never waits for the database: when a flagged message finds the store
locked, the card goes out at once and its escalation (with the follow-ups it plans) is
queued here. A small background task retries until the write succeeds. The queue is
bounded; what overflows is dropped and logged by count. A process that dies first loses
the queue: the card itself was already shown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ketacompanion.core.ports import DialogueState, EscalationRecord, Store, StoreUnavailable

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class PendingEscalation:
    platform: str
    platform_user_id: str
    level: str
    source: str
    category: str | None
    note: str | None
    follow_up: bool
    at: datetime


class PendingEscalations:
    def __init__(self, store: Store, limit: int = 1000, retry_s: float = 1.0, sleep: Sleep = asyncio.sleep) -> None:
        self._store, self._retry_s, self._sleep = store, retry_s, sleep
        self._queue: deque[PendingEscalation] = deque()
        self._limit = limit
        self._task: asyncio.Task[None] | None = None
        self._dropped = 0
        self.written = 0

    def __len__(self) -> int:
        return len(self._queue)

    def add(self, item: PendingEscalation) -> None:
        if len(self._queue) >= self._limit:
            self._queue.popleft()  # the oldest goes: the newest says most about now
            self._dropped += 1
            log.warning("pending escalations over the limit; oldest dropped", extra={"count": self._dropped})
        self._queue.append(item)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._drain())

    async def flush(self) -> bool:
        """Write everything queued in one transaction; False (all kept) if the store is busy."""
        if not self._queue:
            return True
        batch = list(self._queue)
        try:
            async with self._store.transaction() as tx:
                for item in batch:
                    found = await tx.users.find(item.platform, item.platform_user_id)
                    if found is None:
                        continue  # no one to record it against: the card was all they asked for
                    await tx.escalations.record(
                        found[0].id, item.level, item.source, item.category, item.note, item.follow_up, at=item.at
                    )  # fmt: skip
        except StoreUnavailable:
            return False
        for _ in batch:
            self._queue.popleft()
        self.written += len(batch)
        log.info("pending escalations written", extra={"count": len(batch)})
        return True

    async def _drain(self) -> None:
        while self._queue:
            try:
                if await self.flush():
                    continue
            except Exception:
                log.exception("pending escalations could not be written; will try again")
            await self._sleep(self._retry_s)

    async def close(self) -> None:
        """One last try, then stop the retries."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task  # _drain logs its own failures
        try:
            await self.flush()
        except Exception:
            log.warning("pending escalations lost at shutdown", extra={"count": len(self._queue)})


class UnrecordedTx:
    """A stand-in transaction for the crisis path while the store is busy: reads find
    nothing (no cooldown is assumed), and the escalation goes to ``pending``."""

    def __init__(self, pending: PendingEscalations, platform: str, platform_user_id: str, now: datetime) -> None:
        self.escalations = _PendingRepo(pending, platform, platform_user_id, now)
        self.users = _NoWrites()


class _PendingRepo:
    def __init__(self, pending: PendingEscalations, platform: str, puid: str, now: datetime) -> None:
        self._pending, self._platform, self._puid, self._now = pending, platform, puid, now

    async def last(self, user_id: int) -> EscalationRecord | None:
        return None

    async def record(
        self, user_id: int, level: str, source: str, category: str | None, note: str | None, follow_up: bool,
        at: datetime | None = None,
    ) -> int:
        self._pending.add(
            PendingEscalation(self._platform, self._puid, level, source, category, note, follow_up, at or self._now)
        )
        return 0

    async def set_outcome(self, user_id: int, checkin_id: int | None, outcome: str) -> bool:
        return False


class _NoWrites:
    async def update(self, user_id: int, **fields: Any) -> None:
        return None

    async def find(self, platform: str, platform_user_id: str) -> tuple[Any, DialogueState] | None:
        return None
