"""A stop with a backlog: every update Telegram was told was received is handled once,
across a SIGTERM and a restart of the real ``ketacompanion run`` process, and kept
encrypted in between."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from ketacompanion.app import App
from ketacompanion.backlog import Backlog
from ketacompanion.storage import tables
from test_telegram_run import run_env

from conftest import Chat
from fakes.telegram_api import FakeBotAPI

HELD, OTHER = 4242, 5151
CANARY = "canary-backlog-3b1e"


def _env(api: FakeBotAPI, tmp_path: Path) -> dict[str, str]:
    return run_env(api, tmp_path) | {"KETACOMPANION_LOG_LEVEL": "INFO"}


async def _start(api: FakeBotAPI, tmp_path: Path) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ketacompanion", "run", env=_env(api, tmp_path), cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    return process


async def _stop(process: asyncio.subprocess.Process) -> str:
    process.send_signal(signal.SIGTERM)
    async with asyncio.timeout(40):
        _, stderr = await process.communicate()
    assert process.returncode == 0, stderr.decode()[-2000:]
    return stderr.decode()


def _database_bytes(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in directory.glob("bot.db*"))


def _help_replies(api: FakeBotAPI, chat: int, after: int = 0) -> int:
    return sum(1 for c in api.sent_messages(chat)[after:] if "/crisis" in c.params.get("text", ""))


@pytest.mark.slow
async def test_updates_queued_at_sigterm_are_kept_encrypted_and_handled_once_after_restart(
    tmp_path: Path,
) -> None:
    async with FakeBotAPI() as api:
        process = await _start(api, tmp_path)
        try:
            await api.wait_for(lambda c: c.method == "getUpdates", timeout=60, pending=True)
            # The first reply to HELD takes effect, then hangs: that chat's turn never ends,
            # so the rest of its updates are still queued when the stop's drain gives up.
            api.hold_replies(HELD)
            updates = [api.inject_update(api.message_update(HELD, f"/help {CANARY} {n}")) for n in range(12)]
            last = updates[-1]["update_id"]
            await api.wait_for(lambda c: c.method == "getUpdates" and c.params.get("offset", 0) > last, timeout=30,
                               pending=True)  # fmt: skip
            await api.wait_for(lambda c: c.method == "sendMessage" and c.params.get("chat_id") == HELD, timeout=30,
                               pending=True)  # fmt: skip
            stderr = await _stop(process)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        assert "kept for the next start" in stderr
        first_run = len(api.sent_messages(HELD))
        assert _help_replies(api, HELD) >= 1  # the turn that hung (its reply took effect)

        # Kept, and sealed: the text is nowhere in the database file.
        db = tmp_path / "bot.db"
        with sqlite3.connect(db) as conn:
            kept = conn.execute("SELECT count(*) FROM pending_updates").fetchone()[0]
        assert kept == 11  # all but the one whose turn was running
        assert CANARY.encode() not in _database_bytes(tmp_path)

        api.stop_holding(HELD)
        process = await _start(api, tmp_path)
        try:
            await api.wait_for(lambda c: c.method == "getUpdates", timeout=60, pending=True)
            api.inject_update(api.message_update(OTHER, "/help"))
            await api.wait_for(lambda c: c.method == "sendMessage" and c.params.get("chat_id") == OTHER, timeout=30)
            await api.wait_for(lambda c: _help_replies(api, HELD, first_run) >= kept, timeout=30)
            await _stop(process)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        # Each kept update answered exactly once, none twice, and nothing is left behind.
        assert _help_replies(api, HELD, first_run) == kept
        with sqlite3.connect(db) as conn:
            assert conn.execute("SELECT count(*) FROM pending_updates").fetchone()[0] == 0


async def test_kept_updates_come_back_once_in_order_sealed_and_export_and_delete_reach_them(
    app: App, chat: Chat
) -> None:
    await chat.onboard("GB", "Europe/London")
    person = await app.store.peek_user("console", "u1")
    assert person is not None
    backlog = Backlog(app.store, "console")
    mine = [("u1", json.dumps({"n": n, "text": CANARY})) for n in range(4)]
    assert await backlog.keep([*mine[:2], (None, json.dumps({"n": "new"})), *mine[2:]])
    async with app.store.transaction() as tx:
        sealed = (await tx.conn.execute(select(tables.pending_updates.c.payload_enc))).scalars().all()
        exported = await tx.users.export(person.id)
    assert len(sealed) == 5 and all(CANARY.encode() not in blob for blob in sealed)
    assert [row["payload"]["n"] for row in exported["pending_updates"]] == [0, 1, 2, 3]

    taken = [json.loads(p)["n"] for p in await backlog.take()]
    assert taken == [0, 1, "new", 2, 3]  # the order they were kept in
    assert await backlog.take() == []  # once

    await backlog.keep([*mine, ("someone-else", json.dumps({"n": "theirs"}))])
    async with app.store.transaction() as tx:
        await tx.users.delete(person.id)
    assert [json.loads(p)["n"] for p in await backlog.take()] == ["theirs"]
