"""Stopping ``ketacompanion run``: the scheduler's pass under way finishes, and only then do
the platforms it sends through close."""

from __future__ import annotations

import asyncio
from typing import Any

from ketacompanion.delivery.wakeup import WakeUps
from ketacompanion.runtime import run_services


async def test_platforms_stop_only_after_the_scheduler_has_finished() -> None:
    order: list[str] = []
    release = asyncio.Event()

    async def scheduler(stop: asyncio.Event) -> None:
        await stop.wait()
        await release.wait()  # a send under way
        order.append("scheduler done")

    async def platform(stop: asyncio.Event) -> None:
        await stop.wait()
        order.append("platform closed")

    stop = asyncio.Event()
    task = asyncio.create_task(run_services([platform], stop, first=[scheduler]))
    stop.set()
    for _ in range(20):
        await asyncio.sleep(0)
    assert order == []  # the platform is still open while the scheduler works
    release.set()
    await asyncio.wait_for(task, 5)
    assert order == ["scheduler done", "platform closed"]


class SlowDelivery:
    """A delivery pass that waits to be let go, like a send waiting for its answer."""

    def __init__(self) -> None:
        self.started, self.release = asyncio.Event(), asyncio.Event()
        self.finished = 0
        self.clock: Any = None

    async def tick(self) -> Any:
        self.started.set()
        await self.release.wait()
        self.finished += 1
        return _Stats()

    async def next_wake(self) -> None:
        return None


class _Stats:
    claimed = 0

    class drained:  # noqa: N801 - mirrors TickStats.drained
        sent = 0


async def test_stopping_the_scheduler_lets_the_pass_under_way_finish() -> None:
    delivery = SlowDelivery()
    wakeups = WakeUps(delivery, 60)  # type: ignore[arg-type]
    wakeups.start()
    await asyncio.wait_for(delivery.started.wait(), 5)
    stopping = asyncio.create_task(wakeups.stop())
    for _ in range(20):
        await asyncio.sleep(0)
    assert not stopping.done()  # waits for the pass
    delivery.release.set()
    await asyncio.wait_for(stopping, 5)
    assert delivery.finished == 1  # finished, not cancelled by the scheduler's shutdown
