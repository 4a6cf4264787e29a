"""The fake Bot API in a process of its own (bench/_telegram_server.py), driven through
its control routes: shared by the benchmarks that must not pay the server's CPU."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
from _common import fail

SCRIPT = Path(__file__).resolve().parent / "_telegram_server.py"


class ServerProcess:
    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(SCRIPT)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().split()
        if len(line) != 2:
            fail("the fake Bot API server did not start")
        self.origin, self.control = line
        self.http: aiohttp.ClientSession | None = None

    async def call(self, verb: str, route: str, body: dict[str, Any] | None = None, **query: object) -> dict[str, Any]:
        """One control route's JSON answer; a refusal stops the benchmark with its reason."""
        assert self.http is not None
        params = {k: str(v) for k, v in query.items()}
        async with self.http.request(verb, f"{self.control}/control/{route}", json=body, params=params) as r:
            found = await r.json()
            if r.status != 200:
                fail(f"server: {route}: {found.get('error', r.status)}")
            return found  # type: ignore[no-any-return]

    async def wait_polling(self) -> None:
        for _ in range(1000):
            if (await self.call("GET", "sent", since=0))["polling"]:
                return
            await asyncio.sleep(0.01)
        fail("the bot never polled the fake server")

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=10)
