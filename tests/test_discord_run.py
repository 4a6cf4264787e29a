"""Discord's lifecycle: both platforms in one task group, a clean stop, one line when
Discord cannot be reached, and the invite link."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import aiohttp
import discord
import pytest
from typer.testing import CliRunner

from ketacompanion.adapters.discord.runner import (
    DiscordConfigError,
    build_adapter,
    build_bot,
    check_settings,
    discord_service,
)
from ketacompanion.app import build_app
from ketacompanion.cli import cli
from ketacompanion.content.catalog import Content
from ketacompanion.core.clock import FakeClock
from ketacompanion.runtime import configured_platforms
from ketacompanion.services import PlatformUnavailable
from ketacompanion.settings import load_settings

from conftest import make_settings


def test_run_starts_each_platform_whose_token_is_set(tmp_path: Path) -> None:
    base = {"key_file": tmp_path / "k"}
    assert [p.name for p in configured_platforms(load_settings(**base))] == []
    assert [p.name for p in configured_platforms(load_settings(**base, discord_token="d"))] == ["discord"]
    both = load_settings(**base, discord_token="d", telegram_token="1:A")
    assert [p.name for p in configured_platforms(both)] == ["telegram", "discord"]


def test_shard_settings_are_checked(tmp_path: Path) -> None:
    base = {"key_file": tmp_path / "k", "discord_token": "d"}
    with pytest.raises(DiscordConfigError, match="SHARD_COUNT"):
        check_settings(load_settings(**base, discord_shard_ids="0,1"))
    with pytest.raises(DiscordConfigError, match="below"):
        check_settings(load_settings(**base, discord_shard_ids="0,2", discord_shard_count=2))
    settings = load_settings(**base, discord_shard_ids="0,1", discord_shard_count=4)
    check_settings(settings)
    bot = build_bot(settings)
    assert isinstance(bot, discord.AutoShardedClient) and bot.shard_ids == [0, 1] and bot.shard_count == 4


async def test_the_service_stops_cleanly_and_reports_an_unreachable_discord(
    sqlite_url: str, tmp_path: Path, clock: FakeClock, content_set: Content, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = await build_app(make_settings(sqlite_url, tmp_path, discord_token="x"), clock, content_set)
    try:
        bot = build_bot(app.settings)
        adapter = build_adapter(app, bot)
        started = asyncio.Event()

        closed, close = asyncio.Event(), bot.close

        async def start(token: str) -> None:
            started.set()
            await closed.wait()  # connected until closed, as discord.py's start() is

        async def closing() -> None:
            await close()
            closed.set()

        monkeypatch.setattr(bot, "start", start)
        monkeypatch.setattr(bot, "close", closing)
        stop = asyncio.Event()
        task = asyncio.create_task(discord_service(bot, adapter, "x")(stop))
        await asyncio.wait_for(started.wait(), 5)
        stop.set()
        await asyncio.wait_for(task, 5)
        assert bot.is_closed() and task.done() and not task.cancelled()

        offline = build_bot(app.settings)
        offline_adapter = build_adapter(app, offline)

        async def no_network(token: str) -> None:
            raise aiohttp.ClientConnectionError("no route")

        monkeypatch.setattr(offline, "start", no_network)
        with pytest.raises(PlatformUnavailable, match="cannot reach Discord"):
            await asyncio.wait_for(discord_service(offline, offline_adapter, "x")(asyncio.Event()), 5)
    finally:
        await app.close()


def test_invite_prints_the_url_with_the_permissions(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KETACOMPANION_KEY_FILE", str(tmp_path / "k"))
    runner = CliRunner()
    result = runner.invoke(cli, ["discord", "invite", "--application-id", "123456789012345678"])
    assert result.exit_code == 0, result.output
    query = parse_qs(urlparse(result.output.strip()).query)
    assert query["client_id"] == ["123456789012345678"]
    assert set(query["scope"][0].split()) == {"bot", "applications.commands"}
    perms = discord.Permissions(int(query["permissions"][0]))
    assert perms.send_messages and perms.embed_links and not perms.administrator and not perms.mention_everyone
    monkeypatch.setenv("KETACOMPANION_DISCORD_APPLICATION_ID", "42")
    assert "client_id=42" in runner.invoke(cli, ["discord", "invite"]).output
    monkeypatch.delenv("KETACOMPANION_DISCORD_APPLICATION_ID")
    missing = runner.invoke(cli, ["discord", "invite"])
    assert missing.exit_code == 2


async def test_commands_cover_telegram_and_sync_in_setup_hook(
    sqlite_url: str, tmp_path: Path, clock: FakeClock, content_set: Content, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ketacompanion.adapters.telegram.adapter import COMMANDS

    app = await build_app(make_settings(sqlite_url, tmp_path, discord_token="x", discord_test_guild_id=77), clock, content_set)
    try:
        bot = build_bot(app.settings)
        build_adapter(app, bot)
        names = {c.name: c for c in bot.tree.get_commands()}
        assert set(COMMANDS) | {"resume", "setup", "screening"} == set(names)
        assert all(c.description and c.description != "…" for c in names.values())
        assert names["setup"].default_permissions == discord.Permissions(manage_guild=True)
        synced: list[object] = []

        async def sync(*, guild: object = None) -> list[object]:
            synced.append(guild)
            return []

        monkeypatch.setattr(bot.tree, "sync", sync)
        await bot._async_setup_hook()
        await bot.setup_hook()
        assert [getattr(g, "id", None) for g in synced] == [77]  # the test server only
        assert bot.tree.get_commands(guild=discord.Object(77))  # copied there for the sync
        await bot.close()
    finally:
        await app.close()
