"""Fairness: time to another person's /crisis reply while one chat floods, against no flood.

The project's fake Bot API server runs in a process of its own (bench/_telegram_server.py):
the real Telegram's CPU is not ours, so its JSON encoding is not charged to the bot. This
process holds the whole bot (python-telegram-bot polling the server on loopback, the
adapter, the fair ingress queue, the companion and a real SQLite file), timed once
start-up's background loading (place tables, matplotlib) is over. Three phases in one run:
quiet, then a flood of ``--small`` messages from one chat queued at once, then a flood of
``--large``. In each, ``--samples`` other people send ``/crisis`` one after another, the
first queued right behind the flood. Each latency is read by the server on its own clock:
from the moment the ``/crisis`` update was queued to the moment the server finished the
reply. Send pacing is off (Telegram's limits would measure Telegram, not us).

A fourth phase, labelled ``stream`` and never part of the flood figures: one chat sends
``--stream-rate`` messages a second without pause while ``--samples`` others send
``/crisis`` at random moments (0 to 50 ms apart).

    .venv/bin/python bench/fairness.py [--small 300] [--large 3000] [--samples 30]

Prints one JSON line: ``crisis_p50_ms_quiet``, ``crisis_p99_ms_quiet``, the same for the
large flood (``crisis_p50_ms_flood``, ``crisis_p99_ms_flood``) and for the small one
(``..._flood300`` named by its size), ``crisis_p50_ms_stream`` / ``crisis_p99_ms_stream``,
how many samples were answered while the flooding chat still had updates queued, the
floods' drop counts and peak queue, and ``large_flood_read``: how many full getUpdates
batches the large flood took, the median time from one to the next reaching this process,
the median time this process spent on one (the first batch, which builds the flooding
chat's first 50 updates, apart), and the median time from asking for a batch (before the
one before it is triaged) to having its answer decoded. Telegram hands a backlog out in order, 100 at a time, so
the first ``/crisis`` behind the flood waits for every batch before it.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import logging
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
os.environ.setdefault("PTB_TIMEDELTA", "true")

import aiohttp  # noqa: E402

from ketacompanion.adapters.telegram.ingress import FairProcessor, IngressBot  # noqa: E402
from ketacompanion.adapters.telegram.limits import Limits  # noqa: E402
from ketacompanion.adapters.telegram.runner import (  # noqa: E402
    Timeouts,
    build_adapter,
    build_application,
    telegram_service,
)
from ketacompanion.app import App, build_app  # noqa: E402
from ketacompanion.settings import load_settings  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from _common import pct, positive, warmed_up  # noqa: E402
from _telegram_process import ServerProcess  # noqa: E402

TOKEN = "123:ABC"  # the fake server's
TIMEOUTS = Timeouts(poll=1.0)


class Triage:
    """When each full getUpdates batch reached this process and how long it spent on it
    (triage, and building what was admitted): what the large flood's p99 is made of."""

    def __init__(self) -> None:
        self.arrived: list[float] = []
        self.spent: list[float] = []
        read_batch = IngressBot.read_batch

        def timed(bot: IngressBot, result: object) -> tuple:  # type: ignore[type-arg]
            start = time.perf_counter()
            try:
                return read_batch(bot, result)
            finally:
                if isinstance(result, list) and len(result) >= 100:
                    self.arrived.append(start)
                    self.spent.append(time.perf_counter() - start)

        IngressBot.read_batch = timed  # type: ignore[method-assign]
        # How long each read-ahead (the next batch, asked for before this one is triaged)
        # took from being asked for to its answer decoded: the round trip and the server.
        self.asked: list[float] = []
        read_ahead = IngressBot._read_ahead

        def asked(bot: IngressBot, result: list, data: dict, options: dict) -> None:  # type: ignore[type-arg]
            read_ahead(bot, result, data, options)
            if bot._ahead is not None:
                start = time.perf_counter()
                bot._ahead[1].add_done_callback(lambda task: self._answered(task, start))

        IngressBot._read_ahead = asked  # type: ignore[method-assign]

    def _answered(self, task: asyncio.Task, start: float) -> None:  # type: ignore[type-arg]
        if not task.cancelled() and task.exception() is None and len(task.result()) >= 100:
            self.asked.append(time.perf_counter() - start)

    def reset(self) -> None:
        self.arrived, self.spent, self.asked = [], [], []

    def figures(self) -> dict[str, object]:
        """Medians, so one slow moment of a shared machine does not stand for every batch;
        the first batch apart, as it builds the flooding chat's first 50 updates."""
        gaps = [(b - a) * 1000 for a, b in zip(self.arrived, self.arrived[1:], strict=False)]
        return {
            "full_batches": len(self.arrived),
            "ms_between_batches_median": round(statistics.median(gaps), 2) if gaps else None,
            "bot_ms_per_batch_median": round(statistics.median(self.spent[1:]) * 1000, 2) if gaps else None,
            "bot_ms_first_batch": round(self.spent[0] * 1000, 2) if self.spent else None,
            "read_ahead_ms_median": round(statistics.median(self.asked) * 1000, 2) if self.asked else None,
        }


class Server(ServerProcess):
    """The fake Bot API in its own process, with the reply route this benchmark reads."""

    async def reply_ms(self, chat: int, within_s: float = 30.0) -> float:
        found = await self.call("GET", "reply", chat=chat, within=within_s)
        return float(found["ms"])


async def phase(server: Server, processor: FairProcessor, flood: int, samples: int,
                chats: list[int]) -> tuple[list[float], int]:  # fmt: skip
    """A flood queued at once, then ``/crisis`` from other people one after another."""
    flooder = chats.pop()
    if flood:
        await server.call("POST", "flood", {"chat": flooder, "count": flood})
    latencies, during = [], 0
    for _ in range(samples):
        chat = chats.pop()
        await server.call("POST", "crisis", {"chat": chat})
        latencies.append(await server.reply_ms(chat))
        during += processor.queue.queued(flooder) > 0
    await processor.queue.wait_idle()  # the next phase starts with the flood handled
    return latencies, during


async def stream(server: Server, processor: FairProcessor, rate: int, samples: int,
                 chats: list[int]) -> tuple[list[float], int]:  # fmt: skip
    """One chat sending ``rate`` messages a second throughout; ``/crisis`` at random moments,
    each sent without waiting for the one before to be answered."""
    flooder = chats.pop()
    pick = random.Random(9)
    await server.call("POST", "stream", {"chat": flooder, "rate": rate})
    try:
        await asyncio.sleep(0.5)  # the stream is under way before the first sample
        asked: list[int] = []
        for _ in range(samples):
            await asyncio.sleep(pick.uniform(0, 0.05))
            chat = chats.pop()
            await server.call("POST", "crisis", {"chat": chat})
            asked.append(chat)
        latencies = [await server.reply_ms(chat) for chat in asked]
    finally:
        sent = (await server.call("POST", "stream/stop"))["queued"]
    await processor.queue.wait_idle()
    return latencies, int(sent)


async def main(args: argparse.Namespace) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(
            database_url=f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}",
            data_key=base64.urlsafe_b64encode(b"f" * 32).decode(),
            key_file=Path(tmp) / "data.key", content_dir=ROOT / "content",
            export_dir=Path(tmp) / "exports",
        )  # fmt: skip
        triage = Triage()
        app: App = await build_app(settings)
        await warmed_up()  # start-up's background loading is not the flood's cost
        server = Server()
        try:
            async with aiohttp.ClientSession() as http:
                server.http = http
                application = build_application(TOKEN, f"{server.origin}/bot", f"{server.origin}/file/bot", TIMEOUTS)
                adapter = build_adapter(app, application, limits=Limits.off())
                processor = application.update_processor
                assert isinstance(processor, FairProcessor)
                stop = asyncio.Event()
                task = asyncio.create_task(telegram_service(adapter, settings, TIMEOUTS)(stop))
                try:
                    await server.wait_polling()
                    chats = list(range(1_000_000, 1_000_000 + 4 * (args.samples + 1) + 10))
                    await phase(server, processor, 0, 3, chats)  # warm-up
                    quiet, _ = await phase(server, processor, 0, args.samples, chats)
                    small, small_during = await phase(server, processor, args.small, args.samples, chats)
                    dropped_small = processor.queue.dropped_total
                    triage.reset()
                    large, large_during = await phase(server, processor, args.large, args.samples, chats)
                    dropped_large = processor.queue.dropped_total - dropped_small
                    backlog = triage.figures()
                    peak = processor.queue.peak
                    streamed: list[float] = []
                    stream_sent = 0
                    if args.stream_rate:
                        streamed, stream_sent = await stream(server, processor, args.stream_rate, args.samples, chats)
                finally:
                    stop.set()
                    await task
        finally:
            server.close()
            await app.close()

    def ms(values: list[float], q: float) -> float:
        return round(pct(values, q), 1)

    result: dict[str, object] = {
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
        "large_flood_read": backlog,
        "queue_cap": processor.queue.cap,
    }
    if streamed:
        result |= {
            "crisis_p50_ms_stream": ms(streamed, 0.5),
            "crisis_p99_ms_stream": ms(streamed, 0.99),
            "stream": f"one chat sending {args.stream_rate}/s throughout; /crisis at random moments",
            "stream_sent": stream_sent,
        }
    return result | {
        "rate_limits": "off",
        "database": "sqlite file",
        "server": "fake Bot API in its own process",
    }


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=positive(int, 100_000), default=300)
    parser.add_argument("--large", type=positive(int, 100_000), default=3000)
    parser.add_argument("--samples", type=positive(int, 1000), default=30)
    parser.add_argument("--stream-rate", type=int, default=1000, help="0 leaves the stream phase out")
    args = parser.parse_args()
    if args.small >= args.large:
        parser.error("--small must be below --large")
    if not 0 <= args.stream_rate <= 100_000:
        parser.error("--stream-rate must be 0 to 100000")
    return args


if __name__ == "__main__":
    arguments = parse()
    logging.basicConfig(level=logging.ERROR)
    print(json.dumps(asyncio.run(main(arguments))))
