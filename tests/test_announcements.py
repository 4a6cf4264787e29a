"""Announcements through the outbox: audience, opt-out, pause, quiet hours, report, audit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import insert, select, update

from ketacompanion.announcements import Announcements, AudienceError
from ketacompanion.app import App
from ketacompanion.core.model import Address, Reply, Unreachable
from ketacompanion.storage import tables as t
from ketacompanion.storage.admin_repo import AdminRepo

from conftest import Chat


class Recorder:
    platform = "console"

    def __init__(self, blocked: set[str]) -> None:
        self.sent: list[tuple[str, str]] = []
        self.blocked = blocked

    async def send(self, address: Address, reply: Reply) -> None:
        if address.chat_id in self.blocked:
            raise Unreachable("blocked")
        self.sent.append((address.chat_id, reply.text))


async def _user_id(app: App, name: str) -> int:
    async with app.engine.connect() as conn:
        return int(await conn.scalar(select(t.users.c.id).where(t.users.c.platform_user_id == name)))


async def test_an_announcement_reaches_its_audience_and_reports(app: App) -> None:
    for name in ("a", "b", "c", "d", "off", "paused", "quiet", "gone"):
        await Chat(app, name).onboard("GB", "Europe/London")
    await Chat(app, "stranger").say("/start")  # never consented: gets nothing
    now = app.clock.now()  # 09:00 UTC = 09:00 in London
    ids = {name: await _user_id(app, name) for name in ("off", "paused", "quiet")}
    async with app.engine.begin() as conn:
        await conn.execute(insert(t.announcement_optout).values(user_id=ids["off"], at=now))
        for name, values in (("paused", {"paused_until": now + timedelta(days=2)}),
                             ("quiet", {"quiet_start": "08:00", "quiet_end": "10:00"})):
            uid = ids[name]
            changed = await conn.execute(update(t.schedules).where(t.schedules.c.user_id == uid).values(**values))
            if changed.rowcount == 0:
                await conn.execute(insert(t.schedules).values(user_id=uid, updated_at=now, **values))
    recorder = Recorder(blocked={"gone"})
    app.add_sender(recorder)
    outbox = app.delivery.outbox
    announcements = Announcements(outbox, app.clock)
    assert await announcements.audience_size("all") == (7, 0)
    assert await announcements.audience_size("telegram") == (0, 0)
    with pytest.raises(AudienceError):
        await announcements.audience_size("drop table")
    report = await announcements.send("The clinic is closed on Friday.", "all", "cli:owner")
    assert (report.pending, report.delivered) == (7, 0)
    await outbox.drain()
    report = await announcements.report(report.id)
    assert sorted(chat for chat, _ in recorder.sent) == ["a", "b", "c", "d"]
    assert (report.delivered, report.unreachable, report.pending) == (4, 1, 2)
    app.clock.advance(timedelta(hours=1, minutes=1))  # past the quiet hours
    await outbox.drain()
    assert "quiet" in [chat for chat, _ in recorder.sent] and "paused" not in [c for c, _ in recorder.sent]
    app.clock.advance(timedelta(days=2))
    await outbox.drain()
    report = await announcements.report(report.id)
    assert (report.delivered, report.unreachable, report.pending) == (6, 1, 0)
    (entry,) = await AdminRepo(app.engine, app.clock).audit_log(action="announce")
    assert entry.detail["people"] == 7 and "Friday" not in str(entry.detail)


async def test_a_person_turns_announcements_off_in_settings(app: App) -> None:
    chat = Chat(app, "p")
    await chat.onboard()
    announcements = Announcements(app.delivery.outbox, app.clock)
    assert await announcements.audience_size("console") == (1, 0)
    await chat.say("/settings")
    await chat.tap(chat.choice("ann:toggle"))
    assert "Announcements are off" in chat.text()
    assert await announcements.audience_size("console") == (0, 0)
    assert (await announcements.send("News", "all", "cli:owner")).pending == 0
    await chat.tap("ann:toggle")
    assert "Announcements are on" in chat.text()
    assert await announcements.audience_size("console") == (1, 0)
