"""Commands as people type or paste them: trailing punctuation, invisible characters,
capitals. "/crisis!" must never be an unknown command."""

from __future__ import annotations

import pytest

from ketacompanion.adapters.telegram.updates import is_crisis_command
from ketacompanion.core.model import Address, Inbound, InboundKind, Urgency

from conftest import Chat

TYPED = ["/crisis", "/crisis!", "/crisis.", "/Crisis?", "/crisis\u200b", "/crisis\u200b now", "/crisis\u0000",
         "/crisis\tnow", "/crisis@ketabot!", "/CRISIS!!"]


@pytest.mark.parametrize("text", TYPED)
def test_the_command_name_is_read_without_punctuation_or_invisible_characters(text: str) -> None:
    inbound = Inbound.from_text(Address("console", "u"), "u", text)
    assert inbound.kind is InboundKind.COMMAND and inbound.command == "crisis"
    assert is_crisis_command(text)  # the Telegram fast lane reads it the same way


def test_the_rest_after_the_name_is_kept() -> None:
    inbound = Inbound.from_text(Address("console", "u"), "u", "/journal\u200b slept badly")
    assert inbound.command == "journal" and inbound.text == "slept badly"


async def test_crisis_with_an_exclamation_mark_gets_the_lines(chat: Chat) -> None:
    replies = await chat.say("/crisis!")
    assert replies[0].urgency is Urgency.CRISIS


@pytest.mark.parametrize("text", TYPED)
def test_the_discord_fast_lane_reads_it_the_same_way(text: str) -> None:
    from ketacompanion.adapters.discord.adapter import _typed_command

    assert _typed_command(text) == "crisis"


SLIPS = ["/crsis", "/cris", "/crisi", "/crisiss", "/Crsis!", "/crissi now"]
NOT_CRISIS = ["/start", "/help", "/mood", "/checkin", "/chris", "/cross", "/sessions"]


@pytest.mark.parametrize("text", SLIPS)
async def test_a_slip_for_crisis_gets_the_lines_first_on_every_lane(chat: Chat, text: str) -> None:
    from ketacompanion.adapters.discord.adapter import _typed_command
    from ketacompanion.core.model import means_crisis

    assert is_crisis_command(text)  # Telegram's fast lane
    assert means_crisis(_typed_command(text))  # Discord's
    replies = await chat.say(text)
    assert replies[0].urgency is Urgency.CRISIS and "Did you mean" not in replies[0].text


@pytest.mark.parametrize("text", NOT_CRISIS)
def test_other_commands_are_not_taken_for_crisis(text: str) -> None:
    assert not is_crisis_command(text)
