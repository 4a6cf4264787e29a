"""Messages through the companion, paired with raw sqlite3 doing the same statements.

A realistic mix per person and round: free text (screened for crisis words, then
answered), commands, a lesson read card by card with its quiz, and a daily check-in
answered by buttons. Each repeat runs the project on a fresh SQLite file while every
statement it sends is recorded, then replays exactly those statements, with the same
commit grouping, on a plain ``sqlite3`` connection to a copy of the database as it was
before the run: the anchor is the data work alone. The statements the SQLite writer sends
straight to the driver are recorded through ``SqlStore.trace``, the rest through SQLAlchemy's
cursor events. Repeats alternate project and anchor.

With ``--database-url postgresql+asyncpg://...`` the project runs on a scratch database
on that server and its anchor is the same mix on SQLite, so the ratio says what
PostgreSQL costs.

Prints one JSON line per crowd size (16 and 64 people by default): messages/s of both,
``ratio_min`` / ``ratio_median`` / ``ratio_max`` (project over anchor, higher is better),
CPU per message (and its split by thread: event loop, crisis model, SQLite writer, where
``/proc`` shows it), and p50/p99 latency for one person alone, beside the anchor's own p50/p99
for the same transactions at ``synchronous=FULL`` and ``NORMAL`` (the difference is the fsync).

    .venv/bin/python bench/core.py [--users 16 64] [--rounds 2] [--repeats 5]
        [--database-url URL]

The project keeps ``synchronous=FULL`` (nothing confirmed is lost on power failure); the
anchor is also replayed with ``synchronous=NORMAL`` to show what those fsyncs cost here.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from _common import (
    ROOT,
    Recording,
    copy_database,
    fail,
    pct,
    positive,
    ratios,
    scratch_postgres,
    spread,
    thread_cpu,
    thread_cpu_since,
    truncate_postgres,
    warmed_up,
)
from sqlalchemy import Engine

from ketacompanion.app import App, build_app
from ketacompanion.content.catalog import Content, load_content
from ketacompanion.core.clock import FakeClock
from ketacompanion.core.model import Address, Inbound, Reply
from ketacompanion.settings import load_settings

START = datetime(2026, 11, 23, 9, tzinfo=UTC)
FREE_TEXT = (
    "hi",
    "feeling a bit flat today but ok",
    "what should I eat before a session?",
    "thanks 🙂",
)
COMMANDS = ("/help", "/privacy")


class Person:
    def __init__(self, app: App, name: str, timings: list[float]) -> None:
        self.app, self.name, self.timings = app, name, timings
        self.address = Address("bench", name)
        self.last: list[Reply] = []

    async def send(self, inbound: Inbound, timed: bool = True) -> None:
        started = time.perf_counter()
        self.last = await self.app.companion.handle(inbound)
        if timed:
            self.timings.append(time.perf_counter() - started)

    async def say(self, text: str, timed: bool = True) -> None:
        await self.send(Inbound.from_text(self.address, self.name, text, language="en"), timed)

    async def tap(self, choice: str, timed: bool = True) -> None:
        await self.send(Inbound.from_choice(self.address, self.name, choice, language="en"), timed)

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
        zone = self.button("start:tz:", "start:zone:")
        if zone:
            await self.tap(zone, timed=False)

    async def chat(self) -> None:
        for text in FREE_TEXT:
            await self.say(text)
        for command in COMMANDS:
            await self.say(command)

    async def lesson(self) -> None:
        await self.say("/learn")
        for prefixes in (("learn:topic:",), ("learn:open:", "learn:resume:")):
            step = self.button(*prefixes)
            if step:
                await self.tap(step)
        for _ in range(8):
            step = self.button("learn:next:", "learn:ans:")
            if step is None:
                break
            await self.tap(step)

    async def checkin(self) -> None:
        await self.say("/checkin")
        for _ in range(12):
            # The lowest answer on each item: a calm day, so the crisis path stays shut.
            step = self.button("checkin:ans:", "checkin:a:", "checkin:pick:", "checkin:done", "checkin:skip")
            if step is None:
                break
            await self.tap(step)


@dataclass
class Run:
    messages: int
    seconds: float
    cpu_seconds: float
    timings: list[float]
    recording: Recording | None
    snapshot: Path | None
    cpu_by_thread: dict[str, float] | None = None  # CPU seconds by thread role (Linux)


async def project_run(
    url: str, users: int, rounds: int, content: Content, work: Path, record: bool
) -> Run:
    timings: list[float] = []
    settings = load_settings(
        database_url=url, data_key=base64.urlsafe_b64encode(b"c" * 32).decode(),
        content_dir=ROOT / "content", export_dir=work / "exports", key_file=work / "data.key",
    )  # fmt: skip
    app = await build_app(settings, FakeClock(START), content_set=content)
    await warmed_up()
    try:
        people = [Person(app, f"p{i}", timings) for i in range(users)]
        for person in people:
            await person.onboard()
        recording, snapshot = None, None
        if record:
            snapshot = work / "before.db"
            copy_database(Path(url.split(":///", 1)[1]), snapshot)
            recording = Recording()
            recording.attach(Engine)  # every engine: the writer's and the pool's
            app.store.trace(recording.add)  # and what the writer sends past SQLAlchemy
            recording.active = True

        async def journey(person: Person) -> None:
            for _ in range(rounds):
                await person.chat()
                await person.lesson()
                await person.checkin()

        threads, cpu, started = thread_cpu(), time.process_time(), time.perf_counter()
        await asyncio.gather(*(journey(p) for p in people))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        by_thread = thread_cpu_since(threads)
        if recording is not None:
            recording.active = False
    finally:
        await app.close()
    return Run(len(timings), elapsed, cpu, timings, recording, snapshot, by_thread)


def anchor_replay(run: Run, synchronous: str = "FULL", times: list[float] | None = None) -> float:
    assert run.recording is not None and run.snapshot is not None
    target = run.snapshot.with_name(f"anchor-{synchronous}.db")
    copy_database(run.snapshot, target)
    started = time.perf_counter()
    run.recording.replay(target, synchronous, times)
    return time.perf_counter() - started


async def crowd(args: argparse.Namespace, users: int, content: Content, pg_url: str | None) -> dict[str, object]:
    project_rate, anchor_rate, ratio, cpu_us, statements, normal = [], [], [], [], [], []
    by_thread: dict[str, list[float]] = {}
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            sqlite_url = f"sqlite+aiosqlite:///{work / 'core.db'}"
            if pg_url is None:
                run = await project_run(sqlite_url, users, args.rounds, content, work, record=True)
                anchor_s = anchor_replay(run)
                normal.append(run.messages / anchor_replay(run, "NORMAL"))
                assert run.recording is not None
                sent = [s for s, _, _ in run.recording.statements if not s.lstrip()[:6].upper().startswith(("BEGIN", "PRAGMA"))]
                statements.append(len(sent) / run.messages)  # as before: the anchor opens its own transactions
            else:
                run = await project_run(pg_url, users, args.rounds, content, work, record=False)
                await truncate_postgres(pg_url)
                base = await project_run(sqlite_url, users, args.rounds, content, work, record=False)
                anchor_s = base.seconds * run.messages / base.messages
        project_rate.append(run.messages / run.seconds)
        anchor_rate.append(run.messages / anchor_s)
        ratio.append(project_rate[-1] / anchor_rate[-1])
        cpu_us.append(run.cpu_seconds / run.messages * 1e6)
        for role, seconds in (run.cpu_by_thread or {}).items():
            by_thread.setdefault(role, []).append(seconds / run.messages * 1e6)
    line: dict[str, object] = {
        "bench": "core",
        "users": users,
        "messages_per_repeat": run.messages,
        "repeats": args.repeats,
        "database": "postgresql" if pg_url else "sqlite file, WAL, synchronous=FULL",
        "anchor": "the project on SQLite, same mix" if pg_url else "raw sqlite3 replaying the same statements and commits",
        "project_messages_per_s": spread(project_rate, 1),
        "anchor_messages_per_s": spread(anchor_rate, 1),
        **ratios("ratio", ratio),
        "cpu_us_per_message": spread(cpu_us, 1),
        # Medians, by thread: the event loop (flows, storage glue, SQLite statements), the
        # crisis model's worker, the SQLite writer (commits). Clock ticks of 10 ms, so ±2%.
        **({"cpu_us_per_message_by_thread": {r: round(statistics.median(v)) for r, v in sorted(by_thread.items())}}
           if by_thread else {}),
        "mix": "free text, commands, a lesson with its quiz, a daily check-in by buttons",
    }
    if statements:
        line["statements_per_message"] = round(statistics.median(statements), 2)
        line["anchor_normal_messages_per_s"] = spread(normal, 1)
    return line




async def alone(args: argparse.Namespace, content: Content, pg_url: str | None) -> dict[str, object]:
    """One person at a time: the latency of the work itself, not of a queue."""
    full: list[float] = []
    normal: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        url = pg_url or f"sqlite+aiosqlite:///{Path(tmp) / 'alone.db'}"
        if pg_url:
            await truncate_postgres(pg_url)
        run = await project_run(url, 1, args.rounds * 6, content, Path(tmp), record=pg_url is None)
        if pg_url is None:
            # One person: each message is one transaction, so the anchor's transactions are
            # its per-message latencies; NORMAL against FULL is what the fsyncs cost.
            anchor_replay(run, "FULL", full)
            anchor_replay(run, "NORMAL", normal)
    line: dict[str, object] = {
        "bench": "core_alone",
        "messages": run.messages,
        "p50_ms": round(statistics.median(run.timings) * 1000, 3),
        "p99_ms": round(pct(run.timings, 0.99) * 1000, 3),
        "max_ms": round(max(run.timings) * 1000, 3),
        "database": "postgresql" if pg_url else "sqlite file, WAL, synchronous=FULL",
    }
    if full and normal:
        for name, times in (("anchor_full", full), ("anchor_normal", normal)):
            line[f"{name}_p50_ms"] = round(statistics.median(times) * 1000, 3)
            line[f"{name}_p99_ms"] = round(pct(times, 0.99) * 1000, 3)
    return line


async def main(args: argparse.Namespace) -> None:
    content = load_content(ROOT / "content", START.date())
    if args.database_url and not args.database_url.startswith("postgresql"):
        fail("--database-url must be a postgresql+asyncpg:// URL (SQLite is the default)")
    if args.database_url:
        async with scratch_postgres(args.database_url) as pg_url:
            await emit(args, content, pg_url)
    else:
        await emit(args, content, None)


async def emit(args: argparse.Namespace, content: Content, pg_url: str | None) -> None:
    print(json.dumps(await alone(args, content, pg_url)), flush=True)
    for users in args.users:
        print(json.dumps(await crowd(args, users, content, pg_url)), flush=True)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=positive(int, 1000), nargs="+", default=[16, 64])
    parser.add_argument("--rounds", type=positive(int, 100), default=2)
    parser.add_argument("--repeats", type=positive(int, 50), default=5)
    parser.add_argument("--database-url", default=None)
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse()))
