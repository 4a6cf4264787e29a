"""Buttons that still work after a restart, and the text box for free answers.

A button's ``custom_id`` is ``kc:`` and the core's choice id; it carries no state of its
own, so any process can answer it, and the core refuses what is stale or forged. Both
are registered as dynamic items in ``setup_hook``."""

from __future__ import annotations

import re
from typing import Any

import discord

PREFIX = "kc:"
MAX_CUSTOM_ID = 100
WRITE_ID = "kcw"
MODAL_ID = "kcm"
MAX_ANSWER = 4000  # a text box holds at most this many characters


class ChoiceButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"kc:(?P<choice>[^\x00-\x1f]{1,97})"):
    def __init__(self, choice: str, label: str = "?") -> None:
        super().__init__(discord.ui.Button(label=label[:80] or "?", custom_id=PREFIX + choice))
        self.choice = choice

    @staticmethod
    def fits(choice: str) -> bool:
        return 0 < len(PREFIX + choice) <= MAX_CUSTOM_ID

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> ChoiceButton:
        return cls(match["choice"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await interaction.client.adapter.on_choice(interaction, self.choice)


class WriteButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"kcw"):
    def __init__(self, label: str = "Write") -> None:
        super().__init__(discord.ui.Button(label=label[:80], custom_id=WRITE_ID, style=discord.ButtonStyle.primary))

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> WriteButton:
        return cls()

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await interaction.client.adapter.open_text_box(interaction)


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
