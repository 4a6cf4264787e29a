"""A check-in is worded wholly from the content version its prompt came from: a publish
between the prompt and the reminder, or in the middle of the questions, changes the
next check-in, never the one under way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from ketacompanion.app import App
from ketacompanion.content.bundle import read_directory
from ketacompanion.publishing import Publisher
from ketacompanion.storage import tables as t
from ketacompanion.storage.admin_repo import AdminRepo
from ketacompanion.storage.content_repo import ContentRepo
from test_checkin_flow import asked
from test_delivery import FakeSender, set_schedule

from conftest import CONTENT, Chat

OLD_SLEEP = "How did you sleep last night?"
OLD_REMINDER = "A gentle reminder: your check-in is still open"
OLD_Q3 = "Trouble falling or staying asleep, or sleeping too much"


async def publish_v2(app: App) -> None:
    """Version 2 rewords a daily question, a PHQ-9 item and the reminder, and goes live here."""
    files = read_directory(CONTENT)
    for path, old in (("checkins/daily.yaml", OLD_SLEEP), ("messages/en.yaml", OLD_REMINDER),
                      ("checkins/phq9.yaml", OLD_Q3)):  # fmt: skip
        assert old.encode() in files[path]
        files[path] = files[path].replace(old.encode(), b"[v2] " + old.encode(), 1)
    repo = ContentRepo(app.engine, app.clock)
    publisher = Publisher(repo, AdminRepo(app.engine, app.clock), lambda: app.clock.now().date())
    assert (await publisher.publish(files, "cli:test", "reword")).number == 2
    assert app.live is not None and await app.live.poll() and app.content.version == 2


async def versions(app: App) -> list[int | None]:
    async with app.engine.connect() as conn:
        c = t.checkins
        return list((await conn.execute(select(c.c.content_version).order_by(c.c.id))).scalars())


async def test_a_scheduled_checkin_keeps_its_version_through_reminder_and_questions(app: App, chat: Chat) -> None:
    await chat.onboard("US", "America/New_York")
    await set_schedule(app, "u1", "America/New_York")
    sender = FakeSender()
    app.add_sender(sender)
    app.clock.set(datetime(2026, 11, 24, 1, 0, tzinfo=UTC))
    await app.delivery.tick()  # the prompt goes out worded from version 1
    assert (await versions(app))[0] == 1
    await publish_v2(app)
    app.clock.advance(timedelta(minutes=app.settings.checkin_reminder_minutes))
    await app.delivery.tick()
    reminder = sender.sent[-1][1]
    assert OLD_REMINDER in reminder.text and "[v2]" not in reminder.text
    start = next(c.id for c in reminder.choices if c.id.startswith("checkin:start:"))
    await chat.tap(start)
    cid, _ = asked(chat)
    for index, answer in ((0, 6), (1, 3)):
        await chat.tap(f"checkin:a:{cid}:{index}:{answer}")
    assert OLD_SLEEP in chat.text() and "[v2]" not in chat.text()
    # The next day's check-in is claimed after the publish: version 2 throughout.
    app.clock.set(datetime(2026, 11, 25, 1, 0, tzinfo=UTC))
    await app.delivery.tick()
    assert (await versions(app))[:2] == [1, 2]
    await chat.tap(next(c.id for c in sender.sent[-1][1].choices if c.id.startswith("checkin:start:")))
    newer, _ = asked(chat)
    for index, answer in ((0, 6), (1, 3)):
        await chat.tap(f"checkin:a:{newer}:{index}:{answer}")
    assert f"[v2] {OLD_SLEEP}" in chat.text()


async def test_a_phq9_begun_before_a_publish_finishes_on_its_own_questions(app: App, chat: Chat) -> None:
    await chat.onboard()
    await chat.say("/checkin phq9")
    cid, _ = asked(chat)
    await chat.tap(f"checkin:a:{cid}:0:0")
    await publish_v2(app)
    await chat.tap(f"checkin:a:{cid}:1:0")  # question 3 is next: version 1's wording
    assert OLD_Q3 in chat.text() and "[v2]" not in chat.text()
    await chat.say("hello")  # a typed word mid check-in: asked again, still version 1
    assert OLD_Q3 in chat.text() and "[v2]" not in chat.text()
    assert await versions(app) == [1]


async def test_without_the_old_version_at_hand_the_live_one_is_used(app: App, chat: Chat) -> None:
    """A process that never held version 1 (started after it was replaced) asks from the
    live set rather than failing: the check-in still works."""
    await chat.onboard()
    await chat.say("/checkin phq9")
    cid, _ = asked(chat)
    await chat.tap(f"checkin:a:{cid}:0:0")
    await publish_v2(app)
    app.content._kept.pop(1)  # as if this process had started on version 2
    await chat.tap(f"checkin:a:{cid}:1:0")
    assert f"[v2] {OLD_Q3}" in chat.text()
