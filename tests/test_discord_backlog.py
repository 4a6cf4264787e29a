"""A stop on Discord keeps the DMs it could not answer, encrypted, and the next start
answers them once, through the same path as a live DM (real discord.py client, dpytest)."""

from __future__ import annotations

import asyncio
import json
import logging

import discord.ext.test as dpytest
import pytest
from sqlalchemy import select

from ketacompanion.adapters.discord.adapter import DiscordAdapter
from ketacompanion.app import build_community
from ketacompanion.backlog import Backlog
from ketacompanion.storage import tables
from test_discord_community import dms
from test_discord_ingress import hold, until

from fakes.discord_harness import Harness, settle

CANARY = "canary-discord-7c2f"


def _new_adapter(bot: Harness) -> DiscordAdapter:
    """A second adapter on the same database and client, as a restarted process has."""
    app = bot.app
    community, setup = build_community(app, app.settings.discord_checkins, app.settings.discord_message_content)
    adapter = DiscordAdapter(bot.bot, community, setup, bot.adapter.sender, backlog=Backlog(app.store, "discord"))
    bot.bot.adapter, bot.adapter = adapter, adapter  # the harness closes this one at the end
    return adapter


def _help_replies(bot: Harness, channel_id: int) -> int:
    return sum(1 for m in dms(bot.sent_messages()) if m.channel.id == channel_id and "/crisis" in m.content)


async def test_a_dm_left_at_stop_is_kept_sealed_and_answered_once_at_the_next_start(discord_bot: Harness) -> None:
    bot = discord_bot
    dm = await bot.bo.create_dm()
    await bot.say("/start", dm, bot.bo)
    bot.sent_messages()
    await bot.say("/help", dm, bot.bo)  # bo is known: the kept row is theirs (export and delete reach it)
    assert _help_replies(bot, dm.id) == 1

    gate, started = asyncio.Event(), []
    hold(bot, "private_message", gate, lambda i: not started, started)
    dpytest.backend.make_message("hello", bot.bo, dm)
    await until(lambda: len(started) == 1)
    dpytest.backend.make_message(f"/help {CANARY}", bot.bo, dm)  # queued behind the held one
    await until(lambda: bot.adapter.queue.pending() == 2)
    await bot.adapter.close(0.0)  # the held turn is cut off; the queued DM is kept
    await settle()
    assert _help_replies(bot, dm.id) == 0

    person = await bot.app.store.peek_user("discord", str(bot.bo.id))
    assert person is not None
    async with bot.app.store.transaction() as tx:
        rows = (await tx.conn.execute(select(tables.pending_updates))).mappings().all()
        exported = await tx.users.export(person.id)
    assert [(r["platform"], r["user_id"]) for r in rows] == [("discord", person.id)]
    assert CANARY.encode() not in rows[0]["payload_enc"]
    assert [row["payload"]["text"] for row in exported["pending_updates"]] == [f"/help {CANARY}"]

    adapter = _new_adapter(bot)
    await bot.bot.on_ready()
    await until(lambda: adapter.queue.pending() == 0)
    await settle()
    assert _help_replies(bot, dm.id) == 1  # answered in bo's DM
    await bot.bot.on_ready()  # ready again (a reconnect): nothing is handed back twice
    await settle()
    assert _help_replies(bot, dm.id) == 0
    assert await Backlog(bot.app.store, "discord").take() == []


async def test_a_kept_payload_that_cannot_be_read_is_dropped_with_a_log_line(
    discord_bot: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    bot = discord_bot
    backlog = Backlog(bot.app.store, "discord")
    await backlog.keep([(None, "not json"), (None, json.dumps({"author": "x", "channel": 1, "text": "hi"})),
                        (None, json.dumps([1, 2]))])  # fmt: skip
    adapter = _new_adapter(bot)
    caplog.set_level(logging.WARNING)
    await adapter.resume()
    await settle()
    dropped = [r for r in caplog.records if r.getMessage() == "a kept discord message could not be read; dropped"]
    assert len(dropped) == 3
    assert adapter.queue.pending() == 0 and bot.sent_messages() == []
    assert await backlog.take() == []
