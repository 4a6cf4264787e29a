"""Fan-out: N people with a check-in due in the same minute.

Prints one JSON line: users, enqueue_s (from the due minute until every check-in is
claimed and queued), rss_delta_mb, delivered, lost, duplicates, and rate_ratio
(delivered per second over the configured send rate, against a fast fake adapter).

    .venv/bin/python bench/fanout.py --users 100000
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

from sqlalchemy import func, insert, select

from ketacompanion.app import build_app
from ketacompanion.core.clock import FakeClock
from ketacompanion.core.model import Address, Reply
from ketacompanion.settings import load_settings
from ketacompanion.storage import tables as t

ROOT = Path(__file__).resolve().parents[1]
ZONE = "America/New_York"
DUE = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)  # 20:00 in New York


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class CountingSender:
    platform = "bench"

    def __init__(self) -> None:
        self.count: Counter[str] = Counter()

    async def send(self, address: Address, reply: Reply) -> None:
        self.count[address.chat_id] += 1


async def main(users: int, rate: float) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        clock = FakeClock(DUE - timedelta(hours=1))
        settings = load_settings(
            database_url=f"sqlite+aiosqlite:///{tmp}/fanout.db",
            data_key=base64.urlsafe_b64encode(b"b" * 32).decode(),
            content_dir=ROOT / "content",
            send_rate_per_s=rate,
        )
        app = await build_app(settings, clock)
        sender = CountingSender()
        app.add_sender(sender)
        now = clock.now()
        async with app.engine.begin() as conn:
            await conn.execute(
                insert(t.users),
                [{"id": i + 1, "platform": "bench", "platform_user_id": f"b{i}", "chat_id": f"b{i}",
                  "created_at": now, "consent_at": now, "timezone": ZONE, "keep_notes": False}
                 for i in range(users)],
            )
            await conn.execute(
                insert(t.schedules),
                [{"user_id": i + 1, "daily_time": "20:00", "updated_at": now} for i in range(users)],
            )
            await conn.execute(
                insert(t.checkins),
                [{"user_id": i + 1, "kind": "daily", "instrument": "daily", "due_at": DUE,
                  "expires_at": DUE + app.delivery.window, "status": "pending", "created_at": now}
                 for i in range(users)],
            )
        before = rss_mb()
        clock.set(DUE)
        started = time.perf_counter()
        stats = await app.delivery.enqueue_due()
        enqueue_s = time.perf_counter() - started
        after_enqueue = rss_mb()

        started = time.perf_counter()
        drained = await app.delivery.outbox.drain()
        send_s = time.perf_counter() - started
        peak = max(after_enqueue, rss_mb())

        async with app.engine.connect() as conn:
            statuses = dict(
                (await conn.execute(
                    select(t.checkins.c.status, func.count()).where(t.checkins.c.due_at == DUE)
                    .group_by(t.checkins.c.status)
                )).all()
            )
            next_day = (await conn.execute(
                select(func.count()).select_from(t.checkins).where(t.checkins.c.status == "pending")
            )).scalar_one()
        await app.close()
    delivered = sum(1 for c in sender.count.values() if c >= 1)
    return {
        "users": users,
        "enqueue_s": round(enqueue_s, 3),
        "claimed": stats.claimed,
        "rss_delta_mb": round(peak - before, 1),
        "delivered": delivered,
        "lost": users - statuses.get("sent", 0),
        "duplicates": sum(c - 1 for c in sender.count.values() if c > 1),
        "send_s": round(send_s, 3),
        "configured_rate_per_s": rate,
        "rate_ratio": round((drained.sent / send_s) / rate, 3) if send_s else None,
        "next_slots_planned": next_day,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=5000.0, help="configured sends per second")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.users, args.rate))))
