"""The Discord adapter end to end: the real discord.py client, dpytest's fake guild, raw
interaction payloads, a real database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ketacompanion.app import build_app
from ketacompanion.content.catalog import Content
from ketacompanion.core.clock import FakeClock

from conftest import make_settings
from fakes.discord_harness import Harness


@pytest.fixture
async def bot(database_url: str, tmp_path: Path, clock: FakeClock, content_set: Content) -> AsyncIterator[Harness]:
    app = await build_app(
        make_settings(database_url, tmp_path, discord_token="x", discord_message_content=True), clock, content_set
    )
    harness = Harness(app)
    await harness.start()
    try:
        yield harness
    finally:
        await harness.stop()
        await app.close()


async def test_help_in_a_dm_answers_in_place(bot: Harness) -> None:
    sent = await bot.command("help")
    assert sent[0].kind == "callback" and sent[0].type == 5
    assert not sent[0].ephemeral
    assert any("/crisis" in s.content for s in sent[1:])
