"""The shared commands, the pipeline's order, and what bad input gets."""

from __future__ import annotations

from pathlib import Path

from ketacompanion.app import build_app
from ketacompanion.core.model import Urgency

from conftest import Chat, make_settings


async def test_start_explains_and_asks_consent_first(chat: Chat) -> None:
    replies = await chat.say("/start")
    text = chat.text()
    assert "not a doctor" in text and "not an emergency service" in text
    assert [c.id for c in replies[0].choices] == ["start:agree", "start:decline", "go:privacy"]


async def test_onboarding_sets_country_and_timezone(chat: Chat) -> None:
    await chat.onboard("US", "America/New_York")
    assert "America/New_York" in chat.text()
    async with chat.app.store.transaction() as tx:
        user, _ = await tx.users.find("console", "u1")  # type: ignore[misc]
    assert (user.country, user.timezone) == ("US", "America/New_York")
    assert user.consent_at is not None


async def test_single_zone_country_needs_no_timezone_question(chat: Chat) -> None:
    await chat.say("/start")
    await chat.tap("start:agree")
    # Two zones in the tz database (Berlin, Busingen) that keep one clock: nothing to ask.
    await chat.tap("start:country:DE")
    assert "Europe/Berlin" in chat.text()
    assert not any(c.id.startswith("start:tz:") for c in chat.choices())
    other = Chat(chat.app, user="u2")
    await other.say("/start")
    await other.tap("start:agree")
    await other.tap("start:country:other")
    await other.say("Ireland")
    assert "Europe/Dublin" in other.text()


async def test_typed_city_and_suggestions(chat: Chat) -> None:
    await chat.say("/start")
    await chat.tap("start:agree")
    await chat.tap("start:country:US")
    await chat.say("Berln")
    assert "Did you mean" in chat.text()
    await chat.tap(chat.choice("start:tz:Europe|Berlin"))
    assert "Europe/Berlin" in chat.text()


async def test_unknown_command_gets_a_hint(chat: Chat) -> None:
    await chat.say("/frobnicate now")
    assert "/frobnicate" in chat.text() and "/help" in chat.text()
    assert "Did you mean" not in chat.text()


async def test_a_slip_in_a_command_name_is_answered_with_the_near_command(chat: Chat) -> None:
    await chat.say("/session tomorrow 10:00")
    assert "I don't know /session." in chat.text() and "Did you mean /sessions?" in chat.text()
    await chat.say("/hlep")
    assert "Did you mean /help?" in chat.text()
    await chat.say("/crisis")
    card = chat.text()
    await chat.say("/crsis")
    assert chat.text() == card and "Did you mean" not in card  # the lines themselves


async def test_privacy_answers_before_consent_and_creates_no_row(chat: Chat) -> None:
    await chat.say("/privacy")
    assert "/export" in chat.text() and "/delete" in chat.text()
    async with chat.app.store.transaction() as tx:
        assert await tx.users.find("console", "u1") is None


async def test_health_commands_need_consent(chat: Chat) -> None:
    await chat.say("/settings")
    assert any(c.id == "start:agree" for c in chat.choices())


async def test_stale_button_says_closed_and_offers_current_step(chat: Chat) -> None:
    await chat.say("/start")
    await chat.tap("start:agree")
    await chat.tap("delete:yes")  # a delete confirmation that was never asked
    assert "closed" in chat.text()
    assert chat.choice("start:country:")
    async with chat.app.store.transaction() as tx:
        assert await tx.users.find("console", "u1") is not None


async def test_forged_button_touches_nothing(chat: Chat) -> None:
    await chat.onboard()
    for forged in ("start:tz:Mars|Olympus", "nosuchflow:x", "start:country:QQ", ":", "set:language:xx"):
        await chat.tap(forged)
        assert chat.last, forged
    async with chat.app.store.transaction() as tx:
        user, _ = await tx.users.find("console", "u1")  # type: ignore[misc]
    assert (user.country, user.timezone, user.language) == ("US", "America/New_York", "en")


async def test_long_and_odd_text_is_answered(chat: Chat) -> None:
    await chat.onboard()
    for text in ("x" * 5000, "\u200b\u200f\u202e hello \U0001f600 \u0301", "   ", "שלום עולם"):
        replies = await chat.say(text)
        assert len(replies) >= 1 and all(r.text for r in replies)


async def test_flow_survives_restart(database_url: str, tmp_path: Path, clock) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(database_url, tmp_path)
    first = await build_app(settings, clock)
    chat = Chat(first)
    await chat.say("/start")
    await chat.tap("start:agree")
    await chat.tap("start:country:US")  # now waiting for a timezone
    await first.close()

    second = await build_app(settings, clock)
    try:
        chat = Chat(second)
        await chat.say("Chicago")
        assert "America/Chicago" in chat.text()
    finally:
        await second.close()


async def test_crisis_command_works_before_start(chat: Chat) -> None:
    replies = await chat.say("/crisis")
    assert replies[0].urgency is Urgency.CRISIS
    async with chat.app.store.transaction() as tx:
        assert await tx.users.find("console", "u1") is None


async def test_a_very_long_message_is_read_in_part_and_the_person_is_told(chat: Chat) -> None:
    await chat.onboard()
    await chat.say("/safetyplan")
    await chat.tap(chat.choice("plan:edit:"))
    replies = await chat.say("a" * 4500)
    assert any("first 4,000 characters" in r.text for r in replies)


async def test_a_crisis_buried_at_the_end_of_a_long_message_is_still_found(chat: Chat) -> None:
    await chat.onboard()
    replies = await chat.say("ordinary words " * 400 + " and honestly I want to kill myself")
    assert replies[0].urgency.value == "crisis"


async def test_agreeing_from_a_health_command_before_start_is_taken_at_once(chat: Chat) -> None:
    # A new person (or one who just deleted everything) sends /safetyplan, is asked for
    # their OK, and taps "I agree": that tap counts, not a second intro and a second ask.
    replies = await chat.say("/safetyplan")
    assert any(c.id == "start:agree" for r in replies for c in r.choices)
    assert "not an emergency service" in chat.text()  # what it is not, before the OK
    await chat.tap("start:agree")
    assert not any(c.id == "start:agree" for c in chat.choices())
    assert any(c.id.startswith("start:country:") for c in chat.choices())
    async with chat.app.store.transaction() as tx:
        found = await tx.users.find("console", chat.user)
    assert found is not None and found[0].consent_at is not None
