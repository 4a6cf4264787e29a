"""One outbox pass as its own process, for the kill -9 tests: it drains the outbox through
python-telegram-bot to the fake Bot API and, if asked, kills itself with SIGKILL at one
step of the send path.

    python tests/fakes/outbox_worker.py DB_URL KEY BASE_URL TOKEN NOW CRASH_AT

CRASH_AT is one of: none, claim (before the claim commits), attempt (before the attempt
commits), send (after the attempt commit, before the request), sent (after the platform
confirmed, before the row is marked), mark (before the marking commits). A send held by
the fake server is killed from outside."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event

from ketacompanion.adapters.telegram.delivery import RetryPolicy, TelegramSender
from ketacompanion.adapters.telegram.runner import Timeouts, build_application
from ketacompanion.core.clock import FakeClock
from ketacompanion.core.model import Address, Reply
from ketacompanion.delivery.outbox import Outbox
from ketacompanion.storage.engine import create_engine
from ketacompanion.storage.keycheck import open_cipher


def die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


class Crashing:
    def __init__(self, sender: TelegramSender, crash_at: str) -> None:
        self.platform = sender.platform
        self._sender, self._crash_at = sender, crash_at

    async def send(self, address: Address, reply: Reply) -> None:
        if self._crash_at == "send":
            die()
        await self._sender.send(address, reply)
        if self._crash_at == "sent":
            die()


async def main(url: str, key: str, base_url: str, token: str, now: str, crash_at: str) -> dict[str, Any]:
    engine = create_engine(url)
    cipher = await open_cipher(engine, key, Path(os.devnull))
    phase = {"name": ""}

    @event.listens_for(engine.sync_engine, "commit")
    def _before_commit(_conn: Any) -> None:
        if crash_at == phase["name"]:
            die()

    application = build_application(token, base_url, base_url.replace("/bot", "/file/bot"),
                                    Timeouts(connect=2, read=30, write=5, pool=2, poll=1))  # fmt: skip
    async with application:
        sender = Crashing(TelegramSender(application.bot, None, policy=RetryPolicy()), crash_at)
        outbox = Outbox(engine, cipher, FakeClock(datetime.fromisoformat(now)), {"telegram": sender}, 25.0)
        for method, name in (("_claim", "claim"), ("_begin_attempts", "attempt"), ("_record", "mark")):
            original = getattr(outbox, method)

            async def step(*args: Any, _original: Any = original, _name: str = name) -> Any:
                phase["name"] = _name
                try:
                    return await _original(*args)
                finally:
                    phase["name"] = ""

            setattr(outbox, method, step)
        stats = await outbox.drain()
    await engine.dispose()
    return {"sent": stats.sent, "unconfirmed": stats.unconfirmed, "retried": stats.retried, "worker": outbox.worker}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(*sys.argv[1:7]))))
