"""Telegram throughput: the full stack against a bare python-telegram-bot echo bot.

Both poll the same fake Bot API server (tests/fakes, on loopback) in this one process and
get the same updates: ``--updates`` text messages (``/help``) from ``--users`` people, all
queued at once. Time runs from the first update queued to the last reply the server
recorded. The full stack is the adapter, the companion and a SQLite file; send pacing is
off (``"rate_limits": "off"``) because Telegram's limits would measure Telegram, not us.

    .venv/bin/python bench/telegram.py [--updates 2000] [--users 200]

Prints one JSON line: updates_per_s, bare_ptb_updates_per_s and ratio (aim: >= 0.8).

The bare bot handles one update at a time (python-telegram-bot's default); the full stack
handles 16 chats at once, which real Telegram latency needs but a loopback server does not
reward: on a quiet machine most of the gap is httpx's connection-pool bookkeeping for the
requests in flight, not the adapter or the core (see ``concurrent_updates`` in the output).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import logging
import os
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# This file is named like the library: keep its own folder off the path so "telegram" is PTB.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("PTB_TIMEDELTA", "true")

from telegram import Update  # noqa: E402
from telegram.ext import ApplicationBuilder, ContextTypes, MessageHandler, filters  # noqa: E402

from ketacompanion.adapters.telegram.limits import Limits  # noqa: E402
from ketacompanion.adapters.telegram.runner import (  # noqa: E402
    Timeouts,
    build_adapter,
    build_application,
    telegram_service,
)
from ketacompanion.app import build_app  # noqa: E402
from ketacompanion.settings import load_settings  # noqa: E402

from fakes.telegram_api import FakeBotAPI  # noqa: E402

POLL = timedelta(seconds=1)


async def measure(api: FakeBotAPI, updates: int, users: int) -> float:
    """Queue the updates, wait for as many replies; updates per second, by server clock."""
    start_index = len(api.calls)
    first = None
    for n in range(updates):
        raw = api.inject_update(api.message_update(1000 + n % users, "/help"))
        first = first if first is not None else api.state.clock()
        del raw
    seen, last_at, index = 0, 0.0, start_index
    while seen < updates:
        await asyncio.sleep(0.005)
        calls = api.calls
        while index < len(calls):
            call = calls[index]
            if call.method == "sendMessage":
                if not call.done:
                    break
                seen += 1
                last_at = call.at
            index += 1
    assert first is not None
    return updates / max(last_at - first, 1e-9)


async def bare(api: FakeBotAPI, updates: int, users: int) -> float:
    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text("help")

    application = (
        ApplicationBuilder().token(api.token).base_url(api.base_url)
        .base_file_url(api.base_file_url).build()
    )  # fmt: skip
    application.add_handler(MessageHandler(filters.ALL, echo))
    async with application:
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(timeout=POLL)
        try:
            return await measure(api, updates, users)
        finally:
            await application.updater.stop()
            await application.stop()


async def full(api: FakeBotAPI, updates: int, users: int, tmp: Path) -> float:
    settings = load_settings(
        database_url=f"sqlite+aiosqlite:///{tmp / 'bench.db'}",
        data_key=base64.urlsafe_b64encode(b"b" * 32).decode(),
        key_file=tmp / "data.key", content_dir=ROOT / "content",
    )  # fmt: skip
    app = await build_app(settings)
    try:
        timeouts = Timeouts(poll=POLL.total_seconds())
        application = build_application(api.token, api.base_url, api.base_file_url, timeouts)
        adapter = build_adapter(app, application, limits=Limits.off())
        stop = asyncio.Event()
        task = asyncio.create_task(telegram_service(adapter, settings, timeouts)(stop))
        try:
            await api.wait_for(lambda c: c.method == "getUpdates", pending=True)
            return await measure(api, updates, users)
        finally:
            stop.set()
            await task
    finally:
        await app.close()


async def main(updates: int, users: int) -> dict[str, object]:
    async with FakeBotAPI() as api:
        bare_rate = await bare(api, updates, users)
        with tempfile.TemporaryDirectory() as tmp:
            full_rate = await full(api, updates, users, Path(tmp))
    return {
        "benchmark": "telegram",
        "updates": updates,
        "users": users,
        "updates_per_s": round(full_rate, 1),
        "bare_ptb_updates_per_s": round(bare_rate, 1),
        "ratio": round(full_rate / bare_rate, 3),
        "concurrent_updates": {"full": 16, "bare_ptb": 1},
        "rate_limits": "off",
        "database": "sqlite file",
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=2000)
    parser.add_argument("--users", type=int, default=200)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(json.dumps(asyncio.run(main(args.updates, args.users))))
