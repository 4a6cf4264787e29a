"""A fair scheduler for incoming chat updates, for any platform.

Each chat's items wait in that chat's own bounded queue, never in a shared slot: a fixed
pool of workers serves the chats round-robin, one item of a chat at a time, so one
person's flood takes at most one worker and everyone else's turn comes round.

Urgent items (crisis text, ``/crisis``, crisis buttons) skip every queue and do not need
a worker: they start at once on a lane of their own. Ordering for them: an urgent item
waits only for the one item of its chat already running (so it sees the state that turn
left, and two turns of one person never run together), then runs before every ordinary
item still queued for that chat. Urgent items of one chat keep their order among
themselves. Urgent items are never dropped.

Past ``cap`` queued items a chat's excess is dropped and counted; ``on_overflow`` is
called once per flood (at most once per ``notice_every_s`` for a chat) so the person
can be told to slow down. Memory is bounded: ``cap`` items a chat, ``max_chats`` chats.

A stop (``drain``) lets the items running when its time is nearly up finish rather than
cutting them off mid-write: for the last ``finish_s`` of the drain nothing new starts, and
only an item still running when the whole drain time is over is cancelled.

An adapter catching up with a backlog at the platform, where an urgent item may still be
unread, can ``pause`` ordinary items for a moment (urgent ones still start at once) so
that reading comes first; ``resume``, ``drain`` and ``stop`` let them run again.

An adapter can triage before it builds an item (``has_room``, then ``drop`` for what it
refuses): a flood's excess is then never decoded at all, and counts as dropped here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

# The last stretch of a stop's drain in which running turns may end but none starts: a
# turn is a few database writes and one or two sends, well under this even when slow.
FINISH_S = 3.0

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


@dataclass
class _Chat(Generic[T]):
    items: deque[T] = field(default_factory=deque)
    urgent: deque[T] = field(default_factory=deque)
    running: bool = False
    ready: bool = False  # waiting in the round-robin line
    dropped: int = 0


class FairQueue(Generic[K, T]):
    def __init__(
        self,
        handle: Callable[[T], Awaitable[None]],
        workers: int = 16,
        cap: int = 50,
        max_chats: int = 10_000,
        on_overflow: Callable[[K], None] | None = None,
        on_drop: Callable[[T], None] | None = None,
        notice_every_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if workers < 1 or cap < 1 or max_chats < 1:
            raise ValueError("workers, cap and max_chats must be positive")
        self._handle, self._workers_n, self.cap, self.max_chats = handle, workers, cap, max_chats
        self._on_overflow, self._on_drop = on_overflow, on_drop
        self._notice_every_s, self._clock, self._sleep = notice_every_s, clock, sleep
        self._chats: dict[K, _Chat[T]] = {}
        self._line: deque[K] = deque()
        self._wake = asyncio.Event()
        self._workers: list[asyncio.Task[None]] = []
        self._lane: set[asyncio.Task[None]] = set()
        self._noticed: OrderedDict[K, float] = OrderedDict()
        # Refused by triage before the chat had anything queued; joins the chat's count.
        self._early: OrderedDict[K, int] = OrderedDict()
        self._idle = asyncio.Event()
        self._idle.set()
        self._open = asyncio.Event()  # cleared while ordinary items are paused
        self._open.set()
        self._closing = False  # a drain's last stretch: nothing new starts
        self._running = 0  # items started and not yet finished
        self._settled = asyncio.Event()  # set while no item runs
        self._settled.set()
        self.dropped_total = 0
        self.peak = 0  # the most items one chat ever had queued

    # --- taking items in ------------------------------------------------------------------
    def submit(self, key: K, item: T, urgent: bool = False) -> bool:
        """Queue ``item`` for chat ``key``; False when it was dropped (the chat is over its cap)."""
        chat = self._chats.get(key)
        if chat is None:
            if len(self._chats) >= self.max_chats and not urgent:
                self._drop(key, None, item)
                return False
            chat = self._chats[key] = _Chat(dropped=self._early.pop(key, 0))
        self._idle.clear()
        if urgent:
            if chat.running or self._closing:
                chat.urgent.append(item)
            else:
                self._begin(chat)
                self._start_lane(key, item)
            return True
        if len(chat.items) >= self.cap:
            self._drop(key, chat, item)
            return False
        chat.items.append(item)
        self.peak = max(self.peak, len(chat.items))
        if not chat.running and not chat.ready:
            chat.ready = True
            self._line.append(key)
            self._wake.set()
        return True

    def has_room(self, key: K, coming: int = 0) -> bool:
        """Whether an ordinary item for ``key`` would be queued now, with ``coming`` more
        already accepted for that chat but not yet submitted."""
        return self.room(key, coming) > 0

    def room(self, key: K, coming: int = 0) -> int:
        """How many more ordinary items for ``key`` would be queued now, with ``coming``
        already accepted for that chat but not yet submitted (a batch's triage asks once)."""
        chat = self._chats.get(key)
        if chat is None:
            return self.cap - coming if len(self._chats) < self.max_chats else 0
        return self.cap - len(chat.items) - coming

    def drop(self, key: K, item: T | None = None, count: int = 1) -> None:
        """Count ``count`` items refused before they were submitted, as ``submit`` counts its
        own drops (``on_overflow`` included)."""
        chat = self._chats.get(key)
        if chat is None and len(self._chats) < self.max_chats:
            before = self._early.pop(key, 0)
            self._early[key] = before + count
            while len(self._early) > self.max_chats:
                self._early.popitem(last=False)
            if not before:
                log.warning("chat over its queue cap; dropping", extra={"count": self.cap})
            self._count_drop(key, item, count)
            return
        self._drop(key, chat, item, count)

    def queued(self, key: K) -> int:
        chat = self._chats.get(key)
        return len(chat.items) + len(chat.urgent) if chat else 0

    def pending(self) -> int:
        return sum(len(c.items) + len(c.urgent) + c.running for c in self._chats.values())

    def pause(self) -> None:
        """Start no ordinary item until ``resume`` (those running go on; urgent ones start)."""
        self._open.clear()

    def resume(self) -> None:
        if not self._closing:  # a drain's last stretch stays closed
            self._open.set()

    @property
    def paused(self) -> bool:
        return not self._open.is_set()

    async def wait_idle(self) -> None:
        """Return once nothing is queued or running."""
        await self._idle.wait()

    # --- running --------------------------------------------------------------------------
    def start(self) -> None:
        if not self._workers:
            self._workers = [asyncio.create_task(self._work()) for _ in range(self._workers_n)]

    async def drain(self, within_s: float | None = None, finish_s: float = 0.0) -> list[T]:
        """Finish what is queued (within ``within_s`` seconds), then stop; returns what was left.

        Items start during the first ``within_s - finish_s`` seconds (``finish_s`` is at most
        half the drain); after that nothing new starts and those running have the rest of the
        time to end (a turn cut off mid-write could leave half its work done). Only an item
        still running at ``within_s`` is cancelled."""
        self.resume()
        if within_s is None:
            await self._idle.wait()
            return await self.stop()
        finish_s = min(max(finish_s, 0.0), within_s / 2)
        if not await self._within(self._idle, within_s - finish_s):
            self._closing = True
            self.pause()
            await self._within(self._settled, finish_s)
        return await self.stop()

    async def _within(self, event: asyncio.Event, seconds: float) -> bool:
        """Whether ``event`` is set within ``seconds`` (on this queue's clock)."""
        if event.is_set():
            return True
        if seconds <= 0:
            return False
        waiter = asyncio.ensure_future(event.wait())
        timer = asyncio.ensure_future(self._sleep(seconds))
        try:
            await asyncio.wait({waiter, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            timer.cancel()
            await asyncio.gather(waiter, timer, return_exceptions=True)
        return event.is_set()

    async def stop(self) -> list[T]:
        """Stop the workers and the lane now; returns the items never started, oldest first."""
        self._closing = True  # an item ending as it is cancelled starts no other
        tasks = [*self._workers, *self._lane]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._workers, self._lane = [], set()
        self._closing, self._running = False, 0
        self._settled.set()
        self.resume()
        left: list[T] = []
        for chat in self._chats.values():
            left += [*chat.urgent, *chat.items]
        self._chats.clear()
        self._line.clear()
        self._early.clear()
        self._idle.set()
        return left

    async def _work(self) -> None:
        while True:
            while not self._line or not self._open.is_set():
                if not self._line:
                    self._wake.clear()
                    await self._wake.wait()
                else:
                    await self._open.wait()
            key = self._line.popleft()
            chat = self._chats[key]
            chat.ready = False
            if chat.running or not chat.items:
                continue  # its turn comes again when the running item ends
            self._begin(chat)
            await self._run(key, chat.items.popleft())

    def _begin(self, chat: _Chat[T]) -> None:
        chat.running = True
        self._running += 1
        self._settled.clear()

    def _start_lane(self, key: K, item: T) -> None:
        task = asyncio.create_task(self._run(key, item))
        self._lane.add(task)
        task.add_done_callback(self._lane.discard)

    async def _run(self, key: K, item: T) -> None:
        try:
            await self._handle(item)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("queued item failed")
        finally:
            self._finish(key)

    def _finish(self, key: K) -> None:
        chat = self._chats.get(key)
        if chat is None:
            return
        chat.running = False
        self._running -= 1
        if not self._running:
            self._settled.set()
        if chat.urgent and not self._closing:
            self._begin(chat)
            self._start_lane(key, chat.urgent.popleft())
        elif chat.items or chat.urgent:
            if chat.items and not chat.ready:
                chat.ready = True
                self._line.append(key)
                self._wake.set()
        else:
            if chat.dropped:
                log.warning("flood over; updates dropped", extra={"count": chat.dropped})
            del self._chats[key]
            if not self._chats:
                self._idle.set()

    def _drop(self, key: K, chat: _Chat[T] | None, item: T | None, count: int = 1) -> None:
        if chat is not None:
            chat.dropped += count
            if chat.dropped == count:
                log.warning("chat over its queue cap; dropping", extra={"count": self.cap})
        else:
            log.warning("too many chats queued; update dropped", extra={"count": self.max_chats})
        self._count_drop(key, item, count)

    def _count_drop(self, key: K, item: T | None, count: int = 1) -> None:
        self.dropped_total += count
        if item is not None and self._on_drop is not None:
            self._on_drop(item)
        now = self._clock()
        last = self._noticed.get(key)
        if last is not None and now - last < self._notice_every_s:
            return
        self._noticed[key] = now
        self._noticed.move_to_end(key)
        while len(self._noticed) > self.max_chats:
            self._noticed.popitem(last=False)
        if self._on_overflow is not None:
            self._on_overflow(key)
