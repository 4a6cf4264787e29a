"""The fault battery, on loopback against the fake Bot API: what each fault may cost a
person, measured in copies of a prompt and in rows left behind."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from ketacompanion.adapters.telegram.delivery import RetryPolicy, TelegramSender
from ketacompanion.adapters.telegram.limits import Limits, RateLimiter
from ketacompanion.adapters.telegram.runner import Timeouts, build_application
from ketacompanion.app import App, build_app
from ketacompanion.content.catalog import Content
from ketacompanion.core.clock import FakeClock
from ketacompanion.storage import tables as t
from test_delivery import set_schedule
from test_telegram_support import FakeTime

from conftest import Chat, make_settings
from fakes.telegram_api import FakeBotAPI

DUE = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)  # 20:00 in New York
FAST = Timeouts(connect=1, read=1, write=1, pool=1, poll=1)


@dataclass
class Wired:
    app: App
    api: FakeBotAPI
    clock: FakeClock
    time: FakeTime


@asynccontextmanager
async def wired(tmp_path: Path, clock: FakeClock, content: Content) -> AsyncIterator[Wired]:
    """The app's outbox sending through python-telegram-bot to the fake server over HTTP."""
    app = await build_app(make_settings(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", tmp_path), clock, content)
    time = FakeTime()
    try:
        async with FakeBotAPI(clock=time) as api:
            application = build_application(api.token, api.base_url, api.base_file_url, FAST)
            async with application:
                limiter = RateLimiter(Limits(), time, time.sleep)
                app.add_sender(TelegramSender(application.bot, app.store, limiter, RetryPolicy(), time.sleep))
                yield Wired(app, api, clock, time)
    finally:
        await app.close()


async def telegram_person(app: App, chat_id: int) -> int:
    chat = Chat(app, user=str(chat_id), platform="telegram")
    await chat.onboard("US", "America/New_York")
    return await set_schedule(app, str(chat_id), "America/New_York")


async def statuses(app: App, table: t.Table) -> dict[int, str]:  # type: ignore[name-defined]
    async with app.engine.connect() as conn:
        return dict((await conn.execute(select(table.c.user_id, table.c.status))).all())


async def run_hours(w: Wired, hours: float) -> None:
    for _ in range(int(hours * 4)):
        await w.app.delivery.tick()
        w.clock.advance(timedelta(minutes=15))


@pytest.mark.slow
async def test_a_prompt_dropped_after_it_was_applied_six_times_arrives_at_most_twice(
    tmp_path: Path, clock: FakeClock, content_set: Content
) -> None:
    async with wired(tmp_path, clock, content_set) as w:
        uid = await telegram_person(w.app, 42)
        for _ in range(6):  # Telegram applies sendMessage, then the connection drops
            w.api.drop_next("sendMessage", processed=True)
        clock.set(DUE)
        await run_hours(w, 3)
        copies = len(w.api.sent_messages(42))
        tries = len([c for c in w.api.calls if c.method == "sendMessage"])
        assert copies == tries == 2, (copies, tries)  # one send and one retry, across both layers
        assert (await statuses(w.app, t.outbox))[uid] == "sent_unconfirmed"
        assert (await statuses(w.app, t.checkins))[uid] != "missed"
        await run_hours(w, 6)  # past the answer window: still not "missed"
        async with w.app.engine.connect() as conn:
            ended = (await conn.execute(select(t.checkins.c.status).where(t.checkins.c.user_id == uid)
                                        .order_by(t.checkins.c.due_at))).scalars().first()
        assert ended == "sent_unconfirmed"
        assert len(w.api.sent_messages(42)) == 2
        print(f"copies per prompt, dropped after apply x6: {copies}")


@pytest.mark.slow
async def test_a_tenth_of_people_blocked_get_one_attempt_each_and_are_marked_unreachable(
    tmp_path: Path, clock: FakeClock, content_set: Content
) -> None:
    async with wired(tmp_path, clock, content_set) as w:
        people = {chat: await telegram_person(w.app, chat) for chat in range(1000, 1030)}
        blocked = [1003, 1013, 1023]
        for chat in blocked:
            w.api.block_chat(chat)
        clock.set(DUE)
        await run_hours(w, 26)  # today's prompt, its reminder, and tomorrow's slot
        tries = [c for c in w.api.calls if c.method == "sendMessage"]
        for chat in blocked:
            mine = [c for c in tries if c.params["chat_id"] == chat]
            assert [c.status for c in mine] == [403]  # one attempt, then never again
        outbox, checkins = await statuses(w.app, t.outbox), await statuses(w.app, t.checkins)
        for chat, uid in people.items():
            if chat in blocked:
                assert outbox[uid] == "unreachable"
            else:
                assert len(w.api.sent_messages(chat)) >= 2  # today's prompt and a reminder, at least
        async with w.app.engine.connect() as conn:
            gone = set((await conn.execute(select(t.users.c.id).where(t.users.c.unreachable_at.is_not(None)))).scalars())
            rows = (await conn.execute(select(t.checkins.c.user_id, t.checkins.c.status))).all()
        assert gone == {people[c] for c in blocked}
        for chat in blocked:  # every due slot recorded as unreachable; only the future one waits
            assert sorted({s for u, s in rows if u == people[chat]}) == ["pending", "unreachable"]
        del checkins


# --- files and their modes ---------------------------------------------------------------------


async def test_database_wal_key_and_export_files_are_0600_in_0700_directories(
    tmp_path: Path, clock: FakeClock, content_set: Content
) -> None:
    import os
    import stat

    from ketacompanion.adapters.console import ConsoleAdapter

    old = os.umask(0o022)  # the usual umask: without care, files would be 0644
    try:
        db = tmp_path / "data" / "db" / "bot.db"
        key = tmp_path / "keys" / "data.key"
        settings = make_settings(f"sqlite+aiosqlite:///{db}", tmp_path, data_key=None, key_file=key)
        app = await build_app(settings, clock, content_set)
        try:
            console = ConsoleAdapter(app.companion.handle, "u1", tmp_path / "exports" / "u1", language="en")
            for line in ('{"text": "/start"}', '{"choice": "start:agree"}', '{"choice": "start:country:US"}',
                         '{"choice": "start:tz:America|New_York"}', '{"text": "/export"}'):
                out = await console.json_request(line)
            saved = Path(next(o["file"] for o in out if o.get("file")))
            assert saved.name.endswith(".json")
            wal, shm = db.with_name("bot.db-wal"), db.with_name("bot.db-shm")
            files = {"db": db, "wal": wal, "shm": shm, "key": key, "export": saved}
            dirs = {"data": tmp_path / "data", "db dir": db.parent, "keys": key.parent,
                    "exports": tmp_path / "exports", "export dir": saved.parent}
            modes = {name: stat.S_IMODE(p.stat().st_mode) for name, p in (files | dirs).items()}
            print("file modes:", {k: oct(v) for k, v in modes.items()})
            assert all(modes[name] == 0o600 for name in files), modes
            assert all(modes[name] == 0o700 for name in dirs), modes
        finally:
            await app.close()
    finally:
        os.umask(old)


async def test_an_existing_world_readable_database_and_key_are_made_private(
    tmp_path: Path, clock: FakeClock, content_set: Content
) -> None:
    import os
    import stat

    db, key = tmp_path / "bot.db", tmp_path / "data.key"
    settings = make_settings(f"sqlite+aiosqlite:///{db}", tmp_path, data_key=None, key_file=key)
    await (await build_app(settings, clock, content_set)).close()
    for path in (db, key):
        os.chmod(path, 0o644)  # as an older version, or a careless copy, left them
    app = await build_app(settings, clock, content_set)
    try:
        assert {stat.S_IMODE(p.stat().st_mode) for p in (db, key)} == {0o600}
    finally:
        await app.close()


# --- bad input at the door ---------------------------------------------------------------------


@pytest.mark.slow
async def test_a_deeply_nested_webhook_body_answers_400_and_the_bot_goes_on(
    tmp_path: Path, clock: FakeClock, content_set: Content
) -> None:
    import aiohttp

    from test_telegram_support import SECRET, live_rig

    app = await build_app(make_settings(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", tmp_path), clock, content_set)
    time = FakeTime()
    try:
        async with FakeBotAPI(clock=time) as api, live_rig(api, app, "webhook", time) as rig:
            assert rig.webhook is not None
            depth = 200_000
            body = '{"update_id": 1, "message": ' + "[" * depth + "]" * depth + "}"
            headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET}
            async with aiohttp.ClientSession() as session:
                async with session.post(rig.webhook.local_url, data=body, headers=headers) as response:
                    assert response.status == 400
                nested = '{"update_id": 2, "message": ' + '{"a": ' * 5000 + "1" + "}" * 5000 + "}"
                async with session.post(rig.webhook.local_url, data=nested, headers=headers) as response:
                    assert response.status in (200, 400)  # never 500
            replies = await rig.say(301, "/help")
            assert replies and "/crisis" in replies[0].params["text"]
    finally:
        await app.close()


async def test_a_button_from_someone_unknown_gets_a_kind_answer(app: App) -> None:
    for choice in ("checkin:start:5", "checkin:a:5:0:3", "sched:x", "sess:add", "hist:mood", "plan:edit:x"):
        chat = Chat(app, user=f"stranger-{choice}")
        replies = await chat.tap(choice)
        text = chat.text()
        assert replies and "went wrong" not in text, (choice, text)
        assert "need your OK" in text or "closed" in text, (choice, text)


# --- a locked database -------------------------------------------------------------------------


async def test_with_the_database_locked_crisis_is_answered_at_once_and_recorded_after(
    tmp_path: Path, clock: FakeClock, content_set: Content
) -> None:
    import asyncio
    import sqlite3
    import time as wall

    from ketacompanion.core.model import Urgency

    db = tmp_path / "bot.db"
    settings = make_settings(f"sqlite+aiosqlite:///{db}", tmp_path, sqlite_busy_timeout_ms=3000)
    app = await build_app(settings, clock, content_set)
    try:
        chat = Chat(app)
        await chat.onboard("US", "America/New_York")
        blocker = sqlite3.connect(db, timeout=0)
        blocker.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
        try:
            started = wall.monotonic()
            replies = await chat.say("/crisis")
            crisis_command_s = wall.monotonic() - started
            assert replies[0].urgency is Urgency.CRISIS and "988" in replies[0].text  # the person's country, read
            started = wall.monotonic()
            replies = await chat.say("I want to kill myself")
            crisis_text_s = wall.monotonic() - started
            assert replies[0].urgency is Urgency.CRISIS and "988" in replies[0].text
            assert "try again" in replies[-1].text.lower()  # nothing else is claimed as saved
            print(f"/crisis {crisis_command_s * 1000:.0f} ms, crisis text {crisis_text_s * 1000:.0f} ms, lock held")
            assert crisis_command_s < 1.0 and crisis_text_s < 1.0  # the busy timeout is 3 s
            assert app.companion.pending is not None and len(app.companion.pending) == 1
        finally:
            blocker.rollback()
            blocker.close()
        for _ in range(100):  # the queued escalation is written once the lock clears
            if app.companion.pending.written:
                break
            await asyncio.sleep(0.05)
        async with app.engine.connect() as conn:
            escalations = (await conn.execute(select(t.escalations.c.created_at))).all()
            followups = sorted((await conn.execute(
                select(t.checkins.c.kind).where(t.checkins.c.kind.like("followup%"))
            )).scalars())  # fmt: skip
        assert len(escalations) == 1
        assert followups == ["followup_day", "followup_hour"]
        await chat.say("/settings")
        assert "Your settings" in chat.text()
    finally:
        await app.close()


async def test_pending_escalations_are_bounded(tmp_path: Path, clock: FakeClock) -> None:
    from ketacompanion.core.crisis.pending import PendingEscalation, PendingEscalations
    from ketacompanion.core.ports import StoreUnavailable

    class DownStore:
        def transaction(self, **_: object) -> object:
            raise StoreUnavailable("locked")

    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        import asyncio

        await asyncio.sleep(0)

    pending = PendingEscalations(DownStore(), limit=5, sleep=sleep)  # type: ignore[arg-type]
    for n in range(12):
        pending.add(PendingEscalation("console", f"p{n}", "crisis", "message", None, None, True, clock.now()))
    import asyncio

    await asyncio.sleep(0)
    assert len(pending) == 5
    await pending.close()
    assert slept  # it kept trying, on its own


# --- a real full disk --------------------------------------------------------------------------


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MB tmpfs, where the machine lets this process mount one."""
    import os
    import subprocess

    mountpoint = tmp_path / "disk"
    mountpoint.mkdir()
    if os.geteuid() != 0:
        pytest.skip(f"a real full disk needs a tmpfs mount, which needs root (running as uid {os.geteuid()})")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(mountpoint)],
                          capture_output=True, text=True, check=False)  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"mount -t tmpfs failed here: {done.stderr.strip() or done.returncode}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)


def fill(disk: Path) -> int:
    """Take every free byte of ``disk``; returns how many were written."""
    import errno

    written = 0
    try:
        with (disk / "filler").open("wb", buffering=0) as fh:
            while True:
                written += fh.write(b"\0" * 4096)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    return written


@pytest.mark.slow
async def test_a_full_disk_confirms_nothing_falsely_still_sends_crisis_lines_and_stays_intact(
    tiny_disk: Path, tmp_path: Path, clock: FakeClock, content_set: Content
) -> None:
    import asyncio
    import sqlite3

    from ketacompanion.core.model import Urgency

    db = tiny_disk / "bot.db"
    app = await build_app(make_settings(f"sqlite+aiosqlite:///{db}", tmp_path), clock, content_set)
    try:
        first = Chat(app, user="before")
        await first.onboard("US", "America/New_York")
        await asyncio.to_thread(fill, tiny_disk)
        told_busy, confirmed = [], []
        for n in range(40):  # new people arriving while the disk is full
            person = Chat(app, user=f"p{n}")
            await person.say("/start")
            (told_busy if "try again" in person.text().lower() else confirmed).append(f"p{n}")
        replies = await Chat(app, user="in-crisis").say("I want to kill myself")
        assert replies[0].urgency is Urgency.CRISIS and "988" in replies[0].text
        assert told_busy, "the disk never filled: this test would prove nothing"
        (tiny_disk / "filler").unlink()
        await first.say("/settings")
        assert "Your settings" in first.text()  # and it works again once there is room
        async with app.store.transaction() as tx:
            for user in told_busy:
                assert await tx.users.find("console", user) is None, user  # told "try again": nothing half-kept
            for user in confirmed:
                assert await tx.users.find("console", user) is not None, user  # answered normally: kept
    finally:
        await app.close()
    with sqlite3.connect(db) as check:
        assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    print(f"full disk: {len(confirmed)} kept before it filled, {len(told_busy)} told to try again")
