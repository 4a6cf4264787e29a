"""Fan-out: N people with a check-in due in the same minute, across 30 timezones.

The people live in 30 zones on both sides of daylight saving (northern zones on winter
time, southern ones on summer time, and zones with half- and quarter-hour offsets); each
has a daily time that falls on the same instant, so one pass claims every slot, queues
every prompt and plans every next slot in the person's own zone.

Each repeat runs the project's pass on a fresh SQLite file while every statement it sends
is recorded, then replays exactly those statements, with the same transactions, on a plain
``sqlite3`` connection to a copy of the database as it was before the pass: the anchor is
the data work alone. Repeats alternate project and anchor. The replay sends the values the
project bound, so its payloads come sealed already: sealing each prompt (AES-GCM, one call a
row, about 1.5 us here) and wording it are counted on the project's side only.

Prints one JSON line: ``queued`` (outbox rows that exist after the pass, counted in the
database), seconds of both sides, ``ratio_min`` / ``ratio_median`` / ``ratio_max`` (project
speed over anchor speed, higher is better), true peak memory of the pass (the kernel's
high-water mark, reset before it), then one drain through a counting sender: delivered,
lost and duplicates. ``--database-url postgresql+asyncpg://...`` runs the project on a
scratch database there, with the project on SQLite as its anchor.

    .venv/bin/python bench/fanout.py [--users 10000] [--repeats 3] [--database-url URL | --no-anchor]

The recording keeps every statement's rows until the replay, so on SQLite the peak
includes them; ``--no-anchor`` runs the pass alone and reports its own peak.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from _common import (
    ROOT,
    Recording,
    copy_database,
    fail,
    positive,
    ratios,
    scratch_postgres,
    spread,
    truncate_postgres,
    warmed_up,
)
from sqlalchemy import Engine, func, insert, select

from ketacompanion.app import App, build_app
from ketacompanion.content.catalog import Content, load_content
from ketacompanion.core.clock import FakeClock
from ketacompanion.core.model import Address, Reply
from ketacompanion.settings import load_settings
from ketacompanion.storage import tables as t

DUE = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)
ZONES = (
    # Northern winter time
    "America/New_York", "America/Chicago", "America/Denver", "America/Phoenix",
    "America/Los_Angeles", "America/Anchorage", "Pacific/Honolulu", "America/Toronto",
    "America/Mexico_City", "Europe/London", "Europe/Dublin", "Europe/Berlin", "Europe/Paris",
    "Europe/Madrid", "Europe/Helsinki", "Europe/Istanbul", "Asia/Kolkata", "Asia/Kathmandu",
    "Asia/Tokyo", "Asia/Seoul", "Asia/Singapore", "Africa/Johannesburg",
    # Southern summer time, and zones that never change
    "Australia/Sydney", "Australia/Adelaide", "Australia/Brisbane", "Pacific/Auckland",
    "Pacific/Chatham", "America/Santiago", "America/Sao_Paulo", "America/Argentina/Buenos_Aires",
)  # fmt: skip
assert len(ZONES) == 30


def local_time(zone: str) -> str:
    return DUE.astimezone(ZoneInfo(zone)).strftime("%H:%M")


def peak_reset() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS


def status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


class CountingSender:
    platform = "bench"

    def __init__(self) -> None:
        self.count: Counter[str] = Counter()

    async def send(self, address: Address, reply: Reply) -> None:
        self.count[address.chat_id] += 1


async def seeded(url: str, users: int, content: Content, work: Path, rate: float) -> App:
    clock = FakeClock(DUE - timedelta(hours=1))
    settings = load_settings(
        database_url=url, data_key=base64.urlsafe_b64encode(b"b" * 32).decode(),
        content_dir=ROOT / "content", send_rate_per_s=rate, export_dir=work / "exports",
        key_file=work / "data.key",
    )  # fmt: skip
    app = await build_app(settings, clock, content_set=content)
    now = clock.now()
    async with app.engine.begin() as conn:
        for start in range(0, users, 20_000):
            ids = range(start + 1, min(users, start + 20_000) + 1)
            await conn.execute(insert(t.users), [
                {"id": i, "platform": "bench", "platform_user_id": f"b{i}", "chat_id": f"b{i}",
                 "created_at": now, "consent_at": now, "timezone": ZONES[i % 30], "keep_notes": False}
                for i in ids])  # fmt: skip
            await conn.execute(insert(t.schedules), [
                {"user_id": i, "daily_time": local_time(ZONES[i % 30]), "updated_at": now} for i in ids
            ])
            await conn.execute(insert(t.checkins), [
                {"user_id": i, "kind": "daily", "instrument": "daily", "due_at": DUE,
                 "expires_at": DUE + app.delivery.window, "status": "pending", "created_at": now}
                for i in ids])  # fmt: skip
    clock.set(DUE)
    return app


async def queued_rows(app: App) -> int:
    async with app.engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(t.outbox))).scalar_one()


async def project_pass(
    url: str, users: int, content: Content, work: Path, record: bool, rate: float
) -> tuple[float, int, float, App, Recording | None, Path | None]:
    app = await seeded(url, users, content, work, rate)
    recording, snapshot = None, None
    if record:
        snapshot = work / "before.db"
        copy_database(Path(url.split(":///", 1)[1]), snapshot)
        recording = Recording()
        recording.attach(Engine)
        recording.active = True
    # The app's start-up warm-ups (place table, charts) run in background threads: a
    # one-off cost, not the fan-out's, that would otherwise share the interpreter with it.
    await warmed_up()
    peak_reset()
    base = status_mb("VmRSS")
    started = time.perf_counter()
    await app.delivery.enqueue_due()
    elapsed = time.perf_counter() - started
    peak = status_mb("VmHWM") - base
    if recording is not None:
        recording.active = False
    return elapsed, await queued_rows(app), peak, app, recording, snapshot


async def drain_check(app: App, users: int) -> dict[str, object]:
    sender = CountingSender()
    app.add_sender(sender)
    started = time.perf_counter()
    drained = await app.delivery.outbox.drain()
    send_s = time.perf_counter() - started
    async with app.engine.connect() as conn:
        sent = (await conn.execute(
            select(func.count()).select_from(t.checkins).where(t.checkins.c.due_at == DUE, t.checkins.c.status == "sent")
        )).scalar_one()  # fmt: skip
    return {
        "delivered": sum(1 for c in sender.count.values() if c >= 1),
        "lost": users - sent,
        "duplicates": sum(c - 1 for c in sender.count.values() if c > 1),
        "send_s": round(send_s, 3),
        "sent_per_s_over_configured_rate": round(drained.sent / send_s / app.settings.send_rate_per_s, 3)
        if send_s else None,
    }  # fmt: skip


async def main(args: argparse.Namespace) -> None:
    content = load_content(ROOT / "content", DUE.date())
    if args.database_url and not args.database_url.startswith("postgresql"):
        fail("--database-url must be a postgresql+asyncpg:// URL (SQLite is the default)")
    if args.database_url:
        async with scratch_postgres(args.database_url) as pg_url:
            print(json.dumps(await measure(args, content, pg_url)))
    else:
        print(json.dumps(await measure(args, content, None)))


async def measure(args: argparse.Namespace, content: Content, pg_url: str | None) -> dict[str, object]:
    project_s, anchor_s, ratio, peaks = [], [], [], []
    queued, drain = 0, {}
    for repeat in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            sqlite_url = f"sqlite+aiosqlite:///{work / 'fanout.db'}"
            if pg_url is None and args.no_anchor:
                elapsed, queued, peak, app, _, _ = await project_pass(
                    sqlite_url, args.users, content, work, False, args.rate
                )
                anchor = float("nan")
            elif pg_url is None:
                elapsed, queued, peak, app, recording, snapshot = await project_pass(
                    sqlite_url, args.users, content, work, True, args.rate
                )
                assert recording is not None and snapshot is not None
                started = time.perf_counter()
                recording.replay(snapshot)
                anchor = time.perf_counter() - started
            else:
                await truncate_postgres(pg_url)
                elapsed, queued, peak, app, _, _ = await project_pass(pg_url, args.users, content, work, False, args.rate)
                base, _, _, sqlite_app, _, _ = await project_pass(sqlite_url, args.users, content, work, False, args.rate)
                await sqlite_app.close()
                anchor = base
            if repeat == args.repeats - 1:
                drain = await drain_check(app, args.users)
            await app.close()
        project_s.append(elapsed)
        anchor_s.append(anchor)
        ratio.append(anchor / elapsed)  # speed over speed: the anchor's time over ours
        peaks.append(peak)
    if args.no_anchor:
        return {
            "bench": "fanout", "users": args.users, "timezones": len(ZONES), "queued": queued,
            "database": "sqlite file, WAL, synchronous=FULL",
            "anchor": "none (--no-anchor: nothing recorded, so the peak is the pass's own)",
            "enqueue_s": spread(project_s), "peak_mb_during_pass": spread(peaks, 1), **drain,
        }  # fmt: skip
    return {
        "bench": "fanout",
        "users": args.users,
        "timezones": len(ZONES),
        "queued": queued,
        "database": "postgresql" if pg_url else "sqlite file, WAL, synchronous=FULL",
        "anchor": "the project on SQLite" if pg_url else "raw sqlite3 replaying the same statements and transactions",
        "enqueue_s": spread(project_s),
        "anchor_s": spread(anchor_s),
        **ratios("ratio", ratio),
        "peak_mb_during_pass": spread(peaks, 1),
        # On SQLite the pass is recorded for the anchor: the statements and their rows are
        # kept until the replay, so this peak includes them (see --no-anchor).
        "peak_includes_recording": pg_url is None,
        **drain,
    }




def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=positive(int, 1_000_000), default=10_000)
    parser.add_argument("--repeats", type=positive(int, 20), default=3)
    parser.add_argument("--rate", type=positive(float), default=5000.0, help="configured sends per second")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--no-anchor", action="store_true",
                        help="SQLite only: no recording and no anchor, for the pass's own peak memory")
    args = parser.parse_args()
    if args.no_anchor and args.database_url:
        parser.error("--no-anchor is for SQLite; with --database-url the anchor records nothing")
    return args


if __name__ == "__main__":
    asyncio.run(main(parse()))
