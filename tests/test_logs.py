"""Nothing a person wrote, and no secret, reaches the logs, even at DEBUG."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest

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


# --- a real run: real HTTP calls to the fake Bot API, every logger at DEBUG ---------------------

RUN_TOKEN = "987654321:CANARYtoken_run_AAAAAAAAAAAAAAAAAAAAAAAA"
RUN_SECRET = "CANARYwebhook_secret_71c3"
RUN_NOTE = "CANARYnote-3f9a I have been feeling awful since Tuesday"
RUN_KEY = "Q0FOQVJZa2V5X19fX19fX19fX19fX19fX19fX19fX18="  # 32 bytes, base64


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
async def test_a_real_run_at_debug_logs_no_token_secret_or_note(tmp_path: Path) -> None:
    import asyncio
    import os
    import signal
    import sys

    from conftest import CONTENT
    from fakes.telegram_api import FakeBotAPI

    port = free_port()
    async with FakeBotAPI(token=RUN_TOKEN) as api:
        env = {
            **os.environ,
            "KETACOMPANION_TELEGRAM_TOKEN": RUN_TOKEN,
            "KETACOMPANION_TELEGRAM_BASE_URL": api.base_url,
            "KETACOMPANION_TELEGRAM_BASE_FILE_URL": api.base_file_url,
            "KETACOMPANION_TELEGRAM_MODE": "webhook",
            "KETACOMPANION_TELEGRAM_WEBHOOK_URL": "https://bot.example/tg",
            "KETACOMPANION_TELEGRAM_WEBHOOK_SECRET": RUN_SECRET,
            "KETACOMPANION_TELEGRAM_WEBHOOK_PORT": str(port),
            "KETACOMPANION_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
            "KETACOMPANION_DATA_KEY": RUN_KEY,
            "KETACOMPANION_KEY_FILE": str(tmp_path / "data.key"),
            "KETACOMPANION_CONTENT_DIR": str(CONTENT),
            "KETACOMPANION_LOG_LEVEL": "DEBUG",
            "PYTHONASYNCIODEBUG": "1",  # asyncio's own DEBUG lines too
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "ketacompanion", "run", env=env, cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            await api.wait_for(lambda c: c.method == "setWebhook", timeout=30)
            hook = f"http://127.0.0.1:{port}/tg"
            for text in ("/start", RUN_NOTE, "I want to kill myself " + RUN_NOTE):
                assert await api.post_update(hook, api.message_update(77, text), RUN_SECRET) == 200
            assert await api.post_update(hook, api.message_update(77, "wrong secret"), "nope") == 403
            await api.wait_for(lambda c: c.method == "sendMessage" and "988" in c.params.get("text", ""),
                               timeout=15)  # fmt: skip
            process.send_signal(signal.SIGTERM)
            async with asyncio.timeout(15):
                stdout, stderr = await process.communicate()
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    lines = (stdout + stderr).decode().splitlines()
    http_lines = [line for line in lines if "HTTP Request" in line]
    print(f"log lines grepped: {len(lines)} (httpx request lines: {len(http_lines)})")
    assert len(http_lines) >= 4  # every Bot API call was logged with its URL, so the grep can fail
    assert any("[redacted]" in line or "/bot<token>/" in line for line in http_lines)
    for canary in ("CANARYtoken", "CANARYwebhook", "CANARYnote", "Q0FOQVJZ", RUN_TOKEN.split(":")[1]):
        assert not [line for line in lines if canary in line], canary


def test_every_logger_is_redacted_at_the_handler() -> None:
    stream = io.StringIO()
    secret = "hunter2-webhook-secret"
    logs.configure("DEBUG", "text", stream, secrets=[secret, "kd/9+key=="])
    try:
        url = "https://api.telegram.org/bot5555555:AAHx_generic-shape-token-0123456789/getUpdates"
        names = ("httpx", "httpcore", "telegram", "discord", "aiohttp", "asyncio", "ketacompanion", "anything.else")
        for name in names:
            logging.getLogger(name).warning("HTTP Request: POST %s with %s and kd/9+key==", url, secret)
        try:
            raise RuntimeError(f"boom at {url} {secret}")
        except RuntimeError:
            logging.getLogger("telegram.ext").exception("a traceback")
        logging.getLogger("ketacompanion").warning("quoted %s", "kd%2F9%2Bkey%3D%3D")
    finally:
        logs.configure("WARNING", "text")
    output = stream.getvalue()
    assert output.count("[redacted]") >= 3 * len(names)  # every logger's line went through
    for leaked in ("AAHx_generic", "hunter2", "kd/9", "kd%2F9"):
        assert leaked not in output, leaked
