"""Nothing a person wrote, and no secret, reaches the logs, even at DEBUG."""

from __future__ import annotations

import io
import logging
from pathlib import Path

from ketacompanion import logs
from ketacompanion.app import build_app

from conftest import Chat, make_settings

CANARY_NOTE = "canary-note-7d1e I have been feeling awful"
CANARY_TOKEN = "123456:canary-token-AAAA"


async def test_debug_logs_hold_no_text_or_token(tmp_path: Path, clock) -> None:  # type: ignore[no-untyped-def]
    stream = io.StringIO()
    logs.configure("DEBUG", "json", stream)
    try:
        settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'b.db'}", tmp_path, telegram_token=CANARY_TOKEN)
        app = await build_app(settings, clock)
        chat = Chat(app)
        await chat.onboard()
        await chat.say(CANARY_NOTE)
        await chat.say("I want to kill myself " + CANARY_NOTE)
        await app.engine.dispose()
        await chat.say(CANARY_NOTE)  # after an error path too
        logging.getLogger("ketacompanion.test").info("probe", extra={"text": CANARY_NOTE, "status": "ok"})
        await app.close()
    finally:
        logs.configure("WARNING", "text")
    output = stream.getvalue()
    assert "probe" in output  # logging did happen
    assert "canary-note" not in output
    assert "canary-token" not in output


def test_chat_library_loggers_stay_at_info_or_above() -> None:
    logs.configure("DEBUG", "json", io.StringIO())
    try:
        for name in ("telegram", "httpx", "discord"):
            assert logging.getLogger(name).getEffectiveLevel() >= logging.INFO
    finally:
        logs.configure("WARNING", "text")
