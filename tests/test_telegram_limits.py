"""Send pacing on a fake clock: per chat, per group, overall, and the 429 pause."""

from __future__ import annotations

import asyncio

import pytest

import ketacompanion.adapters.telegram.limits as limits_module
from ketacompanion.adapters.telegram.limits import Limits, RateLimiter


class FakeTime:
    """A monotonic clock that only moves when someone sleeps on it."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(seconds, 0.0)
        await asyncio.sleep(0)


async def send_times(limiter: RateLimiter, time: FakeTime, chat_id: int, count: int) -> list[float]:
    times = []
    for _ in range(count):
        await limiter.acquire(chat_id)
        times.append(time.now)
    return times


async def test_private_chat_allows_a_burst_then_one_per_second() -> None:
    time = FakeTime()
    limiter = RateLimiter(Limits(private_burst=3), time, time.sleep)
    start = time.now
    offsets = [round(t - start, 3) for t in await send_times(limiter, time, 42, 6)]
    assert offsets == [0, 0, 0, 1, 2, 3]


async def test_chats_do_not_wait_for_each_other() -> None:
    time = FakeTime()
    limiter = RateLimiter(Limits(private_burst=1), time, time.sleep)
    await limiter.acquire(1)
    await limiter.acquire(2)
    await limiter.acquire(3)
    assert time.sleeps == []


async def test_group_gets_at_most_twenty_a_minute() -> None:
    time = FakeTime()
    limiter = RateLimiter(Limits(private_burst=30), time, time.sleep)
    times = await send_times(limiter, time, -100123, 41)
    for i in range(len(times) - 20):
        assert times[i + 20] - times[i] >= 60.0
    assert times[20] - times[0] == 60.0


async def test_overall_thirty_a_second() -> None:
    time = FakeTime()
    limiter = RateLimiter(Limits(), time, time.sleep)
    times = []
    for chat in range(1, 91):
        await limiter.acquire(chat)
        times.append(time.now)
    for i in range(len(times) - 30):
        assert times[i + 30] - times[i] >= 1.0
    assert times[-1] - times[0] < 3.0  # not slower than it has to be


async def test_pause_holds_every_chat_until_it_ends() -> None:
    time = FakeTime()
    limiter = RateLimiter(Limits(), time, time.sleep)
    start = time.now
    limiter.pause(7)
    await limiter.acquire(5)
    await limiter.acquire(6)
    assert time.now - start == 7.0


async def test_off_paces_nothing_but_still_honours_a_pause() -> None:
    time = FakeTime()
    limiter = RateLimiter(Limits.off(), time, time.sleep)
    await send_times(limiter, time, 1, 100)
    assert time.sleeps == []
    limiter.pause(2)
    await limiter.acquire(1)
    assert time.sleeps == [2.0]


async def test_idle_chats_are_forgotten(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits_module, "MAX_TRACKED_CHATS", 5)
    time = FakeTime()
    limiter = RateLimiter(Limits(), time, time.sleep)
    for chat in range(1, 5):
        await limiter.acquire(chat)
    await limiter.acquire(-7)  # a group that sent within the minute is kept
    time.now += 10  # every bucket refills
    await limiter.acquire(99)
    assert set(limiter._private) == {-7, 99}
