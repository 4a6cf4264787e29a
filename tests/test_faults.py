"""A locked database, a missing key, broken content: kind words, nothing lost, no crash."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from ketacompanion.app import build_app
from ketacompanion.cipher import DataKeyError
from ketacompanion.content.problems import ContentError
from ketacompanion.core.model import Urgency

from conftest import CONTENT, Chat, make_settings


async def test_locked_database_says_try_again_and_still_sends_crisis_lines(tmp_path: Path, clock) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "bot.db"
    app = await build_app(make_settings(f"sqlite+aiosqlite:///{db}", tmp_path, sqlite_busy_timeout_ms=50), clock)
    chat = Chat(app)
    try:
        await chat.onboard()
        # Hold the connection the bot would use, so its next transaction waits.
        blocker = sqlite3.connect(db, timeout=0)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            await app.engine.dispose()  # force a fresh connection that meets the lock
            replies = await chat.say("/settings")
            assert "try again" in chat.text().lower()
            assert all(r.urgency is Urgency.NORMAL for r in replies)
            replies = await chat.say("I want to kill myself")
            assert replies[0].urgency is Urgency.CRISIS
            assert "988" in replies[0].text
            replies = await chat.say("/crisis")
            assert replies[0].urgency is Urgency.CRISIS
        finally:
            blocker.rollback()
            blocker.close()
        await chat.say("/settings")
        assert "Your settings" in chat.text()
    finally:
        await app.close()


async def test_missing_key_with_encrypted_data_refuses_to_start(tmp_path: Path, clock) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    key_file = tmp_path / "cfg" / "data.key"
    settings = make_settings(url, tmp_path, data_key=None, key_file=key_file)
    first = await build_app(settings, clock)
    await first.close()
    assert key_file.exists()
    key_file.rename(tmp_path / "moved.key")
    with pytest.raises(DataKeyError, match="no key was found"):
        await build_app(settings, clock)
    assert not key_file.exists()  # no new key was made in its place


async def test_wrong_key_refuses_to_start(tmp_path: Path, clock) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    first = await build_app(make_settings(url, tmp_path), clock)
    await first.close()
    with pytest.raises(DataKeyError, match="does not match"):
        await build_app(make_settings(url, tmp_path, data_key="QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI="), clock)


async def test_broken_content_refuses_to_start_with_the_list(tmp_path: Path, clock) -> None:  # type: ignore[no-untyped-def]
    import shutil

    broken = tmp_path / "content"
    shutil.copytree(CONTENT, broken)
    (broken / "messages" / "en.yaml").write_text("common: [unclosed\n", encoding="utf-8")
    with pytest.raises(ContentError) as info:
        await build_app(make_settings(f"sqlite+aiosqlite:///{tmp_path / 'b.db'}", tmp_path, content_dir=broken), clock)
    assert any(p.path.name == "en.yaml" for p in info.value.problems)
