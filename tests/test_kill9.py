"""kill -9 at each step of the send path, then restart: the database passes its integrity
check, every confirmed answer is still there, and no prompt goes out more than twice, even
when the same row's send is cut off three times in a row."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from ketacompanion.app import build_app
from ketacompanion.content.catalog import Content
from ketacompanion.core.clock import FakeClock
from ketacompanion.delivery.outbox import Outbox
from ketacompanion.storage import tables as t
from test_delivery import set_schedule

from conftest import ROOT, TEST_KEY, Chat, make_settings
from fakes.telegram_api import FakeBotAPI

DUE = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)  # 20:00 in New York
LEASE = Outbox.lease
WORKER = ROOT / "tests" / "fakes" / "outbox_worker.py"


@dataclass
class Slot:
    """One person, their own database, one due prompt."""

    chat: int
    db: Path
    answers: list[tuple[object, ...]] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)  # how each worker process ended

    @property
    def url(self) -> str:
        return f"sqlite+aiosqlite:///{self.db}"


async def prepare(tmp_path: Path, chat: int, content: Content) -> Slot:
    """The person onboards, answers a check-in (a confirmed answer), and a prompt is queued."""
    slot = Slot(chat, tmp_path / f"p{chat}" / "bot.db")
    clock = FakeClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
    app = await build_app(make_settings(slot.url, tmp_path / f"p{chat}"), clock, content)
    try:
        person = Chat(app, user=str(chat), platform="telegram")
        await person.onboard("US", "America/New_York")
        await person.say("/checkin")
        await person.tap(person.choice("checkin:a:"))  # saved and confirmed to the person
        await set_schedule(app, str(chat), "America/New_York")
        clock.set(DUE)
        await app.delivery.enqueue_due()
        async with app.engine.connect() as conn:
            slot.answers = [tuple(r) for r in await conn.execute(select(t.checkin_answers))]
        assert slot.answers
    finally:
        await app.close()
    return slot


async def run_worker(api: FakeBotAPI, slot: Slot, now: datetime, crash_at: str) -> str:
    """One outbox process; a send held by the fake server is killed from outside."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(WORKER), slot.url, TEST_KEY, api.base_url, api.token, now.isoformat(), crash_at,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    held = asyncio.ensure_future(api.wait_for(
        lambda c: c.method == "sendMessage" and c.params.get("chat_id") == slot.chat and c.applied and not c.done,
        timeout=30, pending=True,
    ))  # fmt: skip
    ended = asyncio.ensure_future(process.wait())
    try:
        await asyncio.wait({held, ended}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        if not ended.done():
            process.kill()  # SIGKILL while the platform holds a send it has applied
        await asyncio.wait_for(ended, 10)
    finally:
        held.cancel()
        if process.returncode is None:
            process.kill()
            await process.wait()
    _, stderr = await process.communicate()
    how = "killed" if process.returncode == -9 else f"exit {process.returncode}"
    if process.returncode not in (0, -9):
        raise AssertionError(stderr.decode()[-3000:])
    slot.runs.append(how)
    return how


def check(slot: Slot) -> dict[str, object]:
    with sqlite3.connect(slot.db) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        answers = db.execute("SELECT * FROM checkin_answers").fetchall()
        row = db.execute("SELECT status, attempts, unconfirmed FROM outbox").fetchone()
    assert len(answers) == len(slot.answers)  # every confirmed answer is still there
    return {"status": row[0], "attempts": row[1], "unconfirmed": row[2]}


STEPS = ("claim", "attempt", "send", "hold", "sent", "mark")


@pytest.mark.slow
async def test_kill_9_at_each_step_of_the_send_path_loses_nothing_and_resends_at_most_once(
    tmp_path: Path, content_set: Content
) -> None:
    async with FakeBotAPI() as api:
        slots = {step: await prepare(tmp_path, 700 + n, content_set) for n, step in enumerate(STEPS)}
        api.hold_replies(slots["hold"].chat)

        async def crash_then_restart(step: str) -> dict[str, object]:
            slot = slots[step]
            first = await run_worker(api, slot, DUE, step if step != "hold" else "none")
            api.stop_holding(slot.chat)
            await run_worker(api, slot, DUE + LEASE + timedelta(seconds=1), "none")
            row = check(slot)
            return {"first": first, "copies": len(api.sent_messages(slot.chat)), **row}

        results = dict(zip(STEPS, await asyncio.gather(*(crash_then_restart(s) for s in STEPS)), strict=True))
    print("kill -9 copies per prompt:", json.dumps({s: r["copies"] for s, r in results.items()}))
    assert all(r["first"] == "killed" for r in results.values()), results
    for step, r in results.items():
        assert 1 <= r["copies"] <= 2, (step, r)  # delivered, and at most one re-send
        assert r["status"] in ("sent", "sent_unconfirmed"), (step, r)
    # Killed before anything could have left: sent exactly once after the restart.
    assert [results[s]["copies"] for s in ("claim", "attempt", "send")] == [1, 1, 1]


@pytest.mark.slow
async def test_three_kills_during_the_same_send_deliver_it_at_most_twice(
    tmp_path: Path, content_set: Content
) -> None:
    async with FakeBotAPI() as api:
        slot = await prepare(tmp_path, 790, content_set)
        api.hold_replies(slot.chat)
        now = DUE
        for _ in range(3):  # each process is killed while Telegram holds a send it applied
            await run_worker(api, slot, now, "none")
            now += LEASE + timedelta(seconds=1)
        api.stop_holding(slot.chat)
        await run_worker(api, slot, now, "none")  # and a clean restart afterwards
        row = check(slot)
        copies = len(api.sent_messages(slot.chat))
    print(f"three kills on one row: {copies} copies, runs {slot.runs}, row {row}")
    assert slot.runs[:2] == ["killed", "killed"]
    assert slot.runs[2:] == ["exit 0", "exit 0"]  # the third found the row spent: no send to kill
    assert copies == 2
    assert row == {"status": "sent_unconfirmed", "attempts": 2, "unconfirmed": 2}
