"""``/summary`` for the months people actually have: empty, quiet, busy."""

from __future__ import annotations

import pytest

from ketacompanion.app import App
from ketacompanion.core.clock import FakeClock
from month import month

from conftest import Chat


async def summary_reply(chat: Chat) -> str:
    replies = await chat.say("/summary")
    page = next((r for r in replies if r.file is not None), None)
    assert page is not None, chat.text()
    assert page.file is not None and page.file.data.startswith(b"%PDF-")
    return chat.text()


async def test_empty_month(app: App, chat: Chat) -> None:
    await chat.onboard()
    text = await summary_reply(chat)
    assert "went wrong" not in text.lower()


@pytest.mark.parametrize("busy", [False, True], ids=["quiet", "busy"])
async def test_quiet_and_busy_months(app: App, chat: Chat, clock: FakeClock, busy: bool) -> None:
    await chat.onboard()
    await month(chat, clock, days=10, busy=busy)
    text = await summary_reply(chat)
    assert "went wrong" not in text.lower()
