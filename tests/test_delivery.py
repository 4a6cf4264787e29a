"""Scheduled delivery from the database: due, sent, reminded, missed; restarts,
downtime, blocked users, and several processes claiming the same rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, select, update

from ketacompanion.app import App, build_app
from ketacompanion.core.clock import FakeClock
from ketacompanion.core.model import Address, Reply, Unreachable
from ketacompanion.storage import planner
from ketacompanion.storage import tables as t

from conftest import Chat, make_settings


class FakeSender:
    platform = "console"

    def __init__(self, blocked: set[str] | None = None) -> None:
        self.sent: list[tuple[str, Reply]] = []
        self.attempts: list[str] = []
        self.blocked = blocked or set()

    async def send(self, address: Address, reply: Reply) -> None:
        self.attempts.append(address.chat_id)
        if address.chat_id in self.blocked:
            raise Unreachable("blocked")
        self.sent.append((address.chat_id, reply))


async def set_schedule(app: App, user: str, zone: str, daily: str | None = "20:00", **extra: object) -> int:
    async with app.engine.begin() as conn:
        uid = (await conn.execute(select(t.users.c.id).where(t.users.c.platform_user_id == user))).scalar_one()
        await conn.execute(update(t.users).where(t.users.c.id == uid).values(timezone=zone))
        await conn.execute(insert(t.schedules).values(user_id=uid, daily_time=daily, updated_at=app.clock.now(), **extra))
        await planner.replan(conn, uid, app.clock.now(), app.delivery.window)
    return int(uid)


async def rows(app: App, user_id: int) -> list[tuple[str, str, datetime]]:
    async with app.engine.connect() as conn:
        found = await conn.execute(
            select(t.checkins.c.kind, t.checkins.c.status, t.checkins.c.due_at)
            .where(t.checkins.c.user_id == user_id).order_by(t.checkins.c.due_at)
        )
        return [(k, s, d if d.tzinfo else d.replace(tzinfo=UTC)) for k, s, d in found]


async def test_daily_slot_is_at_local_time(app: App, chat: Chat) -> None:
    await chat.onboard("US", "America/New_York")
    uid = await set_schedule(app, "u1", "America/New_York")
    # 2026-11-23 09:00 UTC is 04:00 in New York (EST, UTC-5): next 20:00 local is 01:00 UTC.
    assert await rows(app, uid) == [("daily", "pending", datetime(2026, 11, 24, 1, 0, tzinfo=UTC))]


async def test_due_prompt_is_sent_reminded_then_missed(app: App, chat: Chat, clock: FakeClock) -> None:
    await chat.onboard("US", "America/New_York")
    uid = await set_schedule(app, "u1", "America/New_York")
    sender = FakeSender()
    app.add_sender(sender)
    clock.set(datetime(2026, 11, 24, 0, 59, tzinfo=UTC))
    await app.delivery.tick()
    assert sender.sent == []  # not yet
    clock.set(datetime(2026, 11, 24, 1, 0, tzinfo=UTC))
    await app.delivery.tick()
    assert len(sender.sent) == 1 and sender.sent[0][1].scheduled
    assert any(c.id.startswith("checkin:start:") for c in sender.sent[0][1].choices)
    statuses = [s for _, s, _ in await rows(app, uid)]
    assert statuses == ["sent", "pending"]  # and the next day's slot exists
    clock.advance(timedelta(minutes=app.settings.checkin_reminder_minutes))
    await app.delivery.tick()
    assert len(sender.sent) == 2 and "reminder" in sender.sent[1][1].text
    clock.advance(timedelta(minutes=app.settings.checkin_window_minutes))
    await app.delivery.tick()
    assert [s for _, s, _ in await rows(app, uid)] == ["missed", "pending"]
    assert len(sender.sent) == 2  # one reminder only


async def test_downtime_inside_the_window_sends_once(app: App, chat: Chat, clock: FakeClock) -> None:
    await chat.onboard("US", "America/New_York")
    uid = await set_schedule(app, "u1", "America/New_York")
    sender = FakeSender()
    app.add_sender(sender)
    clock.set(datetime(2026, 11, 24, 2, 30, tzinfo=UTC))  # 90 minutes late, window is 4 hours
    await app.delivery.tick()
    await app.delivery.tick()
    assert [r.text for _, r in sender.sent].count(sender.sent[0][1].text) == 1
    assert [s for _, s, _ in await rows(app, uid)][0] == "sent"


async def test_downtime_longer_than_the_window_records_each_missed_day(app: App, chat: Chat, clock: FakeClock) -> None:
    await chat.onboard("US", "America/New_York")
    uid = await set_schedule(app, "u1", "America/New_York")
    sender = FakeSender()
    app.add_sender(sender)
    clock.set(datetime(2026, 11, 26, 12, 0, tzinfo=UTC))  # down for three days
    await app.delivery.tick()
    log = await rows(app, uid)
    assert [s for _, s, _ in log] == ["missed", "missed", "missed", "pending"]
    assert [d.day for _, _, d in log] == [24, 25, 26, 27]
    assert sender.sent == []


async def test_blocked_user_is_marked_unreachable_after_one_attempt(app: App, chat: Chat, clock: FakeClock) -> None:
    await chat.onboard("US", "America/New_York")
    uid = await set_schedule(app, "u1", "America/New_York")
    sender = FakeSender(blocked={"u1"})
    app.add_sender(sender)
    clock.set(datetime(2026, 11, 24, 1, 0, tzinfo=UTC))
    await app.delivery.tick()
    clock.advance(timedelta(days=1))
    await app.delivery.tick()
    assert sender.attempts == ["u1"]  # no retry storm, and the next day is not tried
    async with app.engine.connect() as conn:
        unreachable = (await conn.execute(select(t.users.c.unreachable_at).where(t.users.c.id == uid))).scalar()
    assert unreachable is not None
    assert [s for _, s, _ in await rows(app, uid)][:2] == ["unreachable", "unreachable"]


async def test_quiet_hours_move_the_prompt(app: App, chat: Chat) -> None:
    await chat.onboard("DE", "Europe/Berlin")
    uid = await set_schedule(app, "u1", "Europe/Berlin", daily="22:30", quiet_start="22:00", quiet_end="08:00")
    # 22:30 falls in quiet hours: moved to 08:00 Berlin (07:00 UTC in winter).
    assert await rows(app, uid) == [("daily", "pending", datetime(2026, 11, 24, 7, 0, tzinfo=UTC))]


async def test_a_send_cut_off_by_a_crash_is_sent_again_once(app: App, chat: Chat, clock: FakeClock) -> None:
    await chat.onboard("US", "America/New_York")
    await set_schedule(app, "u1", "America/New_York")
    clock.set(datetime(2026, 11, 24, 1, 0, tzinfo=UTC))
    await app.delivery.enqueue_due()
    # A process claims the outbox row and dies before it can mark it sent.
    claimed = await app.delivery.outbox._claim()
    assert len(claimed) == 1
    sender = FakeSender()
    app.add_sender(sender)
    await app.delivery.outbox.drain()
    assert sender.sent == []  # still leased by the dead process
    clock.advance(app.delivery.outbox.lease + timedelta(seconds=1))
    await app.delivery.outbox.drain()
    await app.delivery.outbox.drain()
    assert len(sender.sent) == 1


async def test_two_processes_never_send_the_same_checkin(database_url: str, tmp_path: Path, clock: FakeClock) -> None:
    settings = make_settings(database_url, tmp_path)
    first, second = await build_app(settings, clock), await build_app(settings, clock)
    try:
        for i in range(60):
            chat = Chat(first, user=f"p{i}")
            await chat.onboard("US", "America/New_York")
            await set_schedule(first, f"p{i}", "America/New_York")
        sender_a, sender_b = FakeSender(), FakeSender()
        first.add_sender(sender_a)
        second.add_sender(sender_b)
        first.delivery.claim_batch = second.delivery.claim_batch = 7
        first.delivery.outbox.batch = second.delivery.outbox.batch = 5
        clock.set(datetime(2026, 11, 24, 1, 0, tzinfo=UTC))
        import asyncio

        await asyncio.gather(first.delivery.tick(), second.delivery.tick(), first.delivery.tick(), second.delivery.tick())
        delivered = [chat_id for chat_id, _ in sender_a.sent + sender_b.sent]
        assert sorted(delivered) == sorted(f"p{i}" for i in range(60))
    finally:
        await first.close()
        await second.close()


async def test_writing_again_after_blocking_resumes_the_schedule(app: App, chat: Chat, clock: FakeClock) -> None:
    await chat.onboard("US", "America/New_York")
    uid = await set_schedule(app, "u1", "America/New_York")
    app.add_sender(FakeSender(blocked={"u1"}))
    clock.set(datetime(2026, 11, 24, 1, 0, tzinfo=UTC))
    await app.delivery.tick()
    sender = FakeSender()
    app.add_sender(sender)  # they unblocked the bot
    await chat.say("/help")
    async with app.engine.connect() as conn:
        assert (await conn.execute(select(t.users.c.unreachable_at).where(t.users.c.id == uid))).scalar() is None
    clock.set(datetime(2026, 11, 25, 1, 0, tzinfo=UTC))
    await app.delivery.tick()
    assert [chat_id for chat_id, _ in sender.sent] == ["u1"]


async def test_a_pause_holds_session_prompts_but_not_crisis_follow_ups(app: App, chat: Chat, clock: FakeClock) -> None:
    await chat.onboard("US", "America/New_York")
    uid = await set_schedule(app, "u1", "America/New_York", paused_until=datetime(2026, 12, 1, tzinfo=UTC))
    async with app.engine.begin() as conn:
        await conn.execute(insert(t.checkins), [
            {"user_id": uid, "kind": "post_session", "instrument": "post_session", "due_at": datetime(2026, 11, 24, 12, tzinfo=UTC),
             "expires_at": datetime(2026, 11, 24, 16, tzinfo=UTC), "status": "pending", "created_at": clock.now()},
            {"user_id": uid, "kind": "followup_hour", "instrument": None, "due_at": datetime(2026, 11, 24, 12, tzinfo=UTC),
             "expires_at": datetime(2026, 11, 24, 16, tzinfo=UTC), "status": "pending", "created_at": clock.now()},
        ])
    sender = FakeSender()
    app.add_sender(sender)
    clock.set(datetime(2026, 11, 24, 12, 0, tzinfo=UTC))
    await app.delivery.tick()
    assert len(sender.sent) == 1 and "reach someone" in sender.sent[0][1].text


async def test_the_scheduler_service_sends_due_prompts_until_stopped(app: App, chat: Chat, clock: FakeClock) -> None:
    import asyncio

    from ketacompanion.app import scheduler_service

    class SignallingSender(FakeSender):
        def __init__(self) -> None:
            super().__init__()
            self.arrived = asyncio.Event()

        async def send(self, address: Address, reply: Reply) -> None:
            await super().send(address, reply)
            self.arrived.set()

    await chat.onboard("US", "America/New_York")
    await set_schedule(app, "u1", "America/New_York")
    sender = SignallingSender()
    app.add_sender(sender)
    clock.set(datetime(2026, 11, 24, 1, 0, tzinfo=UTC))
    stop = asyncio.Event()
    task = asyncio.create_task(scheduler_service(app)(stop))
    await asyncio.wait_for(sender.arrived.wait(), timeout=10)
    stop.set()
    await asyncio.wait_for(task, timeout=10)
    assert [chat_id for chat_id, _ in sender.sent] == ["u1"]
