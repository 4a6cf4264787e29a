"""One member's turns in order, others' beside them, and no lock kept once idle."""

from __future__ import annotations

import asyncio

from ketacompanion.adapters.discord.ordering import KeyedLocks


async def test_one_members_turns_run_in_order_and_others_do_not_wait() -> None:
    locks, log = KeyedLocks(), []
    gate = asyncio.Event()

    async def turn(key: str, n: int, wait: bool) -> None:
        async with locks.hold(key):
            log.append((key, n, "in"))
            if wait:
                await gate.wait()
            log.append((key, n, "out"))

    first = asyncio.create_task(turn("ann", 1, True))
    second = asyncio.create_task(turn("ann", 2, False))
    other = asyncio.create_task(turn("bo", 1, False))
    await asyncio.wait({other})
    assert ("bo", 1, "out") in log and ("ann", 2, "in") not in log  # bo never waited for ann
    gate.set()
    await asyncio.gather(first, second)
    ann = [entry for entry in log if entry[0] == "ann"]
    assert ann == [("ann", 1, "in"), ("ann", 1, "out"), ("ann", 2, "in"), ("ann", 2, "out")]
    assert len(locks) == 0
