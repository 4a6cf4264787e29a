"""One pass of scheduled delivery: claim what is due, remind, expire, send.

The real process runs a pass whenever APScheduler wakes it; the simulated clock of
the terminal chat runs the same pass at each due moment it steps through."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from ketacompanion.content.catalog import ContentHolder
from ketacompanion.core.ports import Clock
from ketacompanion.core.turn import Text
from ketacompanion.delivery.outbox import DrainStats, Outbox
from ketacompanion.delivery.prompts import Templates
from ketacompanion.storage import planner
from ketacompanion.storage.batches import BatchRunner
from ketacompanion.storage.bulk import Deferred

# Rows a fan-out batch claims, and batches under way at once. On PostgreSQL each batch
# waits on round trips and a commit, and on a busy machine each wait is a wake-up of two
# processes: fewer, larger batches wait less (the work a row stays the same:
# storage/planner.py claims off an index). Three claimers: two batches on the server's
# cores while this process words and seals the third; about 50 MB in memory at once.
# SQLite works in this process with one writer: one claimer, small batches, each
# holding the write lock briefly.
CLAIM_BATCH = {"postgresql": 10_000}
CLAIMERS = {"postgresql": 3}
DEFAULT_CLAIM_BATCH = 5000


@dataclass(slots=True)
class TickStats:
    claimed: int = 0
    queued: int = 0
    reminded: int = 0
    expired: int = 0
    drained: DrainStats = field(default_factory=DrainStats)


class Delivery:
    def __init__(
        self,
        engine: AsyncEngine,
        outbox: Outbox,
        clock: Clock,
        text_for: Callable[[str], Text],
        window: timedelta,
        reminder_delay: timedelta,
        claim_batch: int | None = None,
        content: ContentHolder | None = None,
        busy_timeout_ms: int = 5000,
    ) -> None:
        """``content``: the holder ``text_for`` reads, so each prompt records the version
        that worded it, and its reminder is worded from the same version."""
        self.engine, self.outbox, self.clock, self._text_for = engine, outbox, clock, text_for
        self.batches = BatchRunner(engine, busy_timeout_ms)
        self.window, self.reminder_delay = window, reminder_delay
        self.claim_batch = claim_batch or CLAIM_BATCH.get(engine.dialect.name, DEFAULT_CLAIM_BATCH)
        self._content = content
        # On PostgreSQL several batches run at once, each on its own connection: while
        # the server writes some (its work a row, mostly foreign-key checks and index
        # entries, is most of a batch), this process words and seals another. Their rows
        # are disjoint (SKIP LOCKED), as with several processes. SQLite has one writer.
        self.claimers = CLAIMERS.get(engine.dialect.name, 1)

    async def enqueue_due(self) -> TickStats:
        """Claim every due slot and queue its prompt, batch by batch, each batch in one
        transaction with its outbox rows: a crash leaves a batch all done or not begun."""
        stats = TickStats()
        now = self.clock.now()
        words = Templates(self._text_for)
        # One content set for the whole pass, whatever goes live meanwhile: every prompt
        # queued here is worded from the version its row records.
        with self._content.pinned() if self._content is not None else nullcontext():
            version = self._content.version if self._content is not None else None

            def batch(conn: Connection) -> tuple[int, int]:
                # On PostgreSQL every write that follows the claim goes as one statement
                # (storage/bulk.py, Deferred): one round trip, not one a write.
                writes = Deferred(conn)
                dues, claimed = planner.claim_batch(conn, now, self.window, self.claim_batch, version, writes)
                queued = self.outbox.queue(conn, [(d, "prompt", words.encoded(d, "prompt")) for d in dues], writes)
                writes.flush()
                return claimed, queued

            async def claimer() -> None:
                while True:
                    claimed, queued = await self.batches.run(batch)  # one transaction, one hand-off
                    stats.claimed += claimed
                    stats.queued += queued
                    # Claiming plans the next slot, which may itself be overdue. A claimer
                    # that finds nothing while another holds the last rows stops; the one
                    # that commits them looks again, so nothing its commit made due is left.
                    if claimed == 0:
                        break

            await asyncio.gather(*(claimer() for _ in range(self.claimers)))

        def remind(conn: Connection) -> tuple[int, int]:
            dues = planner.due_reminders(conn, now, self.reminder_delay, self.claim_batch)
            return len(dues), self.outbox.queue(conn, [(d, "reminder", self._reminder(words, d)) for d in dues])

        # Like the claims, each a unit of work handed over once (on a SQLite file, to the
        # batch thread), not a hand-off a statement.
        while True:
            found, reminded = await self.batches.run(remind)
            stats.reminded += reminded
            if found < self.claim_batch:
                break
        stats.expired = await self.batches.run(lambda conn: planner.expire(conn, now))
        return stats

    def _reminder(self, words: Templates, due: planner.Due) -> str:
        """Worded from the version its prompt came from, while this process holds it."""
        content = self._content.at(due.content_version) if self._content is not None else None
        if content is None or self._content is None:
            return words.encoded(due, "reminder")
        with self._content.pinned_to(content):
            return words.encoded(due, "reminder")

    async def tick(self) -> TickStats:
        stats = await self.enqueue_due()
        stats.drained = await self.outbox.drain()
        return stats

    def close(self) -> None:
        self.batches.close()

    async def next_wake(self) -> datetime | None:
        async with self.engine.connect() as conn:
            return await planner.next_wake(conn, self.reminder_delay)
