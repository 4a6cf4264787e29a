"""A typed "yes" or "no" right after the bot asked about ending one's life answers that
question: it must never be taken as a lesson search or stray text."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ketacompanion.core.clock import FakeClock
from ketacompanion.core.crisis.typed_answer import typed_answer
from ketacompanion.core.model import Urgency

from conftest import Chat

SOFT = "I wish I could go to sleep and never wake up"  # a concern for the rules


@pytest.mark.parametrize("text", ["yes", "Yes.", "yeah", "yep", "yes I am", "Y", "sí", "ja", "kind of", "maybe"])
def test_yes_words(text: str) -> None:
    assert typed_answer(text) == "yes"


@pytest.mark.parametrize("text", ["no", "No!", "nope", "nah", "not really", "no I'm ok", "I'm ok", "nein", "non"])
def test_no_words(text: str) -> None:
    assert typed_answer(text) == "no"


@pytest.mark.parametrize("text", ["yes I want to learn about driving", "what is ketamine", "", "  ", "no idea what to do"])
def test_other_text_is_no_answer(text: str) -> None:
    assert typed_answer(text) is None


async def _card(chat: Chat) -> None:
    await chat.onboard()
    first = await chat.say("I want to kill myself")
    assert first[0].urgency is Urgency.CRISIS


@pytest.mark.parametrize("answer", ["yes", "yeah", "yes I am"])
async def test_yes_after_the_card_keeps_the_lines_and_the_emergency_number(chat: Chat, answer: str) -> None:
    await _card(chat)
    replies = await chat.say(answer)
    assert replies[0].urgency is Urgency.CRISIS
    assert "911" in replies[0].text and "988" in replies[0].text
    assert "lesson" not in chat.text().lower()
    assert {"crisis:danger", "crisis:struggling"} <= {c.id for c in replies[0].choices}


async def test_no_after_the_card_is_answered_kindly_with_the_lines(chat: Chat) -> None:
    await _card(chat)
    replies = await chat.say("no")
    assert replies[0].urgency in (Urgency.CONCERN, Urgency.CRISIS)
    assert "988" in replies[0].text
    assert "lesson" not in chat.text().lower()


async def test_yes_after_the_soft_check_asks_again_with_its_buttons(chat: Chat) -> None:
    await chat.onboard()
    replies = await chat.say(SOFT)
    assert replies[0].urgency is Urgency.CONCERN
    replies = await chat.say("yes")
    assert "lesson" not in chat.text().lower()
    assert replies[0].urgency in (Urgency.CONCERN, Urgency.CRISIS)
    assert {"crisis:thoughts:yes", "crisis:unsafe"} <= {c.id for c in replies[0].choices}


async def test_yes_inside_an_open_lesson_after_the_card_still_answers_it(chat: Chat) -> None:
    await chat.onboard()
    await chat.say("/learn")
    await chat.say("I want to kill myself")
    replies = await chat.say("yes")
    assert replies[0].urgency is Urgency.CRISIS and "988" in replies[0].text


async def test_long_after_the_card_yes_is_ordinary_text(chat: Chat, clock: FakeClock) -> None:
    await _card(chat)
    clock.advance(timedelta(hours=3))
    replies = await chat.say("yes")
    assert all(r.urgency is Urgency.NORMAL for r in replies)


async def test_a_softer_message_soon_after_the_card_keeps_the_lines_in_view(chat: Chat, clock: FakeClock) -> None:
    # The card was shown minutes ago: a softer message must not be met as if new, with
    # the soft question and an offer to check in, but with the lines again.
    await _card(chat)
    clock.advance(timedelta(minutes=5))
    replies = await chat.say(SOFT)
    assert replies[0].urgency is Urgency.CRISIS and "988" in replies[0].text
    assert "check-in" not in chat.text().lower()
