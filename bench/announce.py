"""Announcement: one text to N people through the outbox, at a platform's send limit.

Prints one JSON line: people, queue_s (audience query and enqueue), send_s, the
anchor ideal_s (people / rate: the platform limit itself), rate_ratio (achieved rate
over the limit: at most about 1), delivered, lost, duplicates and the report's counts.

    .venv/bin/python bench/announce.py --people 10000 --rate 30
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert

from ketacompanion.announcements import Announcements
from ketacompanion.app import build_app
from ketacompanion.core.clock import FakeClock
from ketacompanion.core.model import Address, Reply
from ketacompanion.settings import load_settings
from ketacompanion.storage import tables as t

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


class CountingSender:
    platform = "bench"

    def __init__(self) -> None:
        self.count: Counter[str] = Counter()

    async def send(self, address: Address, reply: Reply) -> None:
        self.count[address.chat_id] += 1


async def main(people: int, rate: float) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        clock = FakeClock(NOW)
        settings = load_settings(
            database_url=f"sqlite+aiosqlite:///{tmp}/announce.db",
            data_key=base64.urlsafe_b64encode(b"b" * 32).decode(),
            content_dir=ROOT / "content",
            send_rate_per_s=rate,
        )
        app = await build_app(settings, clock)
        sender = CountingSender()
        app.add_sender(sender)
        async with app.engine.begin() as conn:
            await conn.execute(
                insert(t.users),
                [{"id": i + 1, "platform": "bench", "platform_user_id": f"b{i}", "chat_id": f"b{i}",
                  "created_at": NOW, "consent_at": NOW, "timezone": "Europe/London", "keep_notes": False}
                 for i in range(people)],
            )
        announcements = Announcements(app.delivery.outbox, clock)
        started = time.perf_counter()
        report = await announcements.send("The clinic is closed on Friday; the bot keeps working.", "all", "bench")
        queue_s = time.perf_counter() - started
        started = time.perf_counter()
        drained = await app.delivery.outbox.drain()
        send_s = time.perf_counter() - started
        report = await announcements.report(report.id)
        await app.close()
    ideal_s = people / rate
    return {
        "people": people,
        "queue_s": round(queue_s, 3),
        "send_s": round(send_s, 3),
        "ideal_s": round(ideal_s, 3),
        "rate_limit_per_s": rate,
        "rate_ratio": round((drained.sent / send_s) / rate, 3) if send_s else None,
        "delivered": len(sender.count),
        "lost": people - len(sender.count),
        "duplicates": sum(c - 1 for c in sender.count.values() if c > 1),
        "report": {"delivered": report.delivered, "pending": report.pending, "unreachable": report.unreachable,
                   "failed": report.failed},
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=30.0, help="the platform's send limit per second")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.people, args.rate))))
