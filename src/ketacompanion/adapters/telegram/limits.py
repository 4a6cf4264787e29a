"""Telegram's sending limits, kept before each send rather than learnt from 429s.

About 1 message per second in a private chat (short bursts tolerated), 20 per minute in a
group, 30 per second overall; a 429 pauses every send until its ``retry_after`` ends.
Time and sleep are injected so tests run on a fake clock.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

Sleep = Callable[[float], Awaitable[None]]
Monotonic = Callable[[], float]
MAX_TRACKED_CHATS = 10_000  # idle chats are forgotten past this many


@dataclass(frozen=True, slots=True)
class Limits:
    private_per_s: float = 1.0
    private_burst: int = 3
    group_per_minute: int = 20
    global_per_s: int = 30
    enabled: bool = True

    @classmethod
    def off(cls) -> Limits:
        """No pacing: for benchmarks against a fake server, never for Telegram."""
        return cls(enabled=False)


class _Bucket:
    """A token bucket: ``burst`` sends at once, then one per ``1 / rate`` seconds."""

    __slots__ = ("tokens", "stamp")

    def __init__(self, burst: float, now: float) -> None:
        self.tokens, self.stamp = burst, now

    def wait(self, rate: float, burst: float, now: float) -> float:
        self.tokens = min(burst, self.tokens + (now - self.stamp) * rate)
        self.stamp = now
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / rate


class _Window:
    """At most ``count`` events in any ``span`` seconds (exact, unlike a bucket)."""

    __slots__ = ("times",)

    def __init__(self) -> None:
        self.times: deque[float] = deque()

    def wait(self, count: int, span: float, now: float) -> float:
        while self.times and self.times[0] <= now - span:
            self.times.popleft()
        return 0.0 if len(self.times) < count else self.times[0] + span - now


class Hold:
    """Nobody sends until ``until``: a 429's ``retry_after``, shared by every sender and
    by the request wrapper that writes each request (see gate.py)."""

    __slots__ = ("until", "clock", "sleep")

    def __init__(self, clock: Monotonic = time.monotonic, sleep: Sleep = asyncio.sleep) -> None:
        self.until, self.clock, self.sleep = 0.0, clock, sleep

    def hold(self, seconds: float) -> None:
        self.until = max(self.until, self.clock() + seconds)

    def remaining(self) -> float:
        return self.until - self.clock()

    async def wait(self) -> None:
        while (left := self.remaining()) > 0:
            await self.sleep(left)


class RateLimiter:
    def __init__(
        self, limits: Limits | None = None, clock: Monotonic = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:  # fmt: skip
        self.limits = limits or Limits()
        self._clock, self._sleep = clock, sleep
        self.hold = Hold(clock, sleep)
        self._global = _Window()
        self._private: dict[int, _Bucket] = {}
        self._groups: dict[int, _Window] = {}

    def pause(self, seconds: float) -> None:
        """Telegram said 429: nobody sends until ``seconds`` from now."""
        self.hold.hold(seconds)

    async def acquire(self, chat_id: int) -> None:
        """Wait until one more message to ``chat_id`` keeps within every limit, and take it."""
        while True:
            now = self._clock()
            wait = self.hold.until - now
            if self.limits.enabled:
                wait = max(wait, self._wait_for_limits(chat_id, now))
            if wait <= 0:
                self._take(chat_id, now)
                return
            await self._sleep(wait)

    def _wait_for_limits(self, chat_id: int, now: float) -> float:
        limits = self.limits
        wait = self._global.wait(limits.global_per_s, 1.0, now)
        if chat_id < 0:  # groups and channels have negative ids
            window = self._groups.setdefault(chat_id, _Window())
            wait = max(wait, window.wait(limits.group_per_minute, 60.0, now))
        bucket = self._private.get(chat_id)
        if bucket is None:
            self._forget_idle(now)
            bucket = self._private[chat_id] = _Bucket(limits.private_burst, now)
        return max(wait, bucket.wait(limits.private_per_s, limits.private_burst, now))

    def _take(self, chat_id: int, now: float) -> None:
        if not self.limits.enabled:
            return
        self._global.times.append(now)
        if chat_id < 0:
            self._groups[chat_id].times.append(now)
        self._private[chat_id].tokens -= 1

    def _forget_idle(self, now: float) -> None:
        if len(self._private) < MAX_TRACKED_CHATS:
            return
        burst, rate = self.limits.private_burst, self.limits.private_per_s
        idle = [
            chat_id
            for chat_id, bucket in self._private.items()
            if bucket.tokens + (now - bucket.stamp) * rate >= burst
            and self._groups.get(chat_id, _Window()).wait(1, 60.0, now) == 0
        ]
        for chat_id in idle:
            del self._private[chat_id]
            self._groups.pop(chat_id, None)
