"""Messages through the companion on a file SQLite database: lesson navigation and
check-in answers, several people at once.

Prints one JSON line: messages_per_s with many people at once, and p50_ms/p99_ms for
one person at a time (targets: at least 1,500 messages/s, p99 under 5 ms on a 2-core
machine); concurrent_p50_ms/p99_ms include the wait behind others.

    .venv/bin/python bench/core.py [--users 20] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from ketacompanion.app import App, build_app
from ketacompanion.core.clock import FakeClock
from ketacompanion.core.model import Address, Inbound, Reply
from ketacompanion.settings import load_settings

ROOT = Path(__file__).resolve().parents[1]


class Person:
    def __init__(self, app: App, name: str, timings: list[float]) -> None:
        self.app, self.name, self.timings = app, name, timings
        self.address = Address("bench", name)
        self.last: list[Reply] = []

    async def send(self, inbound: Inbound, timed: bool = True) -> list[Reply]:
        started = time.perf_counter()
        self.last = await self.app.companion.handle(inbound)
        if timed:
            self.timings.append(time.perf_counter() - started)
        return self.last

    async def say(self, text: str, timed: bool = True) -> list[Reply]:
        return await self.send(Inbound.from_text(self.address, self.name, text, language="en"), timed)

    async def tap(self, choice: str, timed: bool = True) -> list[Reply]:
        return await self.send(Inbound.from_choice(self.address, self.name, choice, language="en"), timed)

    def button(self, *prefixes: str) -> str | None:
        for reply in reversed(self.last):
            for c in reply.choices:
                if c.url is None and c.id.startswith(prefixes):
                    return c.id
        return None

    async def onboard(self) -> None:
        await self.say("/start", timed=False)
        await self.tap("start:agree", timed=False)
        await self.tap("start:country:GB", timed=False)

    async def lesson(self) -> None:
        await self.say("/learn")
        topic = self.button("learn:topic:")
        if topic:
            await self.tap(topic)
        opened = self.button("learn:open:", "learn:resume:")
        if opened:
            await self.tap(opened)
        for _ in range(8):
            step = self.button("learn:next:", "learn:ans:")
            if step is None:
                break
            await self.tap(step)

    async def checkin(self) -> None:
        await self.say("/checkin")
        for _ in range(12):
            # The lowest answer on each item: a calm day (safety item "no"), no crisis path.
            step = self.button("checkin:ans:", "checkin:a:", "checkin:pick:", "checkin:done", "checkin:skip")
            if step is None:
                break
            await self.tap(step)


async def run(users: int, rounds: int) -> tuple[list[float], float]:
    timings: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(
            database_url=f"sqlite+aiosqlite:///{tmp}/core.db",
            data_key=base64.urlsafe_b64encode(b"c" * 32).decode(),
            content_dir=ROOT / "content",
        )
        app = await build_app(settings, FakeClock(datetime(2026, 11, 23, 9, tzinfo=UTC)))
        people = [Person(app, f"p{i}", timings) for i in range(users)]
        for person in people:
            await person.onboard()

        async def journey(person: Person) -> None:
            for _ in range(rounds):
                await person.lesson()
                await person.checkin()

        started = time.perf_counter()
        await asyncio.gather(*(journey(p) for p in people))
        elapsed = time.perf_counter() - started
        await app.close()
    return sorted(timings), elapsed


def pct(values: list[float], q: float) -> float:
    return round(values[min(len(values) - 1, int(len(values) * q))] * 1000, 3)


async def main(users: int, rounds: int) -> dict[str, object]:
    # Latency: one person at a time, so the figure is the work, not a queue.
    alone, _ = await run(1, rounds * 4)
    # Throughput: many people at once, sharing commits.
    together, elapsed = await run(users, rounds)
    return {
        "messages": len(together),
        "users": users,
        "messages_per_s": round(len(together) / elapsed, 1),
        "p50_ms": round(statistics.median(alone) * 1000, 3),
        "p99_ms": pct(alone, 0.99),
        "concurrent_p50_ms": round(statistics.median(together) * 1000, 3),
        "concurrent_p99_ms": pct(together, 0.99),
        "mix": "lesson navigation and daily check-in answers",
        "database": "sqlite file, WAL, synchronous=FULL",
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.users, args.rounds))))
