"""The discord.py client: intents, the command tree, persistent buttons, message events."""

from __future__ import annotations

import logging
from typing import Any

import discord
import yarl
from discord import app_commands
from discord.gateway import DiscordWebSocket
from discord.http import Route

from ketacompanion.adapters.discord.commands import register
from ketacompanion.adapters.discord.views import choice_of, pressed

log = logging.getLogger(__name__)

DISCORD_API = Route.BASE  # discord.py's own default


def intents(message_content: bool) -> discord.Intents:
    """Guilds, members' messages and DMs; message text in servers only with the privileged
    intent (needed for screened channels)."""
    wanted = discord.Intents.none()
    wanted.guilds = True
    wanted.guild_messages = True
    wanted.dm_messages = True
    wanted.message_content = message_content
    return wanted


def use_api(base: str) -> bool:
    """Point discord.py at ``base`` (Discord's API or a proxy in front of it). discord.py
    keeps the address in a class attribute, so this holds for the whole process; a process
    runs one Discord client. True when the gateway must be asked of that API."""
    Route.BASE = base.rstrip("/")
    return Route.BASE != DISCORD_API


class Bot(discord.Client):
    def __init__(
        self, *, message_content: bool = False, test_guild: int | None = None, gateway_from_api: bool = False,
        **options: Any,
    ) -> None:  # fmt: skip
        super().__init__(intents=intents(message_content), **options)
        self.tree: app_commands.CommandTree[Any] = app_commands.CommandTree(self)
        self.adapter: Any = None  # set by the runner: the buttons reach it through the client
        self._test_guild = test_guild
        self._gateway_from_api = gateway_from_api
        self.sync_commands = True
        self._resumed = False  # the last stop's kept DMs are handed back at the first ready only

    async def connect(self, *, reconnect: bool = True) -> None:
        if self._gateway_from_api:
            # discord.py connects a single shard to Discord's own gateway; another API names
            # its gateway at /gateway/bot, as Discord's does.
            _, url, _ = await self.http.get_bot_gateway()
            DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)
        await super().connect(reconnect=reconnect)

    def attach(self, adapter: Any) -> None:
        self.adapter = adapter
        register(self.tree, adapter)

    async def setup_hook(self) -> None:
        if not self.sync_commands:
            return
        try:
            if self._test_guild is not None:
                guild = discord.Object(self._test_guild)
                self.tree.copy_global_to(guild=guild)
                await self.tree.sync(guild=guild)
            else:
                await self.tree.sync()
        except discord.HTTPException as exc:
            # Commands already registered keep working; the next start syncs again.
            log.warning("could not sync slash commands", extra={"error": type(exc).__name__})

    async def on_ready(self) -> None:
        # Ready fires again after a full reconnect; the backlog is read once a process.
        if self._resumed or self.adapter is None:
            return
        self._resumed = True
        await self.adapter.resume()

    async def on_interaction(self, interaction: discord.Interaction[Any]) -> None:
        # Persistent buttons: any custom_id of ours is answered, whenever it was sent.
        custom_id = pressed(interaction)
        if custom_id is None or self.adapter is None:
            return
        choice = choice_of(custom_id)
        if choice is None:
            await self.adapter.open_text_box(interaction)
        else:
            await self.adapter.on_choice(interaction, choice)

    async def on_message(self, message: discord.Message) -> None:
        if self.adapter is not None:
            await self.adapter.on_message(message)


class ShardedBot(Bot, discord.AutoShardedClient):
    """The same bot over several shards in one process (``shard_ids`` and ``shard_count``)."""
