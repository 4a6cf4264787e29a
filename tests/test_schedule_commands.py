"""/schedule, /pause, /resume and /sessions: what they store and the slots they plan,
in the person's own timezone, across daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import select

from ketacompanion.app import App
from ketacompanion.core.clock import FakeClock
from ketacompanion.core.when import parse_clock, parse_moment
from ketacompanion.storage import tables as t

from conftest import Chat


async def rows(app: App, **where: object) -> list[tuple[str, str, datetime]]:
    """(kind, status, due_at UTC) of check-in rows, oldest first."""
    c = t.checkins
    query = select(c.c.kind, c.c.status, c.c.due_at).order_by(c.c.due_at)
    for name, value in where.items():
        query = query.where(c.c[name] == value)
    async with app.engine.connect() as conn:
        found = (await conn.execute(query)).all()
    return [(k, s, d if d.tzinfo else d.replace(tzinfo=UTC)) for k, s, d in found]


async def pending_daily(app: App) -> list[datetime]:
    return [d for k, s, d in await rows(app, kind="daily", status="pending")]


# UTC times are the known offsets: New York is UTC-4 in summer time and UTC-5 in
# winter; Berlin UTC+2 and UTC+1. 2026 changes: US on Mar 8 and Nov 1, EU on Mar 29 and Oct 25.
@pytest.mark.parametrize(
    ("country", "zone", "now", "expected"),
    [
        ("US", "America/New_York", datetime(2026, 11, 23, 9, 0, tzinfo=UTC), datetime(2026, 11, 24, 1, 0, tzinfo=UTC)),
        ("DE", "Europe/Berlin", datetime(2026, 11, 23, 9, 0, tzinfo=UTC), datetime(2026, 11, 23, 19, 0, tzinfo=UTC)),
        # The day before and the day of the autumn change.
        ("US", "America/New_York", datetime(2026, 10, 31, 12, 0, tzinfo=UTC), datetime(2026, 11, 1, 0, 0, tzinfo=UTC)),
        ("US", "America/New_York", datetime(2026, 11, 1, 12, 0, tzinfo=UTC), datetime(2026, 11, 2, 1, 0, tzinfo=UTC)),
        ("DE", "Europe/Berlin", datetime(2026, 10, 24, 12, 0, tzinfo=UTC), datetime(2026, 10, 24, 18, 0, tzinfo=UTC)),
        ("DE", "Europe/Berlin", datetime(2026, 10, 25, 12, 0, tzinfo=UTC), datetime(2026, 10, 25, 19, 0, tzinfo=UTC)),
        # Spring: the evening after the clocks went forward.
        ("US", "America/New_York", datetime(2026, 3, 8, 12, 0, tzinfo=UTC), datetime(2026, 3, 9, 0, 0, tzinfo=UTC)),
        ("DE", "Europe/Berlin", datetime(2026, 3, 29, 12, 0, tzinfo=UTC), datetime(2026, 3, 29, 18, 0, tzinfo=UTC)),
    ],
)
async def test_daily_time_lands_at_the_right_utc_moment(
    app: App, clock: FakeClock, country: str, zone: str, now: datetime, expected: datetime
) -> None:
    clock.set(now)
    chat = Chat(app)
    await chat.onboard(country=country, zone=zone)
    await chat.say("/schedule")
    await chat.tap(chat.choice("sched:daily"))
    await chat.tap("sched:dt:2000")
    assert await pending_daily(app) == [expected]
    assert "20:00" in chat.text()


@pytest.mark.parametrize("typed", ["20:00", "8pm", "8 pm", "20.00"])
async def test_typed_daily_time(app: App, chat: Chat, typed: str) -> None:
    await chat.onboard()
    await chat.say("/schedule")
    await chat.tap("sched:daily")
    await chat.say(typed)
    assert await pending_daily(app) == [datetime(2026, 11, 24, 1, 0, tzinfo=UTC)]


async def test_bad_time_is_asked_again(app: App, chat: Chat) -> None:
    await chat.onboard()
    await chat.say("/schedule 25:99")
    assert "couldn't read" in chat.text()
    assert await pending_daily(app) == []


async def test_weekly_and_quiet_hours(app: App, chat: Chat) -> None:
    await chat.onboard(country="DE", zone="Europe/Berlin")
    await chat.say("/schedule")
    await chat.tap("sched:weekly")
    await chat.tap("sched:wd:6")  # Sunday
    await chat.say("10:00")
    weekly = [d for k, s, d in await rows(app, kind="weekly", status="pending")]
    assert weekly == [datetime(2026, 11, 29, 9, 0, tzinfo=UTC)]
    await chat.tap("sched:dt:2300")
    await chat.tap("sched:quiet")
    await chat.say("22:00-07:00")
    # 23:00 falls in the quiet hours: moved to their end, 07:00 Berlin.
    assert await pending_daily(app) == [datetime(2026, 11, 24, 6, 0, tzinfo=UTC)]
    assert "22:00 to 07:00" in chat.text()


async def test_timezone_change_replans(app: App, chat: Chat) -> None:
    await chat.onboard()
    await chat.say("/schedule 20:00")
    assert await pending_daily(app) == [datetime(2026, 11, 24, 1, 0, tzinfo=UTC)]
    await chat.say("/settings")
    await chat.tap("set:timezone")
    await chat.tap("start:tz:Europe|Berlin")
    assert await pending_daily(app) == [datetime(2026, 11, 23, 19, 0, tzinfo=UTC)]


async def test_off_removes_pending_slots(app: App, chat: Chat) -> None:
    await chat.onboard()
    await chat.say("/schedule 20:00")
    await chat.say("/schedule off")
    assert await pending_daily(app) == []
    assert "/checkin" in chat.text()


async def test_pause_and_resume(app: App, chat: Chat, clock: FakeClock) -> None:
    await chat.onboard()
    await chat.say("/schedule 20:00")
    await chat.say("/pause")
    await chat.tap("sched:pause:3")
    # Paused through Nov 25 in New York: the next one is Nov 26, 20:00 EST.
    assert await pending_daily(app) == [datetime(2026, 11, 27, 1, 0, tzinfo=UTC)]
    assert "Nov 26" in chat.text()
    await chat.say("/resume")
    assert await pending_daily(app) == [datetime(2026, 11, 24, 1, 0, tzinfo=UTC)]
    await chat.say("/pause")
    await chat.tap("sched:pause:forever")
    assert all(d.year > 2100 for d in await pending_daily(app))
    assert "/resume" in chat.text()


async def test_pause_until_a_typed_date_and_not_into_the_past(app: App, chat: Chat) -> None:
    await chat.onboard()
    await chat.say("/schedule 20:00")
    await chat.say("/pause 2026-11-20")
    assert "already passed" in chat.text()
    assert await pending_daily(app) == [datetime(2026, 11, 24, 1, 0, tzinfo=UTC)]
    await chat.say("/pause")
    await chat.say("Dec 1")
    assert await pending_daily(app) == [datetime(2026, 12, 2, 1, 0, tzinfo=UTC)]


async def test_session_adds_its_timeline(app: App, chat: Chat) -> None:
    await chat.onboard()
    await chat.say("/sessions")
    await chat.tap("sess:add")
    await chat.say("2026-12-03 14:00")
    assert "Dec 03, 14:00" in chat.text()
    timeline = await rows(app, status="pending")
    kinds = {k: d for k, s, d in timeline}
    start = datetime(2026, 12, 3, 19, 0, tzinfo=UTC)  # 14:00 EST
    assert set(kinds) == {"session_prep", "post_session", "next_day", "integration"}
    assert kinds["session_prep"] < start < kinds["post_session"] < kinds["next_day"] < kinds["integration"]
    assert not any(start <= d < start + timedelta(hours=3) for d in kinds.values())


async def test_session_in_words(app: App, chat: Chat) -> None:
    await chat.onboard(country="DE", zone="Europe/Berlin")
    await chat.say("/sessions Dec 3 2pm")
    async with app.engine.connect() as conn:
        starts = (await conn.execute(select(t.dosing_sessions.c.starts_at))).scalar_one()
    assert starts.replace(tzinfo=UTC) == datetime(2026, 12, 3, 13, 0, tzinfo=UTC)


@pytest.mark.parametrize("typed", ["2026-11-20 14:00", "2028-01-05 10:00"])
async def test_session_in_the_past_or_far_ahead_asks_to_confirm(app: App, chat: Chat, typed: str) -> None:
    await chat.onboard()
    await chat.say(f"/sessions {typed}")
    assert chat.choice("sess:ok:")
    async with app.engine.connect() as conn:
        assert (await conn.execute(select(t.dosing_sessions))).all() == []
    await chat.tap(chat.choice("sess:ok:"))
    async with app.engine.connect() as conn:
        assert len((await conn.execute(select(t.dosing_sessions))).all()) == 1


async def test_session_confirm_no_adds_nothing(app: App, chat: Chat) -> None:
    await chat.onboard()
    await chat.say("/sessions 2026-11-20 14:00")
    await chat.tap("sess:no")
    async with app.engine.connect() as conn:
        assert (await conn.execute(select(t.dosing_sessions))).all() == []


async def test_removing_a_session_cancels_its_pending_checkins(app: App, chat: Chat) -> None:
    await chat.onboard()
    await chat.say("/sessions 2026-12-03 14:00")
    await chat.say("/sessions 2026-12-10 14:00")
    first = chat.choice("sess:rm:")
    assert "Dec 03" in next(c.label for c in chat.choices() if c.id == first)
    await chat.tap(first)
    assert "Dec 03" not in chat.text() and "Dec 10" in chat.text()
    statuses = {(s, d.date()) for k, s, d in await rows(app) if k == "post_session"}
    assert statuses == {("cancelled", date(2026, 12, 3)), ("pending", date(2026, 12, 10))}
    await chat.tap(first)
    assert "already removed" in chat.text()


@pytest.mark.parametrize(
    ("typed", "expected"),
    [("20:00", time(20)), ("8pm", time(20)), ("8:30 am", time(8, 30)), ("12am", time(0)), ("noon", time(12)),
     ("25:00", None), ("13pm", None), ("banana", None), ("7:75", None)],
)
def test_parse_clock(typed: str, expected: time | None) -> None:
    assert parse_clock(typed) == expected


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("2026-12-03 14:00", datetime(2026, 12, 3, 14)),
        ("Dec 3 2pm", datetime(2026, 12, 3, 14)),
        ("3 December 2027 at 9:15am", datetime(2027, 12, 3, 9, 15)),
        ("tomorrow 9am", datetime(2026, 11, 24, 9)),
        ("Nov 1 10:00", datetime(2027, 11, 1, 10)),  # no year: the next Nov 1
        ("3/12 14:00", None),  # day and month order differs by country: refused
        ("Feb 30 10:00", None),
        ("Dec 3", None),  # no time
    ],
)
def test_parse_moment(typed: str, expected: datetime | None) -> None:
    assert parse_moment(typed, date(2026, 11, 23)) == expected


@pytest.mark.parametrize(("typed", "shown"), [("2028-01-05 10:00", "Jan 05 2028, 10:00"),
                                              ("2025-01-01 10:00", "Jan 01 2025, 10:00")])
async def test_a_session_in_another_year_shows_its_year(app: App, chat: Chat, typed: str, shown: str) -> None:
    # "Sat Jan 01, 10:00 is more than a year away": which year did it understand?
    await chat.onboard()
    await chat.say(f"/sessions {typed}")
    assert shown in chat.text()
    await chat.tap(chat.choice("sess:ok:"))
    assert shown in chat.text()


async def test_a_session_this_year_is_shown_without_the_year(app: App, chat: Chat) -> None:
    await chat.onboard()
    await chat.say("/sessions 2026-12-03 14:00")
    assert "Dec 03, 14:00" in chat.text() and "2026" not in chat.text().split("\n")[0]
