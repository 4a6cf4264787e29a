"""Admin over the real Telegram stack against the fake Bot API: an editor's lesson upload."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ketacompanion.app import App
from ketacompanion.storage.admin_repo import AdminRepo
from ketacompanion.storage.content_repo import ContentRepo
from test_telegram_support import FakeTime, live_rig

from conftest import CONTENT
from fakes.telegram_api import FakeBotAPI


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as fake:
        yield fake


async def test_an_editor_sends_a_lesson_on_telegram_and_publishes_it(api: FakeBotAPI, app: App) -> None:
    await AdminRepo(app.engine, app.clock).grant("telegram", "501", "editor", "cli:test")
    lesson = (CONTENT / "lessons/en/blood-pressure.md").read_bytes().replace(b"## Why it rises", b"## Why BP rises", 1)
    async with live_rig(api, app, "polling", FakeTime()) as rig:
        stranger = await rig.say(502, "/admin")
        assert "I don't know /admin" in stranger[-1].params["text"]
        stored = api.state._store_file("D", "documents", lesson, "blood-pressure.md")
        update = api.message_update(501, "x")
        del update["message"]["text"]
        update["message"]["document"] = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                                         "file_name": "blood-pressure.md", "file_size": len(lesson)}
        await rig.deliver(update)
        texts = " ".join(c.params.get("text", "") for c in api.sent_messages(501))
        assert "Why BP rises" in texts and "lessons changed: en/blood-pressure" in texts
        await rig.press(501, "admin:publish:")
        assert "Published version 2" in api.sent_messages(501)[-1].params["text"]
    assert (await ContentRepo(app.engine, app.clock).files(2))["lessons/en/blood-pressure.md"] == lesson
