"""A clock for asyncio tests that moves only when the test says."""

from __future__ import annotations

import asyncio


class ManualTime:
    """A clock that moves only when the test says; sleepers wake when their time comes."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now
        self._moved = asyncio.Condition()

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        until = self.now + max(seconds, 0.0)
        async with self._moved:
            await self._moved.wait_for(lambda: self.now >= until)

    async def advance(self, seconds: float) -> None:
        self.now += seconds
        async with self._moved:
            self._moved.notify_all()
        for _ in range(50):
            await asyncio.sleep(0)
