"""Fairness: time to another person's /crisis reply while one chat floods, against no flood.

The whole stack (python-telegram-bot polling the project's fake Bot API on loopback, the
adapter, the fair ingress queue, the companion and a real SQLite file) runs in one process
with the fake server, timed once start-up's background loading (place tables, matplotlib)
is over. Three phases in one run: quiet, then a flood of ``--small`` messages
from one chat, then a flood of ``--large``. In each, ``--samples`` other people send
``/crisis`` one after another, the first queued right behind the flood; each latency runs
from the moment the update is queued at the server to the moment the server finished
the reply. Send pacing is off (Telegram's limits would measure Telegram, not us).

    .venv/bin/python bench/fairness.py [--small 300] [--large 3000] [--samples 30]

Prints one JSON line: ``crisis_p50_ms_quiet``, ``crisis_p99_ms_quiet``, the same for the
large flood (``crisis_p50_ms_flood``, ``crisis_p99_ms_flood``) and for the small one
(``..._flood300`` named by its size), how many samples were answered while the flooding
chat still had updates queued, and the flood's drop count and peak queue.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("PTB_TIMEDELTA", "true")

from ketacompanion.adapters.telegram.ingress import FairProcessor  # noqa: E402
from ketacompanion.adapters.telegram.limits import Limits  # noqa: E402
from ketacompanion.adapters.telegram.runner import (  # noqa: E402
    Timeouts,
    build_adapter,
    build_application,
    telegram_service,
)
from ketacompanion.app import App, build_app  # noqa: E402
from ketacompanion.settings import load_settings  # noqa: E402

from fakes.telegram_api import FakeBotAPI  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from _common import fail, pct, positive, warmed_up  # noqa: E402

TIMEOUTS = Timeouts(poll=1.0)


class Waiter:
    """Finds finished sendMessage calls to a chat, scanning only calls not seen before."""

    def __init__(self, api: FakeBotAPI) -> None:
        self.api, self.seen = api, 0
        self.done_to: dict[object, float] = {}
        self.open: list[int] = []

    def scan(self) -> None:
        calls = self.api.calls
        still: list[int] = []
        for i in [*self.open, *range(self.seen, len(calls))]:
            call = calls[i]
            if call.method != "sendMessage":
                continue
            if not call.done:
                still.append(i)
                continue
            self.done_to.setdefault(call.params.get("chat_id"), time.perf_counter())
        self.seen, self.open = len(calls), still

    async def reply_to(self, chat: int, within_s: float = 30.0) -> float:
        deadline = time.perf_counter() + within_s
        while True:
            self.scan()
            if chat in self.done_to:
                return self.done_to[chat]
            if time.perf_counter() > deadline:
                fail(f"no reply to /crisis from chat {chat} within {within_s:g} s")
            await asyncio.sleep(0.001)


async def phase(api: FakeBotAPI, waiter: Waiter, processor: FairProcessor, flood: int,
                samples: int, chats: list[int]) -> tuple[list[float], int]:  # fmt: skip
    flooder = chats.pop()
    for n in range(flood):
        api.inject_update(api.message_update(flooder, f"message {n}"))
    latencies, during = [], 0
    for _ in range(samples):
        chat = chats.pop()
        sent = time.perf_counter()
        api.inject_update(api.message_update(chat, "/crisis"))
        latencies.append((await waiter.reply_to(chat) - sent) * 1000)
        during += processor.queue.queued(flooder) > 0
    await processor.queue.wait_idle()  # the next phase starts with the flood handled
    return latencies, during


async def main(args: argparse.Namespace) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(
            database_url=f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}",
            data_key=base64.urlsafe_b64encode(b"f" * 32).decode(),
            key_file=Path(tmp) / "data.key", content_dir=ROOT / "content",
            export_dir=Path(tmp) / "exports",
        )  # fmt: skip
        app: App = await build_app(settings)
        await warmed_up()  # start-up's background loading is not the flood's cost
        try:
            async with FakeBotAPI() as api:
                application = build_application(api.token, api.base_url, api.base_file_url, TIMEOUTS)
                adapter = build_adapter(app, application, limits=Limits.off())
                processor = application.update_processor
                assert isinstance(processor, FairProcessor)
                stop = asyncio.Event()
                task = asyncio.create_task(telegram_service(adapter, settings, TIMEOUTS)(stop))
                try:
                    await api.wait_for(lambda c: c.method == "getUpdates", pending=True, timeout=10)
                    waiter = Waiter(api)
                    chats = list(range(1_000_000, 1_000_000 + 3 * (args.samples + 1) + 10))
                    await phase(api, waiter, processor, 0, 3, chats)  # warm-up
                    quiet, _ = await phase(api, waiter, processor, 0, args.samples, chats)
                    small, small_during = await phase(api, waiter, processor, args.small, args.samples, chats)
                    dropped_small = processor.queue.dropped_total
                    large, large_during = await phase(api, waiter, processor, args.large, args.samples, chats)
                    dropped_large = processor.queue.dropped_total - dropped_small
                    peak = processor.queue.peak
                finally:
                    stop.set()
                    await task
        finally:
            await app.close()

    def ms(values: list[float], q: float) -> float:
        return round(pct(values, q), 1)

    return {
        "bench": "fairness",
        "samples": args.samples,
        "crisis_p50_ms_quiet": ms(quiet, 0.5),
        "crisis_p99_ms_quiet": ms(quiet, 0.99),
        "crisis_p50_ms_flood": ms(large, 0.5),
        "crisis_p99_ms_flood": ms(large, 0.99),
        "flood": args.large,
        f"crisis_p50_ms_flood{args.small}": ms(small, 0.5),
        f"crisis_p99_ms_flood{args.small}": ms(small, 0.99),
        "crisis_max_ms": {"quiet": ms(quiet, 1), "small": ms(small, 1), "large": ms(large, 1)},
        "answered_while_flood_queued": {"small": small_during, "large": large_during},
        "dropped": {"small": dropped_small, "large": dropped_large},
        "peak_queue_per_chat": peak,
        "queue_cap": processor.queue.cap,
        "rate_limits": "off",
        "database": "sqlite file",
        "server": "fake Bot API in the same process",
    }


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=positive(int, 100_000), default=300)
    parser.add_argument("--large", type=positive(int, 100_000), default=3000)
    parser.add_argument("--samples", type=positive(int, 1000), default=30)
    args = parser.parse_args()
    if args.small >= args.large:
        parser.error("--small must be below --large")
    return args


if __name__ == "__main__":
    arguments = parse()
    logging.basicConfig(level=logging.ERROR)
    print(json.dumps(asyncio.run(main(arguments))))
