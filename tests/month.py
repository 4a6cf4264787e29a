"""A simulated month of daily check-ins, typed as a person would."""

from __future__ import annotations

from datetime import timedelta

from ketacompanion.core.clock import FakeClock

from conftest import Chat

QUIET = ("7", "2", "well", "none", "no", "skip")


async def checkin(chat: Chat, answers: tuple[str, ...] = QUIET) -> None:
    await chat.say("/checkin")
    for typed in answers:
        await chat.say(typed)
    assert "check-in is saved" in chat.text() or any(r.urgency.value != "normal" for r in chat.last), chat.text()


async def month(chat: Chat, clock: FakeClock, days: int = 28, busy: bool = False) -> None:
    """One check-in a day; a busy month has side effects, a red flag and a safety answer."""
    for day in range(days):
        answers = QUIET
        if busy and day % 7 == 3:
            answers = (str(3 + day % 4), "6", "poorly", "2, 3", "no", "tired after the session")
        if busy and day == 10:
            answers = ("3", "8", "poorly", "14", "no", "skip")  # blood in pee: a red flag
        await checkin(chat, answers)
        clock.advance(timedelta(days=1))


async def phq9_and_gad7(chat: Chat, level: str = "2") -> None:
    await chat.say("/checkin phq9")
    for _ in range(8):
        await chat.say(level)
    await chat.say("not at all")  # the safety item takes words, not digits
    await chat.tap(chat.choice("checkin:skip:"))  # the unscored difficulty question
    await chat.tap(chat.choice("checkin:gad7"))
    for _ in range(7):
        await chat.say("1")
    await chat.tap(chat.choice("checkin:skip:"))
    assert "saved" in chat.text(), chat.text()
