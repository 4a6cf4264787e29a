"""Smaller things a patient meets: the help text, PHQ-9's count."""

from __future__ import annotations

from conftest import Chat


async def test_help_names_resume_and_the_longer_check_ins(chat: Chat) -> None:
    await chat.say("/help")
    assert "/resume" in chat.text() and "/checkin phq9" in chat.text()


async def test_phq9_says_nine_questions_and_counts_nine(chat: Chat) -> None:
    await chat.onboard()
    await chat.say("/checkin phq9")
    text = chat.text()
    assert "9 short questions" in text and "(1 of 9)" in text
    for _ in range(8):
        await chat.tap(chat.choice("checkin:a:"))
    assert "(9 of 9)" in chat.text()


async def test_moving_country_asks_for_its_timezone_and_updates_the_plans_crisis_lines(chat: Chat) -> None:
    await chat.onboard("GB", "Europe/London")
    await chat.say("/safetyplan")
    await chat.tap("plan:edit:professionals")
    await chat.tap("plan:keep:professionals")
    await chat.say("/settings")
    await chat.tap("set:country")
    await chat.tap("start:country:US")
    assert "start:tz:America|Los_Angeles" in [c.id for c in chat.choices()]
    await chat.tap("start:tz:America|Chicago")
    assert "America/Chicago" in chat.text()
    await chat.say("/safetyplan")
    shown = chat.text()
    assert "988" in shown and "116 123" not in shown


async def test_a_daily_time_in_quiet_hours_is_said_plainly(chat: Chat) -> None:
    await chat.onboard("GB", "Europe/London")
    await chat.say("/schedule")
    await chat.tap("sched:quiet")
    await chat.say("22:00-07:00")
    await chat.say("/schedule 23:00")
    assert "23:00 is inside your quiet hours" in chat.text() and "wait until 07:00" in chat.text()
    await chat.say("/schedule 20:00")
    assert "quiet hours (" not in chat.text()


async def test_a_past_session_is_logged_and_listed_and_the_plan_gives_times(chat: Chat) -> None:
    await chat.onboard("GB", "Europe/London")  # the clock: Mon 23 Nov 2026, 09:00 in London
    await chat.say("/sessions 2026-11-10 10:00")
    await chat.tap(chat.choice("sess:ok:"))
    assert "Logged your past session" in chat.text() and "Tue Nov 10, 10:00 (past)" in chat.text()
    await chat.say("/sessions 2026-12-10 14:00")
    text = chat.text()
    for when in ("Wed Dec 09, 18:00", "Thu Dec 10, 18:00", "Fri Dec 11, 09:00", "Sun Dec 13, 18:00"):
        assert when in text
    assert "Tue Nov 10, 10:00 (past)" in text and "Thu Dec 10, 14:00" in text
