"""Serving a fake platform from its own process, for the benchmarks that pair the project
with a bare bot: a free loopback port, its address on stdout, and a stop when the parent
closes stdin."""

from __future__ import annotations

import asyncio
import sys

from aiohttp import web


async def serve_until_stdin_closes(app: web.Application, *before: str) -> None:
    """Serve ``app`` on 127.0.0.1; print ``before`` then the server's URL on one line."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(*before, f"http://127.0.0.1:{runner.addresses[0][1]}", flush=True)
    try:
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    finally:
        await runner.cleanup()
