"""The fair scheduler: chats served round-robin, each in order, crisis items first."""

from __future__ import annotations

import asyncio
import logging

import pytest

from ketacompanion.fairqueue import FairQueue

from fakes.manual_time import ManualTime


async def settle(rounds: int = 20) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0)


async def test_each_chat_keeps_its_order_while_chats_interleave() -> None:
    done: list[tuple[str, int]] = []

    async def handle(item: tuple[str, int]) -> None:
        await asyncio.sleep(0)
        done.append(item)

    queue: FairQueue[str, tuple[str, int]] = FairQueue(handle, workers=2, cap=100)
    queue.start()
    for n in range(20):
        for chat in "abc":
            queue.submit(chat, (chat, n))
    assert await queue.drain(5) == []
    for chat in "abc":
        assert [n for c, n in done if c == chat] == list(range(20))
    # Round-robin: chat c's first item is not stuck behind all of a's and b's.
    assert done.index(("c", 0)) < 10


async def test_a_flood_takes_one_worker_and_another_chat_is_served_next() -> None:
    gate = asyncio.Event()
    started: list[str] = []

    async def handle(item: str) -> None:
        started.append(item)
        await gate.wait()

    queue: FairQueue[str, str] = FairQueue(handle, workers=2, cap=300)
    queue.start()
    for n in range(300):
        queue.submit("flood", f"flood{n}")
    queue.submit("other", "other0")
    await settle()
    assert started == ["flood0", "other0"]  # the flood holds one worker, not both
    gate.set()
    await queue.drain(5)
    assert len(started) == 301


async def test_crisis_item_runs_at_once_when_every_worker_is_busy() -> None:
    gate = asyncio.Event()
    started: list[str] = []

    async def handle(item: str) -> None:
        started.append(item)
        if not item.startswith("crisis"):
            await gate.wait()

    queue: FairQueue[str, str] = FairQueue(handle, workers=2, cap=50)
    queue.start()
    for chat in ("a", "b", "c"):
        for n in range(5):
            queue.submit(chat, f"{chat}{n}")
    await settle()
    assert len(started) == 2  # both workers held
    queue.submit("d", "crisis-d", urgent=True)
    await settle()
    assert started[-1] == "crisis-d"
    gate.set()
    await queue.drain(5)


async def test_crisis_of_a_flooding_chat_waits_only_for_its_running_item() -> None:
    gate = asyncio.Event()
    order: list[str] = []

    async def handle(item: str) -> None:
        order.append(f"start {item}")
        if item == "m0":
            await gate.wait()
        order.append(f"end {item}")

    queue: FairQueue[str, str] = FairQueue(handle, workers=4, cap=50)
    queue.start()
    for n in range(5):
        queue.submit("a", f"m{n}")
    await settle()
    queue.submit("a", "crisis1", urgent=True)
    queue.submit("a", "crisis2", urgent=True)
    await settle()
    assert order == ["start m0"]  # never two turns of one person at once
    gate.set()
    await queue.drain(5)
    assert order[:6] == ["start m0", "end m0", "start crisis1", "end crisis1", "start crisis2", "end crisis2"]
    assert [o for o in order if o.startswith("start m")] == [f"start m{n}" for n in range(5)]


async def test_ten_thousand_items_in_a_burst_stay_under_the_cap_with_one_notice(
    caplog: pytest.LogCaptureFixture,
) -> None:
    handled: list[int] = []
    notices: list[str] = []
    dropped: list[int] = []

    async def handle(item: int) -> None:
        handled.append(item)

    queue: FairQueue[str, int] = FairQueue(
        handle, workers=4, cap=50, on_overflow=notices.append, on_drop=dropped.append
    )
    queue.start()
    with caplog.at_level(logging.WARNING):
        for n in range(10_000):
            queue.submit("flood", n)
            assert queue.queued("flood") <= 50
        await queue.drain(5)
    assert queue.peak == 50
    assert handled == list(range(50))  # the first ones, in order
    assert queue.dropped_total == len(dropped) == 9_950
    assert notices == ["flood"]
    assert any(getattr(r, "count", None) == 9_950 for r in caplog.records)


async def test_a_notice_comes_again_only_after_a_quiet_spell() -> None:
    now = [0.0]
    notices: list[str] = []

    async def handle(item: int) -> None:
        return None

    queue: FairQueue[str, int] = FairQueue(
        handle, workers=1, cap=1, on_overflow=notices.append, notice_every_s=60, clock=lambda: now[0]
    )
    for n in range(3):
        queue.submit("a", n)  # not started: the queue holds one, drops two
    await queue.stop()
    now[0] = 30.0
    queue.submit("a", 1)
    queue.submit("a", 2)
    assert notices == ["a"]
    now[0] = 61.0
    queue.submit("a", 3)
    assert notices == ["a", "a"]
    await queue.stop()


async def test_crisis_items_are_never_dropped_and_chats_are_bounded() -> None:
    async def handle(item: str) -> None:
        return None

    queue: FairQueue[str, str] = FairQueue(handle, workers=1, cap=1, max_chats=2)
    assert queue.submit("a", "a0") and queue.submit("b", "b0")
    assert not queue.submit("c", "c0")  # a third chat waits for room
    assert not queue.submit("a", "a1")
    assert queue.submit("c", "crisis", urgent=True)
    left = await queue.stop()
    assert sorted(left) == ["a0", "b0"]  # the crisis item had already started


def test_nonsense_sizes_are_refused() -> None:
    async def handle(item: str) -> None:
        return None

    with pytest.raises(ValueError):
        FairQueue(handle, workers=0)
    with pytest.raises(ValueError):
        FairQueue(handle, cap=0)


async def test_items_refused_before_submission_count_as_that_chats_drops(
    caplog: pytest.LogCaptureFixture,
) -> None:
    notices: list[str] = []
    done: list[str] = []

    async def handle(item: str) -> None:
        done.append(item)

    queue: FairQueue[str, str] = FairQueue(handle, workers=1, cap=2, on_overflow=notices.append)
    assert queue.has_room("a", coming=1) and not queue.has_room("a", coming=2)
    with caplog.at_level(logging.WARNING):
        queue.drop("a")
        queue.drop("a")
        queue.start()
        queue.submit("a", "a1")
        queue.submit("a", "a2")
        assert not queue.has_room("a")
        assert await queue.drain(5) == []
    assert done == ["a1", "a2"]
    assert queue.dropped_total == 2 and notices == ["a"]  # one notice for the flood
    assert caplog.text.count("chat over its queue cap") == 1
    flood_over = [r for r in caplog.records if r.getMessage() == "flood over; updates dropped"]
    assert [r.count for r in flood_over] == [2]  # type: ignore[attr-defined]


async def test_a_batch_of_refusals_counts_as_that_many_single_ones(caplog: pytest.LogCaptureFixture) -> None:
    notices: list[str] = []

    async def handle(item: str) -> None:
        pass

    queue: FairQueue[str, str] = FairQueue(handle, workers=1, cap=3, on_overflow=notices.append)
    assert queue.room("a") == 3 and queue.room("a", coming=2) == 1 and queue.room("a", coming=5) == -2
    with caplog.at_level(logging.WARNING):
        queue.drop("a", count=4)  # before the chat had anything queued
        queue.submit("a", "a1")
        assert queue.room("a", coming=1) == 1
        queue.submit("a", "a2")
        queue.submit("a", "a3")
        queue.drop("a", count=3)  # and once it has
        queue.start()
        assert await queue.drain(5) == []
    assert queue.dropped_total == 7 and notices == ["a"]
    assert caplog.text.count("chat over its queue cap") == 1
    flood_over = [r for r in caplog.records if r.getMessage() == "flood over; updates dropped"]
    assert [r.count for r in flood_over] == [7]  # type: ignore[attr-defined]


async def test_a_paused_queue_starts_urgent_items_only_until_resumed() -> None:
    done: list[str] = []

    async def handle(item: str) -> None:
        done.append(item)

    queue: FairQueue[str, str] = FairQueue(handle, workers=2, cap=10)
    queue.start()
    queue.pause()
    queue.submit("a", "ordinary")
    queue.submit("b", "urgent", urgent=True)
    await settle()
    assert done == ["urgent"] and queue.paused
    queue.resume()
    await settle()
    assert done == ["urgent", "ordinary"]
    queue.pause()
    queue.submit("a", "left for the drain")
    assert await queue.drain(5) == []  # a drain resumes first
    assert done[-1] == "left for the drain"


async def _drain_on(time: ManualTime, queue: FairQueue[str, str], within_s: float, finish_s: float) -> tuple[list[str], float]:
    """Run ``queue.drain`` while the clock moves in half-second steps; what was left, and when it ended."""
    start = time.now
    drain = asyncio.create_task(queue.drain(within_s, finish_s))
    while not drain.done():
        assert time.now - start <= within_s + 1, "the drain overran its time"
        await time.advance(0.5)
    return drain.result(), time.now - start


def _timed_queue(time: ManualTime, took: dict[str, float], events: list[str]) -> FairQueue[str, str]:
    async def handle(item: str) -> None:
        events.append(f"start {item}")
        try:
            await time.sleep(took[item])  # a turn's writes and sends
        except asyncio.CancelledError:
            events.append(f"cut {item}")
            raise
        events.append(f"end {item}")

    queue: FairQueue[str, str] = FairQueue(handle, workers=1, cap=10, clock=time, sleep=time.sleep)
    queue.start()
    return queue


async def test_a_stop_lets_the_running_turn_finish_within_the_drain_time() -> None:
    time = ManualTime()
    events: list[str] = []
    queue = _timed_queue(time, {"a1": 9.0, "b1": 1.0}, events)
    queue.submit("a", "a1")
    queue.submit("b", "b1")  # behind a1: one worker
    await settle()
    left, took = await _drain_on(time, queue, within_s=10, finish_s=3)
    # a1 was running when the last 3 s began: it ends (at 9 s) instead of being cut off;
    # b1 never starts in that stretch and is handed back to be kept for the next start.
    assert events == ["start a1", "end a1"]
    assert left == ["b1"]
    assert 9 <= took <= 10


async def test_a_turn_that_overruns_the_drain_time_is_still_cut_off_at_its_end() -> None:
    time = ManualTime()
    events: list[str] = []
    queue = _timed_queue(time, {"a1": 60.0}, events)
    queue.submit("a", "a1")
    await settle()
    left, took = await _drain_on(time, queue, within_s=10, finish_s=3)
    assert events == ["start a1", "cut a1"] and left == []
    assert 10 <= took <= 10.5  # bounded by the drain time, not by the turn


async def test_turns_start_until_the_last_stretch_and_crisis_ones_wait_for_the_next_start() -> None:
    time = ManualTime()
    events: list[str] = []
    queue = _timed_queue(time, {"a1": 6.0, "a2": 3.0, "a3": 1.0, "b!": 1.0}, events)
    for item in ("a1", "a2", "a3"):
        queue.submit("a", item)
    await settle()
    drain = asyncio.create_task(queue.drain(10, 3))
    for _ in range(15):  # to 7.5 s: a2 started at 6 s, before the last stretch
        await time.advance(0.5)
    queue.submit("b", "b!", urgent=True)  # too late to start: kept, never cut off half-way
    while not drain.done():
        await time.advance(0.5)
    assert events == ["start a1", "end a1", "start a2", "end a2"]
    assert sorted(drain.result()) == ["a3", "b!"]


async def test_a_drain_with_nothing_running_returns_at_once() -> None:
    time = ManualTime()
    queue = _timed_queue(time, {}, [])
    left, took = await _drain_on(time, queue, within_s=10, finish_s=3)
    assert left == [] and took <= 0.5
