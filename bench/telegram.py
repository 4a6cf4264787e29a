"""Telegram throughput: the full stack against a bare python-telegram-bot bot, paired.

The project's fake Bot API server runs in a process of its own (bench/_telegram_server.py),
so this process's CPU is the bot's alone. Both bots poll it in turn, alternating which goes
first in each repeat, and get the same updates: ``--updates`` text messages (``/help``) from
``--users`` people, queued at once. Both handle ``--concurrency`` updates at once and send
the same reply: the bare bot sends the very text and parse mode the full stack sent, read
back from the server. Time runs from the moment the updates were queued to the last reply
the server finished. The full stack is the adapter, the companion and a SQLite file; send
pacing is off because Telegram's limits would measure Telegram, not us.

    .venv/bin/python bench/telegram.py [--updates 2000] [--users 200] [--repeats 5]

Prints one JSON line: updates/s and CPU microseconds an update for each, and
``ratio_min`` / ``ratio_median`` / ``ratio_max`` of the full stack's speed over the bare bot's
on PTB's default request class (httpx); ``ratio_same_request_*`` over a bare bot on the
project's own aiohttp request class, so the request class's gain is not counted as ours.
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
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# This file is named like the library: keep its own folder off the path so "telegram" is PTB.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
os.environ.setdefault("PTB_TIMEDELTA", "true")

import aiohttp  # noqa: E402
from telegram import Update  # noqa: E402
from telegram.ext import Application, ApplicationBuilder, ContextTypes, MessageHandler, filters  # noqa: E402

from ketacompanion.adapters.telegram.limits import Limits  # noqa: E402
from ketacompanion.adapters.telegram.request import AiohttpRequest  # noqa: E402
from ketacompanion.adapters.telegram.runner import (  # noqa: E402
    Timeouts,
    build_adapter,
    build_application,
    telegram_service,
)
from ketacompanion.app import App, build_app  # noqa: E402
from ketacompanion.settings import load_settings  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))  # for _common; PTB is imported already, so no shadowing
from _common import positive, ratios, spread, warmed_up  # noqa: E402
from _telegram_process import ServerProcess  # noqa: E402

TOKEN = "123:ABC"  # the fake server's
POLL = timedelta(seconds=1)
Side = Callable[[], Awaitable[tuple[float, float]]]


class Server(ServerProcess):
    """The fake Bot API in its own process, with this benchmark's two routes."""

    async def get(self, route: str, **query: object) -> dict[str, object]:
        return await self.call("GET", route, **query)

    async def inject(self, updates: int, users: int, first_chat: int) -> dict[str, object]:
        body = {"updates": updates, "users": users, "first_chat": first_chat, "text": "/help"}
        return await self.call("POST", "inject", body)


async def measure(server: Server, updates: int, users: int, first_chat: int) -> tuple[float, float, dict]:
    """Queue the updates, wait for as many replies: updates/s by the server's clock, and
    this process's CPU microseconds an update."""
    await server.wait_polling()
    cpu = time.process_time()
    queued = await server.inject(updates, users, first_chat)
    while True:
        seen = await server.get("sent", since=queued["since"])
        if int(seen["done"]) >= updates:  # type: ignore[arg-type]
            break
        await asyncio.sleep(0.01)
    cpu = time.process_time() - cpu
    elapsed = float(seen["last_at"]) - float(queued["queued_at"])  # type: ignore[arg-type]
    return updates / max(elapsed, 1e-9), cpu / updates * 1e6, seen["sample"]  # type: ignore[return-value]


async def polled(application: Application, run: Callable[[], Awaitable[tuple]]) -> tuple:  # type: ignore[type-arg]
    async with application:
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(timeout=POLL)
        try:
            return await run()
        finally:
            await application.updater.stop()
            await application.stop()


def bare_bot(server: Server, concurrency: int, reply: dict, same_request: bool = False) -> Application:  # type: ignore[type-arg]
    """A bare echo bot; with ``same_request`` on the project's aiohttp request class, sized
    as the full stack sizes it, else on PTB's default (httpx)."""
    text, parse_mode = reply["text"], reply["parse_mode"]

    async def answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_chat is not None
        await context.bot.send_message(update.effective_chat.id, text, parse_mode=parse_mode)

    builder = (
        ApplicationBuilder().token(TOKEN).base_url(f"{server.origin}/bot")
        .base_file_url(f"{server.origin}/file/bot").concurrent_updates(concurrency)
    )  # fmt: skip
    if same_request:
        builder = builder.request(AiohttpRequest(connection_pool_size=concurrency * 2)).get_updates_request(
            AiohttpRequest(connection_pool_size=1)
        )
    application = builder.build()
    application.add_handler(MessageHandler(filters.ALL, answer))
    return application


async def full_stack(server: Server, app: App, concurrency: int, updates: int, users: int, first: int) -> tuple:
    timeouts = Timeouts(poll=POLL.total_seconds())
    application = build_application(
        TOKEN, f"{server.origin}/bot", f"{server.origin}/file/bot", timeouts, concurrency=concurrency
    )
    adapter = build_adapter(app, application, limits=Limits.off())
    stop = asyncio.Event()
    task = asyncio.create_task(telegram_service(adapter, app.settings, timeouts)(stop))
    try:
        return await measure(server, updates, users, first)
    finally:
        stop.set()
        await task


async def main(args: argparse.Namespace) -> dict[str, object]:
    server = Server()
    try:
        async with aiohttp.ClientSession() as http:
            server.http = http
            with tempfile.TemporaryDirectory() as tmp:
                settings = load_settings(
                    database_url=f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}",
                    data_key=base64.urlsafe_b64encode(b"b" * 32).decode(),
                    key_file=Path(tmp) / "data.key", content_dir=ROOT / "content",
                    export_dir=Path(tmp) / "exports",
                )  # fmt: skip
                app = await build_app(settings)
                await warmed_up()
                try:
                    return await paired(args, server, app)
                finally:
                    await app.close()
    finally:
        server.close()


async def paired(args: argparse.Namespace, server: Server, app: App) -> dict[str, object]:
    chats = iter(range(10_000, 10_000_000, args.users))  # fresh people each run

    async def full() -> tuple:
        return await full_stack(server, app, args.concurrency, args.updates, args.users, next(chats))

    # A warm-up run of the full stack, whose reply the bare bot will then send word for word.
    _, _, reply = await full()
    if not reply or not reply.get("text"):
        raise SystemExit("telegram.py: the full stack sent no reply to /help")

    async def bare() -> tuple:
        application = bare_bot(server, args.concurrency, reply)
        first = next(chats)
        return await polled(application, lambda: measure(server, args.updates, args.users, first))

    async def same() -> tuple:
        application = bare_bot(server, args.concurrency, reply, same_request=True)
        first = next(chats)
        return await polled(application, lambda: measure(server, args.updates, args.users, first))

    sides: list[tuple[str, Side]] = [("full", full), ("bare", bare), ("same", same)]  # type: ignore[list-item]
    rates: dict[str, list[float]] = {name: [] for name, _ in sides}
    cpus: dict[str, list[float]] = {name: [] for name, _ in sides}
    ratio: list[float] = []
    ratio_same: list[float] = []
    for repeat in range(args.repeats):
        # Each side goes first, second and third in turn, so drift on a shared machine
        # falls on all of them alike.
        shift = repeat % len(sides)
        for name, side in sides[shift:] + sides[:shift]:
            rate, cpu, _ = await side()  # type: ignore[misc]
            rates[name].append(rate)
            cpus[name].append(cpu)
        ratio.append(rates["full"][-1] / rates["bare"][-1])
        ratio_same.append(rates["full"][-1] / rates["same"][-1])
    return {
        "bench": "telegram",
        "updates": args.updates,
        "users": args.users,
        "concurrency": args.concurrency,
        "repeats": args.repeats,
        "anchor": "bare python-telegram-bot bot, default request class, same concurrency and reply",
        "updates_per_s": spread(rates["full"], 1),
        "bare_ptb_updates_per_s": spread(rates["bare"], 1),
        **ratios("ratio", ratio),
        "anchor_same_request": "bare python-telegram-bot bot on the same aiohttp request class",
        **ratios("ratio_same_request", ratio_same),
        "bare_same_request_updates_per_s": spread(rates["same"], 1),
        "bare_same_request_cpu_us_per_update": spread(cpus["same"], 1),
        "cpu_us_per_update": spread(cpus["full"], 1),
        "bare_ptb_cpu_us_per_update": spread(cpus["bare"], 1),
        "reply_parse_mode": reply.get("parse_mode"),
        "rate_limits": "off",
        "database": "sqlite file",
        "server": "fake Bot API in its own process",
    }


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=positive(int, 100_000), default=2000)
    parser.add_argument("--users", type=positive(int, 10_000), default=200)
    parser.add_argument("--concurrency", type=positive(int, 256), default=16)
    parser.add_argument("--repeats", type=positive(int, 50), default=5)
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse()
    logging.basicConfig(level=logging.WARNING)
    print(json.dumps(asyncio.run(main(arguments))))
