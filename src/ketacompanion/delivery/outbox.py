"""The outbox: scheduled messages are rows first, sent second, marked third.

A row is claimed (``sending``, leased to one worker) before it is sent. Just before the
send, the attempt is written to the row and committed: ``attempts`` and ``unconfirmed``
both go up by one, as if the outcome will never be known. A confirmed send, a refusal or
an error that proves nothing left (a connect failure) takes the ``unconfirmed`` count back
down; a crash, a timeout or a connection dropped after the request was written leaves it
up. A row whose count reaches ``MAX_UNCONFIRMED`` (two) is never sent again: it ends
``sent_unconfirmed``. So whatever fails, across processes and restarts, a prompt goes out
at most twice, and a row that may have arrived is never recorded as missed.

This layer alone retries sends whose outcome is unknown: the adapters' own retry of a
scheduled reply is limited to errors that prove nothing was sent (see
adapters/telegram/delivery.py), so the two never multiply.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import socket
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from aiolimiter import AsyncLimiter
from sqlalchemy import Connection, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ketacompanion.cipher import FieldCipher
from ketacompanion.core.model import (
    Address,
    Choice,
    DeliveryError,
    OutcomeUnknown,
    Reply,
    Unreachable,
    Urgency,
)
from ketacompanion.core.ports import Clock, Sender
from ketacompanion.storage import tables as t
from ketacompanion.storage.bulk import Deferred, driver_values, insert_rows
from ketacompanion.storage.fields import enc_context
from ketacompanion.storage.planner import Due

log = logging.getLogger(__name__)

BACKOFF = (timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=10), timedelta(minutes=30))
MAX_UNCONFIRMED = 2  # sends of one row whose outcome could not be known: the first and one retry
UNCONFIRMED = "sent_unconfirmed"
_QUEUE_COLUMNS = ("user_id", "checkin_id", "purpose", "platform", "chat_id", "payload_enc", "status", "attempts",
                  "unconfirmed", "not_before", "created_at")


def worker_identity() -> str:
    """host:pid:random, so that the claims of two processes (or of one process before and
    after a restart, pids being reused) can be told apart in ``claimed_by``."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"


def encode_reply(reply: Reply) -> str:
    return json.dumps(
        {
            "text": reply.text,
            "choices": [[c.id, c.label, c.url] for c in reply.choices],
            "urgency": reply.urgency.value,
            "scheduled": reply.scheduled,
        },
        ensure_ascii=False,
    )


def decode_reply(text: str) -> Reply:
    data = json.loads(text)
    return Reply(
        data["text"],
        choices=tuple(Choice(i, label, url) for i, label, url in data["choices"]),
        urgency=Urgency(data["urgency"]),
        scheduled=bool(data.get("scheduled", True)),
    )


@dataclass(slots=True)
class DrainStats:
    sent: int = 0
    unreachable: int = 0
    retried: int = 0
    failed: int = 0
    passes: int = 0
    unconfirmed: int = 0

    def __iadd__(self, other: DrainStats) -> DrainStats:
        self.sent += other.sent
        self.unreachable += other.unreachable
        self.retried += other.retried
        self.failed += other.failed
        self.passes += other.passes
        self.unconfirmed += other.unconfirmed
        return self


@dataclass(slots=True)
class _Claimed:
    id: int
    user_id: int
    checkin_id: int | None
    purpose: str
    address: Address
    reply: Reply | None
    attempts: int
    unconfirmed: int
    outcome: str = ""
    error: str = ""
    tried: bool = False  # this pass wrote an attempt into the row and called the sender


@dataclass
class Outbox:
    engine: AsyncEngine
    cipher: FieldCipher
    clock: Clock
    senders: Mapping[str, Sender]
    rate_per_s: float
    worker: str = field(default_factory=worker_identity)
    lease: timedelta = timedelta(minutes=5)
    max_attempts: int = 5
    batch: int = 2000
    concurrency: int = 32
    _limiter: AsyncLimiter = field(init=False)

    def __post_init__(self) -> None:
        # Bucket size one second's worth: short bursts allowed, the long-run rate capped.
        self._limiter = AsyncLimiter(max(1.0, self.rate_per_s), 1.0)

    async def enqueue(self, conn: AsyncConnection, items: Iterable[tuple[Due, str, str]]) -> int:
        """Queue (due, purpose, encoded reply) rows, in the caller's transaction."""
        return await conn.run_sync(self.queue, list(items))

    def queue(self, conn: Connection, items: Sequence[tuple[Due, str, str]], writes: Deferred | None = None) -> int:
        """``enqueue`` on a sync connection: each payload sealed as its row is built (the
        nonces of all of them from one random read), every row in one ``executemany``
        (on PostgreSQL, one insert of arrays, with ``writes``: joined to the batch's
        other writes)."""
        now = self.clock.now()
        value = driver_values(conn)
        at = value(now)
        seal = self.cipher.sealer(len(items))
        rows = [
            (due.user_id, due.checkin_id, purpose, due.platform, due.chat_id,
             seal(encoded, enc_context("outbox", "payload_enc", due.user_id)), "queued", 0, 0,
             value(due.not_before) if due.not_before > now else at, at)
            for due, purpose, encoded in items
        ]  # fmt: skip
        insert_rows(conn, t.outbox, _QUEUE_COLUMNS, rows, ready=True, writes=writes)
        return len(rows)

    async def drain(self, max_passes: int = 10_000) -> DrainStats:
        """Send everything that is due now; return what happened."""
        total = DrainStats()
        for _ in range(max_passes):
            claimed = await self._claim()
            if not claimed:
                break
            await self._send_all(claimed)
            total += await self._record(claimed)
        return total

    async def _claim(self) -> list[_Claimed]:
        o = t.outbox
        now = self.clock.now()
        pick = (
            select(o.c.id)
            .where(
                or_(
                    and_(o.c.status == "queued", o.c.not_before <= now),
                    and_(o.c.status == "sending", o.c.claimed_at < now - self.lease),
                )
            )
            .order_by(o.c.id)
            .limit(self.batch)
        )
        async with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                pick = pick.with_for_update(skip_locked=True)
            rows = (
                await conn.execute(
                    update(o).where(o.c.id.in_(pick.scalar_subquery()))
                    .values(status="sending", claimed_by=self.worker, claimed_at=now)
                    .returning(o.c.id, o.c.user_id, o.c.checkin_id, o.c.purpose, o.c.platform, o.c.chat_id,
                               o.c.payload_enc, o.c.attempts, o.c.unconfirmed)
                )
            ).all()
        claimed: list[_Claimed] = []
        for r in sorted(rows, key=lambda r: r.id):
            try:
                reply: Reply | None = decode_reply(
                    self.cipher.decrypt(r.payload_enc, enc_context("outbox", "payload_enc", r.user_id))
                )
            except Exception:
                log.exception("outbox row unreadable", extra={"outbox_id": r.id})
                reply = None
            claimed.append(
                _Claimed(r.id, r.user_id, r.checkin_id, r.purpose, Address(r.platform, r.chat_id), reply, r.attempts,
                         r.unconfirmed)
            )
        return claimed

    async def _send_all(self, claimed: list[_Claimed]) -> None:
        gate = asyncio.Semaphore(self.concurrency)
        # Rows for one chat go out in order, one at a time; chats run side by side. Sends
        # go in waves of about a second's worth, each wave's attempts committed first.
        by_chat: dict[Address, deque[_Claimed]] = {}
        for item in claimed:
            by_chat.setdefault(item.address, deque()).append(item)
        wave_size = max(self.concurrency, int(self.rate_per_s))

        async def one(item: _Claimed) -> None:
            async with gate:
                await self._send_one(item)

        while by_chat:
            wave: list[_Claimed] = []
            for address in list(by_chat):
                queue = by_chat[address]
                wave.append(queue.popleft())
                if not queue:
                    del by_chat[address]
                if len(wave) >= wave_size:
                    break
            ready = await self._begin_attempts(wave)
            await asyncio.gather(*(one(item) for item in ready))

    async def _begin_attempts(self, wave: list[_Claimed]) -> list[_Claimed]:
        """Write the attempt into each row before its send; return the rows to send."""
        ready: list[_Claimed] = []
        for item in wave:
            if item.reply is None:
                item.outcome = "failed"
            elif item.address.platform not in self.senders:
                item.outcome, item.error = "unsent", "no adapter running for this platform"
            elif item.unconfirmed >= MAX_UNCONFIRMED:
                item.outcome = "unconfirmed"  # it may have arrived twice already: never a third
            else:
                ready.append(item)
        if not ready:
            return []
        o = t.outbox
        ids = [i.id for i in ready]
        async with self.engine.begin() as conn:
            mine = {
                row.id
                for chunk in _chunks(ids)
                for row in await conn.execute(
                    update(o)
                    .where(o.c.id.in_(chunk), o.c.status == "sending", o.c.claimed_by == self.worker,
                           o.c.unconfirmed < MAX_UNCONFIRMED)
                    .values(attempts=o.c.attempts + 1, unconfirmed=o.c.unconfirmed + 1)
                    .returning(o.c.id)
                )
            }
        sendable: list[_Claimed] = []
        for item in ready:
            if item.id in mine:
                item.attempts += 1
                item.unconfirmed += 1
                item.tried = True
                sendable.append(item)
            else:
                item.outcome = "lost"  # another worker took the row over: theirs to record
        return sendable

    async def _send_one(self, item: _Claimed) -> None:
        sender = self.senders[item.address.platform]
        assert item.reply is not None
        await self._limiter.acquire()
        try:
            await sender.send(item.address, item.reply)
            item.outcome = "sent"
        except Unreachable:
            item.outcome = "unreachable"
        except OutcomeUnknown as exc:
            item.outcome, item.error = "unknown", type(exc).__name__
        except DeliveryError as exc:
            item.outcome, item.error = "unsent", type(exc).__name__
        except Exception as exc:  # an adapter bug must not lose the row; it may have sent
            log.exception("send failed", extra={"outbox_id": item.id})
            item.outcome, item.error = "unknown", type(exc).__name__

    async def _record(self, claimed: list[_Claimed]) -> DrainStats:
        o, c, u = t.outbox, t.checkins, t.users
        now = self.clock.now()
        stats = DrainStats(passes=1)
        sent, gone, retry, failed, unconfirmed = [], [], [], [], []
        for i in claimed:
            if i.outcome in ("sent", "unreachable", "unsent") and i.tried:
                i.unconfirmed -= 1  # the outcome is known after all
            elif i.outcome == "unsent":
                i.attempts += 1  # no adapter: a try that cannot have sent, counted so it ends
            if i.outcome == "sent":
                sent.append(i)
            elif i.outcome == "unreachable":
                gone.append(i)
            elif i.outcome == "lost":
                continue
            elif i.outcome == "unsent" and i.attempts < self.max_attempts:
                retry.append(i)
            elif i.outcome == "unknown" and i.unconfirmed < MAX_UNCONFIRMED and i.attempts < self.max_attempts:
                retry.append(i)
            elif i.unconfirmed > 0:
                unconfirmed.append(i)  # out of tries, but an earlier try may have arrived
            else:
                failed.append(i)
        async with self.engine.begin() as conn:
            for chunk in _chunks([i.id for i in sent]):
                await conn.execute(
                    update(o).where(o.c.id.in_(chunk))
                    .values(status="sent", sent_at=now, unconfirmed=o.c.unconfirmed - 1)
                )
            prompt_ids = [i.checkin_id for i in sent if i.checkin_id is not None and i.purpose == "prompt"]
            for chunk in _chunks(prompt_ids):
                await conn.execute(
                    update(c).where(c.c.id.in_(chunk), c.c.status.in_(("queued", UNCONFIRMED)))
                    .values(status="sent", sent_at=now)
                )
            if gone:
                users = sorted({i.user_id for i in gone})
                for chunk in _chunks(users):
                    await conn.execute(update(u).where(u.c.id.in_(chunk)).values(unreachable_at=now))
                    # Their other queued messages will not get through either.
                    await conn.execute(
                        update(o).where(o.c.user_id.in_(chunk), o.c.status.in_(("queued", "sending")))
                        .values(status="unreachable")
                    )
                    await conn.execute(
                        update(c).where(c.c.user_id.in_(chunk), c.c.status.in_(("queued", "sent", "reminded")))
                        .values(status="unreachable", closed_at=now)
                    )
            for item in retry:
                wait = BACKOFF[min(item.attempts - 1, len(BACKOFF) - 1)] if item.attempts else BACKOFF[0]
                await conn.execute(
                    update(o).where(o.c.id == item.id, o.c.status == "sending")
                    .values(status="queued", not_before=now + wait, attempts=item.attempts,
                            unconfirmed=item.unconfirmed)
                )
            for item in unconfirmed:
                await conn.execute(
                    update(o).where(o.c.id == item.id, o.c.status == "sending")
                    .values(status=UNCONFIRMED, unconfirmed=item.unconfirmed)
                )
            unconfirmed_prompts = [i.checkin_id for i in unconfirmed if i.checkin_id is not None and i.purpose == "prompt"]
            for chunk in _chunks(unconfirmed_prompts):
                # It may have arrived: answerable like a sent one, and never recorded as missed.
                await conn.execute(
                    update(c).where(c.c.id.in_(chunk), c.c.status == "queued")
                    .values(status=UNCONFIRMED, sent_at=now)
                )
            for chunk in _chunks([i.id for i in failed]):
                await conn.execute(update(o).where(o.c.id.in_(chunk), o.c.status == "sending").values(status="failed", unconfirmed=0))
            failed_checkins = [i.checkin_id for i in failed if i.checkin_id is not None]
            for chunk in _chunks(failed_checkins):
                await conn.execute(
                    update(c).where(c.c.id.in_(chunk), c.c.status == "queued").values(status="missed", closed_at=now)
                )
        stats.sent, stats.unreachable, stats.retried, stats.failed = len(sent), len(gone), len(retry), len(failed)
        stats.unconfirmed = len(unconfirmed)
        if gone or failed or unconfirmed:
            log.warning("outbox pass", extra={
                "count": len(claimed),
                "status": f"{len(gone)} unreachable, {len(failed)} failed, {len(unconfirmed)} unconfirmed",
            })  # fmt: skip
        return stats


def _chunks(items: list[Any], size: int = 5000) -> Iterable[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


