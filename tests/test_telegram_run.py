"""``ketacompanion run`` as a process: polls the fake, answers, and stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from ketacompanion.adapters.telegram.runner import TelegramConfigError, check_settings
from ketacompanion.settings import load_settings

from conftest import CONTENT, TEST_KEY
from fakes.telegram_api import FakeBotAPI


def run_env(api: FakeBotAPI, tmp_path: Path) -> dict[str, str]:
    """The environment of a real ``ketacompanion run`` against the fake Bot API."""
    return {
        **os.environ,
        "KETACOMPANION_TELEGRAM_TOKEN": api.token,
        "KETACOMPANION_TELEGRAM_BASE_URL": api.base_url,
        "KETACOMPANION_TELEGRAM_BASE_FILE_URL": api.base_file_url,
        "KETACOMPANION_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
        "KETACOMPANION_DATA_KEY": TEST_KEY,
        "KETACOMPANION_KEY_FILE": str(tmp_path / "data.key"),
        "KETACOMPANION_CONTENT_DIR": str(CONTENT),
    }


@pytest.mark.slow
async def test_run_answers_then_stops_on_sigterm(tmp_path: Path) -> None:
    async with FakeBotAPI() as api:
        env = run_env(api, tmp_path)
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "ketacompanion", "run", env=env, cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            await api.wait_for(lambda c: c.method == "getUpdates", timeout=30, pending=True)
            menus = [c for c in api.calls if c.method == "setMyCommands"]
            assert len(menus) == 2
            api.inject_update(api.message_update(42, "/help"))
            reply = await api.wait_for(lambda c: c.method == "sendMessage", timeout=10)
            assert reply.status == 200 and "/crisis" in reply.params["text"]
            process.send_signal(signal.SIGTERM)
            async with asyncio.timeout(15):
                _, stderr = await process.communicate()
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    assert process.returncode == 0, stderr.decode()[-2000:]
    assert b"Traceback" not in stderr


def test_webhook_mode_needs_an_https_url_and_a_valid_secret(tmp_path: Path) -> None:
    base = {"telegram_token": "1:A", "telegram_mode": "webhook", "key_file": tmp_path / "k"}
    with pytest.raises(TelegramConfigError, match="WEBHOOK_URL"):
        check_settings(load_settings(**base, telegram_webhook_url="http://plain.example/hook"))
    with pytest.raises(TelegramConfigError, match="WEBHOOK_SECRET"):
        check_settings(load_settings(**base, telegram_webhook_url="https://bot.example/hook"))
    with pytest.raises(TelegramConfigError, match="WEBHOOK_SECRET"):
        check_settings(load_settings(**base, telegram_webhook_url="https://bot.example/hook",
                                     telegram_webhook_secret="has spaces"))  # fmt: skip
    check_settings(load_settings(**base, telegram_webhook_url="https://bot.example/hook",
                                 telegram_webhook_secret="ok_Secret-1"))  # fmt: skip


@pytest.mark.slow
async def test_run_without_network_prints_one_line_and_fails(tmp_path: Path) -> None:
    import socket

    with socket.socket() as probe:  # a port nothing listens on: the connection is refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "KETACOMPANION_TELEGRAM_TOKEN": "123:ABC",
        "KETACOMPANION_TELEGRAM_BASE_URL": f"http://127.0.0.1:{port}/bot",
        "KETACOMPANION_TELEGRAM_BASE_FILE_URL": f"http://127.0.0.1:{port}/file/bot",
        "KETACOMPANION_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
        "KETACOMPANION_DATA_KEY": TEST_KEY,
        "KETACOMPANION_KEY_FILE": str(tmp_path / "data.key"),
        "KETACOMPANION_CONTENT_DIR": str(CONTENT),
        "KETACOMPANION_LOG_LEVEL": "ERROR",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ketacompanion", "run", env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(60):
        _, stderr = await process.communicate()
    text = stderr.decode()
    ours = [line for line in text.splitlines() if line.startswith("ketacompanion:")]
    assert process.returncode == 1
    assert "Traceback" not in text and len(ours) == 1, text[-2000:]
    assert "cannot reach Telegram" in ours[0]
