"""Buttons that still work after a restart, and the text box for free answers.

A button's ``custom_id`` is ``kc:`` and the core's choice id; it carries no state of its
own, so any process can answer it, and the core refuses what is stale or forged. A press
is routed by its ``custom_id`` alone (``pressed``, from the client's ``on_interaction``):
discord.py's dynamic items would rebuild a whole View from the pressed message on every
press only to hand over the same ``custom_id``."""

from __future__ import annotations

import re
from typing import Any

import discord
from discord.components import ActionRow

PREFIX = "kc:"
MAX_CUSTOM_ID = 100
WRITE_ID = "kcw"
MODAL_ID = "kcm"
MAX_ANSWER = 4000  # a text box holds at most this many characters
CHOICE_ID = re.compile(r"kc:(?P<choice>[^\x00-\x1f]{1,97})")


def pressed(interaction: discord.Interaction[Any]) -> str | None:
    """The ``custom_id`` of the button pressed, when it is one of ours and the pressed
    message carries it (as discord.py's own dispatch requires, and Discord does); else None."""
    if interaction.type is not discord.InteractionType.component:
        return None
    data: Any = interaction.data or {}
    custom_id = data.get("custom_id")
    message = interaction.message
    if data.get("component_type") != discord.ComponentType.button.value or not isinstance(custom_id, str):
        return None
    if message is None or not (custom_id == WRITE_ID or CHOICE_ID.fullmatch(custom_id)):
        return None
    for row in message.components:
        for item in row.children if isinstance(row, ActionRow) else (row,):
            if getattr(item, "custom_id", None) == custom_id:
                return custom_id
    return None


def choice_of(custom_id: str) -> str | None:
    """The core's choice id in a pressed ``custom_id``; None for the write button."""
    match = CHOICE_ID.fullmatch(custom_id)
    return match["choice"] if match else None


class ChoiceButton(discord.ui.Button[Any]):
    """A choice of the core's. Its press is routed by ``custom_id`` (``pressed``); the view
    it rides on is stopped (``render``), so discord.py keeps nothing of it."""

    def __init__(self, choice: str, label: str = "?") -> None:
        super().__init__(label=label[:80] or "?", custom_id=PREFIX + choice)
        self.choice = choice

    @staticmethod
    def fits(choice: str) -> bool:
        return 0 < len(PREFIX + choice) <= MAX_CUSTOM_ID


class WriteButton(discord.ui.Button[Any]):
    """Opens the text box (``TextBox``) for a free answer."""

    def __init__(self, label: str = "Write") -> None:
        super().__init__(label=label[:80], custom_id=WRITE_ID, style=discord.ButtonStyle.primary)


class TextBox(discord.ui.Modal):
    """One free-text answer: what is typed goes to the core as if written in the chat."""

    def __init__(self, title: str, label: str) -> None:
        super().__init__(title=title[:45], custom_id=MODAL_ID, timeout=900)
        self.answer: discord.ui.TextInput[Any] = discord.ui.TextInput(
            label=label[:45], style=discord.TextStyle.paragraph, max_length=MAX_ANSWER
        )
        self.add_item(self.answer)

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        await interaction.client.adapter.on_text_box(interaction, str(self.answer.value or ""))
