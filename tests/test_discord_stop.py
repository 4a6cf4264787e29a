"""A stop on Discord answers what was accepted before the client closes, as on Telegram:
the adapter's queue is drained while the client can still send, and only then closed."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ketacompanion.adapters.discord.runner import DRAIN_S, discord_service


class FakeBot:
    """As much of discord.py's client as the service uses: ``start`` runs until ``close``."""

    def __init__(self, calls: list[str]) -> None:
        self.calls = calls
        self._closed = asyncio.Event()

    async def __aenter__(self) -> FakeBot:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.calls.append("exit")

    async def start(self, token: str) -> None:
        self.calls.append("start")
        await self._closed.wait()

    async def close(self) -> None:
        self.calls.append("close")
        self._closed.set()


class FakeAdapter:
    def __init__(self, calls: list[str]) -> None:
        self.calls = calls
        self.within: list[float] = []

    async def close(self, within_s: float = 0.0) -> None:
        assert "close" not in self.calls  # the client is still open while turns finish
        self.calls.append("drain")
        self.within.append(within_s)

    async def reping(self) -> None:
        return None


async def test_a_stop_drains_accepted_turns_before_the_client_closes() -> None:
    calls: list[str] = []
    adapter = FakeAdapter(calls)
    serve = discord_service(FakeBot(calls), adapter, "token")  # type: ignore[arg-type]
    stop = asyncio.Event()
    task = asyncio.create_task(serve(stop))
    for _ in range(20):
        await asyncio.sleep(0)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert calls == ["start", "drain", "close", "exit"]
    assert adapter.within == [DRAIN_S]


async def test_a_client_that_failed_to_start_is_not_drained() -> None:
    calls: list[str] = []

    class Refused(FakeBot):
        async def start(self, token: str) -> Any:
            calls.append("start")
            raise RuntimeError("refused")

    adapter = FakeAdapter(calls)
    serve = discord_service(Refused(calls), adapter, "token")  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="refused"):
        await asyncio.wait_for(serve(asyncio.Event()), 5)
    assert "drain" not in calls and "close" in calls
