"""The Discord service for an app: the client, the adapter, and its lifecycle in the
root's task group (``ketacompanion.runtime``): ``async with client`` plus ``start()``,
closed cleanly when ``stop`` is set (discord.py does not handle SIGTERM itself)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import aiohttp
import discord

from ketacompanion.adapters.discord.adapter import DiscordAdapter
from ketacompanion.adapters.discord.client import Bot, ShardedBot, use_api
from ketacompanion.adapters.discord.delivery import PLATFORM, DiscordSender
from ketacompanion.app import App, build_community, texts
from ketacompanion.backlog import Backlog
from ketacompanion.services import PlatformConfigError, PlatformUnavailable, Service
from ketacompanion.settings import Settings

log = logging.getLogger(__name__)

REPING_EVERY_S = 30.0
CLOSE_TIMEOUT_S = 10.0
DRAIN_S = 10.0  # how long a stop waits for accepted turns to be answered, as on Telegram
PERMISSIONS = discord.Permissions(
    view_channel=True, send_messages=True, embed_links=True, attach_files=True,
    read_message_history=True, mention_everyone=False,
)  # fmt: skip
SCOPES = ("bot", "applications.commands")


class DiscordConfigError(PlatformConfigError):
    pass


def check_settings(settings: Settings) -> None:
    if settings.discord_token is None:
        raise DiscordConfigError("KETACOMPANION_DISCORD_TOKEN is not set")
    ids = shard_ids(settings)
    count = settings.discord_shard_count
    if ids is not None and count is None:
        raise DiscordConfigError("KETACOMPANION_DISCORD_SHARD_IDS needs KETACOMPANION_DISCORD_SHARD_COUNT")
    if ids is not None and count is not None and any(i >= count for i in ids):
        raise DiscordConfigError("KETACOMPANION_DISCORD_SHARD_IDS must each be below KETACOMPANION_DISCORD_SHARD_COUNT")


def shard_ids(settings: Settings) -> list[int] | None:
    raw = settings.discord_shard_ids
    return [int(p) for p in raw.split(",")] if raw else None


def invite_url(application_id: int) -> str:
    return discord.utils.oauth_url(application_id, permissions=PERMISSIONS, scopes=SCOPES)


def build_bot(settings: Settings, **options: Any) -> Bot:
    ids, count = shard_ids(settings), settings.discord_shard_count
    common = {
        "message_content": settings.discord_message_content, "test_guild": settings.discord_test_guild_id,
        "gateway_from_api": use_api(settings.discord_api_base_url),
    }  # fmt: skip
    if ids is not None or (count is not None and count > 1):
        return ShardedBot(shard_ids=ids, shard_count=count, **common, **options)
    return Bot(**common, **options)


def build_adapter(app: App, bot: Bot) -> DiscordAdapter:
    settings = app.settings
    community, setup = build_community(app, settings.discord_checkins, settings.discord_message_content)
    write = texts(app.content)(settings.default_language)("community.write_button")
    sender = DiscordSender(bot, app.store, community.may_send, write)
    content = app.content
    adapter = DiscordAdapter(
        bot, community, setup, sender, answer_within_s=settings.discord_answer_within_s,
        flagged=lambda text: content.current.detector.screen(text).level > 0,
        backlog=Backlog(app.store, PLATFORM),
    )  # fmt: skip
    bot.attach(adapter)
    return adapter


def discord_platform(app: App) -> Service:
    """The Discord adapter for ``app``: its sender joins the outbox; the service it returns
    runs the client until ``stop``."""
    settings = app.settings
    check_settings(settings)
    bot = build_bot(settings)
    adapter = build_adapter(app, bot)
    app.add_sender(adapter.sender)
    assert settings.discord_token is not None
    return discord_service(bot, adapter, settings.discord_token.get_secret_value())


def discord_service(bot: Bot, adapter: DiscordAdapter, token: str) -> Service:
    async def serve(stop: asyncio.Event) -> None:
        async with bot:
            runner = asyncio.create_task(bot.start(token), name="discord-client")
            repings = asyncio.create_task(_repings(adapter, stop), name="discord-repings")
            stopped = asyncio.create_task(stop.wait())
            try:
                await asyncio.wait({runner, stopped}, return_when=asyncio.FIRST_COMPLETED)
                if runner.done():
                    _raise_start_error(runner)
            finally:
                stopped.cancel()
                repings.cancel()
                if not runner.done():
                    await adapter.close(DRAIN_S)  # while the client can still answer
                await bot.close()  # start() returns once the client is closed
                done, late = await asyncio.wait({runner, repings}, timeout=CLOSE_TIMEOUT_S)
                for task in late:
                    task.cancel()
                if late:
                    await asyncio.wait(late)
                for task in done | late:
                    if not task.cancelled() and task.exception() is not None and task is not runner:
                        log.warning("discord task failed at stop", extra={"error": type(task.exception()).__name__})

    return serve


def _raise_start_error(runner: asyncio.Task[None]) -> None:
    exc = runner.exception()
    if isinstance(exc, discord.LoginFailure):
        raise PlatformUnavailable("Discord refused the token in KETACOMPANION_DISCORD_TOKEN")
    if isinstance(exc, discord.PrivilegedIntentsRequired):
        raise PlatformUnavailable(
            "Discord refused the message content intent: turn it on in the developer portal, "
            "or set KETACOMPANION_DISCORD_MESSAGE_CONTENT=false"
        )
    if isinstance(exc, (aiohttp.ClientError, OSError, discord.GatewayNotFound, asyncio.TimeoutError)):
        raise PlatformUnavailable(f"cannot reach Discord ({type(exc).__name__}); check the network")
    if exc is not None:
        raise exc


async def _repings(adapter: DiscordAdapter, stop: asyncio.Event) -> None:
    while not stop.is_set():
        await adapter.reping()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), REPING_EVERY_S)
