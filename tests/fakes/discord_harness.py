"""The real discord.py client with no network: dpytest for guilds, members, channels,
messages and DMs; raw INTERACTION_CREATE payloads for slash commands, buttons and
modals, answered by a recording webhook adapter."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import discord
import discord.ext.test as dpytest
from discord.webhook.async_ import AsyncWebhookAdapter, async_context

from ketacompanion.adapters.discord.adapter import DiscordAdapter
from ketacompanion.adapters.discord.client import Bot
from ketacompanion.adapters.discord.runner import build_adapter, build_bot
from ketacompanion.app import App

_ids = itertools.count(900_000_000_000_000_000)
EPHEMERAL = 64
PREFIXES = ("CommandTree", "discord-ui", "discord.py:")


def snowflake() -> str:
    return str(next(_ids))


@dataclass
class Sent:
    """One interaction response: a callback, a follow-up, or an edit of the original."""

    kind: str  # callback, followup, edit, delete
    type: int | None
    data: dict[str, Any]
    files: list[tuple[str, bytes]] = field(default_factory=list)
    to: str = ""  # the interaction's id (callbacks) or token (the rest)

    @property
    def content(self) -> str:
        return str(self.data.get("content") or "")

    @property
    def new_message(self) -> bool:
        """A message the member sees appear: a follow-up, or a response that posts one (4) or
        defers one ("thinking", 5)."""
        return self.kind == "followup" or (self.kind == "callback" and self.type in (4, 5))

    @property
    def ephemeral(self) -> bool:
        return bool(int(self.data.get("flags") or 0) & EPHEMERAL)

    def custom_ids(self) -> list[str]:
        return [c["custom_id"] for row in self.data.get("components") or [] for c in row.get("components", [])
                if "custom_id" in c]  # fmt: skip


class Recorder(AsyncWebhookAdapter):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[Sent] = []

    async def request(self, route: Any, session: Any, *, payload: Any = None, multipart: Any = None,
                      files: Any = None, params: Any = None, **_: Any) -> Any:  # fmt: skip
        body = payload
        if body is None and multipart:
            body = json.loads(next(p["value"] for p in multipart if p["name"] == "payload_json"))
        body = body or {}
        stored = [(f.filename, f.fp.read()) for f in files or []]
        path = route.path
        if path.endswith("/callback"):
            self.sent.append(Sent("callback", body.get("type"), body.get("data") or {}, stored, str(route.webhook_id)))
            interaction = {"id": str(route.webhook_id), "type": body.get("type")}
            if body.get("type") == 5:
                interaction["response_message_loading"] = True
                interaction["response_message_ephemeral"] = bool((body.get("data") or {}).get("flags", 0) & EPHEMERAL)
            return {"interaction": interaction, "resource": {"type": body.get("type")}}
        kind = {"PATCH": "edit", "DELETE": "delete"}.get(route.method, "followup")
        self.sent.append(Sent(kind, None, body, stored, str(route.webhook_token)))
        return None if kind == "delete" else message_dict(body)

    def take(self) -> list[Sent]:
        out, self.sent = self.sent, []
        return out


def message_dict(body: dict[str, Any], channel_id: str = "1", author: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "id": snowflake(), "channel_id": channel_id, "content": body.get("content") or "",
        "author": author or {"id": "1", "username": "ketacompanion", "discriminator": "0", "avatar": None, "bot": True},
        "timestamp": "2026-11-23T09:00:00+00:00", "edited_timestamp": None, "tts": False,
        "mention_everyone": False, "mentions": [], "mention_roles": [], "attachments": [],
        "embeds": body.get("embeds") or [], "pinned": False, "type": 0, "flags": int(body.get("flags") or 0),
        "components": body.get("components") or [],
    }  # fmt: skip


def user_dict(member: discord.abc.User) -> dict[str, Any]:
    return {"id": str(member.id), "username": member.name, "discriminator": "0", "avatar": None, "global_name": None}


class Harness:
    def __init__(self, app: App) -> None:
        self.app = app
        self.bot: Bot = build_bot(app.settings)
        self.bot.sync_commands = False
        # dpytest keeps members in the member cache, which the bot itself does not need.
        everything = discord.Intents.all()
        everything.message_content = app.settings.discord_message_content
        self.bot._connection._intents = everything
        self.bot._connection.member_cache_flags = discord.MemberCacheFlags.from_intents(everything)
        self.adapter: DiscordAdapter = build_adapter(app, self.bot)
        app.add_sender(self.adapter.sender)
        self.recorder = Recorder()

    async def start(self) -> None:
        await self.bot._async_setup_hook()  # what login() does first: binds the client to this loop
        dpytest.configure(self.bot, guilds=["Support Server"], text_channels=["general", "support", "venting", "alerts"],
                          voice_channels=0, members=["ann", "mod", "bo"])  # fmt: skip
        self.bot._connection._command_tree = self.bot.tree
        await self.bot.setup_hook()
        self._record_components()
        async_context.set(self.recorder)
        self.guild = self.bot.guilds[0]
        names = {c.name: c for c in self.guild.text_channels}
        self.general, self.support, self.venting, self.alerts = (names[n] for n in ("general", "support", "venting", "alerts"))
        members = {m.name: m for m in self.guild.members}
        self.ann, self.mod, self.bo = members["ann"], members["mod"], members["bo"]

    def _record_components(self) -> None:
        """dpytest drops the buttons of what the bot sends; keep them by message id."""
        self.components: dict[int, list[str]] = {}
        self.mentions: dict[int, Any] = {}
        http = self.bot.http
        send = http.send_message

        async def send_message(channel_id: int, *, params: Any) -> Any:
            channel = self.bot.get_channel(int(channel_id))  # noqa: F841 (dpytest reads its caller's locals)
            data = await send(channel_id, params=params)
            payload = params.payload or {}
            self.components[int(data["id"])] = [
                c["custom_id"] for row in payload.get("components") or [] for c in row.get("components", [])
                if "custom_id" in c
            ]  # fmt: skip
            self.mentions[int(data["id"])] = payload.get("allowed_mentions")
            return data

        http.send_message = send_message  # type: ignore[method-assign]

    def buttons(self, message: discord.Message) -> list[str]:
        return self.components.get(message.id, [])

    async def stop(self) -> None:
        await self.adapter.close()
        await dpytest.empty_queue()

    # --- interactions --------------------------------------------------------------------
    def _base(self, type_: int, member: discord.Member, guild: bool, **extra: Any) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": snowflake(), "application_id": str(self.bot.user.id), "type": type_, "token": "tok" + snowflake(),
            "version": 1, "locale": "en-US", "app_permissions": "0", "entitlements": [],
            "authorizing_integration_owners": {}, "attachment_size_limit": 8_388_608,
        }  # fmt: skip
        if guild:
            channel = extra.pop("channel", None) or self.general
            perms = extra.pop("permissions", "0")
            roles = extra.pop("roles", [])
            data |= {"guild_id": str(self.guild.id), "channel_id": str(channel.id), "context": 0,
                     "guild_locale": "en-US",
                     "channel": {"id": str(channel.id), "type": 0, "guild_id": str(self.guild.id), "name": channel.name},
                     "member": {"user": user_dict(member), "roles": roles, "joined_at": "2026-01-01T00:00:00+00:00",
                                "deaf": False, "mute": False, "permissions": perms, "flags": 0}}  # fmt: skip
        else:
            dm = snowflake()
            data |= {"channel_id": dm, "context": 1, "user": user_dict(member),
                     "channel": {"id": dm, "type": 1, "recipients": [user_dict(member)]}}  # fmt: skip
        data |= extra
        return data

    async def _dispatch(self, payload: dict[str, Any]) -> list[Sent]:
        async_context.set(self.recorder)
        self.bot._connection.parse_interaction_create(payload)  # type: ignore[arg-type]
        await settle()
        return self.recorder.take()

    async def command(self, name: str, member: discord.Member | None = None, *, guild: bool = False,
                      options: list[dict[str, Any]] | None = None, resolved: dict[str, Any] | None = None,
                      **extra: Any) -> list[Sent]:  # fmt: skip
        data: dict[str, Any] = {"id": snowflake(), "name": name, "type": 1, "options": options or []}
        if resolved:
            data["resolved"] = resolved
        payload = self._base(2, member or self.ann, guild, **extra)
        if guild:
            data["guild_id"] = None
        payload["data"] = {k: v for k, v in data.items() if v is not None}
        return await self._dispatch(payload)

    async def press(self, custom_id: str, member: discord.Member | None = None, *, guild: bool = False,
                    **extra: Any) -> list[Sent]:  # fmt: skip
        payload = self._base(3, member or self.ann, guild, **extra)
        payload["data"] = {"custom_id": custom_id, "component_type": 2}
        # discord.py answers a button only when the pressed message carries it, as Discord does.
        button = {"type": 2, "style": 2, "label": "x", "custom_id": custom_id}
        components = [{"type": 1, "components": [button]}]
        payload["message"] = message_dict({"content": "card", "components": components}, payload["channel_id"])
        return await self._dispatch(payload)

    async def submit(self, text: str, input_id: str, member: discord.Member | None = None, **extra: Any) -> list[Sent]:
        payload = self._base(5, member or self.ann, False, **extra)
        payload["data"] = {"custom_id": "kcm", "components": [
            {"type": 1, "components": [{"type": 4, "custom_id": input_id, "value": text}]}]}  # fmt: skip
        return await self._dispatch(payload)

    async def raw(self, payload: dict[str, Any]) -> list[Sent]:
        return await self._dispatch(payload)

    # --- messages ------------------------------------------------------------------------
    async def say(self, text: str, channel: Any, member: discord.Member | None = None) -> None:
        await dpytest.message(text, channel=channel, member=member or self.ann)
        await settle()

    def sent_messages(self) -> list[discord.Message]:
        out = []
        while not dpytest.sent_queue.empty():
            out.append(dpytest.sent_queue.get_nowait())
        return out


async def settle(rounds: int = 30) -> None:
    """Let every task the client started run to the end (no sleeps: yields only)."""
    for _ in range(rounds):
        await asyncio.sleep(0)
    pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()
               and t.get_name().startswith(PREFIXES)]  # fmt: skip
    while pending:
        await asyncio.wait(pending, timeout=5)
        for _ in range(5):
            await asyncio.sleep(0)
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()
                   and t.get_name().startswith(PREFIXES)]  # fmt: skip


@asynccontextmanager
async def running(app: App) -> AsyncIterator[Harness]:
    """A started harness over ``app``; the harness and the app are closed afterwards."""
    harness = Harness(app)
    await harness.start()
    try:
        yield harness
    finally:
        await harness.stop()
        await app.close()
