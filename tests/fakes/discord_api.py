"""A fake Discord on loopback: the HTTP API routes a bot uses and a gateway websocket, so the
real discord.py client (and ``ketacompanion run``) can be driven with no network.

    async with FakeDiscord() as discord_:
        env["KETACOMPANION_DISCORD_API_BASE_URL"] = discord_.api_base
        ...
        await discord_.wait_identified()
        discord_.command("help", user=discord_.ann)          # INTERACTION_CREATE, in a DM
        call = await discord_.wait_for(lambda c: c.route == "followup")

The gateway speaks JSON text frames (discord.py accepts them uncompressed): HELLO, then
heartbeat ACKs, READY and one GUILD_CREATE per guild after IDENTIFY, RESUMED after RESUME,
and any dispatch a test sends. Every HTTP call is recorded as a ``Call``; a member whose
DMs are closed gets Discord's 403 with code 50007.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from aiohttp import WSMsgType, web

JSONDict = dict[str, Any]
EPHEMERAL = 64
HELLO, HEARTBEAT, IDENTIFY, RESUME, HEARTBEAT_ACK, DISPATCH = 10, 1, 2, 6, 11, 0
VERSION = "v10"

_ids = itertools.count(1_100_000_000_000_000_000)


def snowflake() -> str:
    return str(next(_ids))


def user_dict(user_id: str, name: str, bot: bool = False) -> JSONDict:
    return {"id": user_id, "username": name, "discriminator": "0", "global_name": None, "avatar": None, "bot": bot}


@dataclass
class Call:
    """One HTTP request the client made, and the status it got."""

    method: str
    route: str  # a short name: gateway, me, sync, callback, followup, edit, dm, message, ...
    path: str
    body: JSONDict
    files: list[str] = field(default_factory=list)
    status: int = 200

    @property
    def content(self) -> str:
        data = self.body.get("data") if self.route == "callback" else self.body
        return str((data or {}).get("content") or "")

    @property
    def ephemeral(self) -> bool:
        data = self.body.get("data") if self.route == "callback" else self.body
        return bool(int((data or {}).get("flags") or 0) & EPHEMERAL)

    def custom_ids(self) -> list[str]:
        data = (self.body.get("data") if self.route == "callback" else self.body) or {}
        return [c["custom_id"] for row in data.get("components") or [] for c in row.get("components", [])
                if "custom_id" in c]  # fmt: skip


@dataclass
class Guild:
    id: str
    name: str
    channels: dict[str, str]  # name -> id
    members: dict[str, str]  # name -> user id


class FakeDiscord:
    def __init__(self, token: str = "fake-discord-token") -> None:
        self.token = token
        self.application_id = snowflake()
        self.bot_id = self.application_id
        self.users: dict[str, str] = {}  # user id -> name
        self.ann = self._user("ann")
        self.mod = self._user("mod")
        self.guild = self._guild("Support Server", ["general", "support", "alerts"], [self.ann, self.mod])
        self.calls: list[Call] = []
        self.identified: list[JSONDict] = []
        self.closed_dms: set[str] = set()
        self.held: set[str] = set()  # channels whose posted messages take effect, then hang
        self._release = asyncio.Event()
        self.heartbeats = 0
        self.login_delay = 0.0  # seconds before GET /users/@me answers
        self.closes: list[int] = []  # close codes the client sent
        self._dms: dict[str, str] = {}  # dm channel id -> user id
        self._sockets: list[web.WebSocketResponse] = []
        self._shards: dict[web.WebSocketResponse, list[int]] = {}
        self._seq = 0
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._port = 0

    # --- lifecycle ---------------------------------------------------------------------------
    async def __aenter__(self) -> FakeDiscord:
        app = web.Application()
        app.router.add_get("/gateway", self._on_gateway)
        app.router.add_route("*", f"/api/{VERSION}/{{path:.+}}", self._on_api)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:  # fmt: skip
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self._port}/api/{VERSION}"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self._port}/gateway"

    # --- the world ---------------------------------------------------------------------------
    def _user(self, name: str) -> str:
        user_id = snowflake()
        self.users[user_id] = name
        return user_id

    def _guild(self, name: str, channels: list[str], members: list[str]) -> Guild:
        return Guild(snowflake(), name, {c: snowflake() for c in channels}, {self.users[m]: m for m in members})

    def _member(self, user_id: str, roles: list[str] | None = None, permissions: str | None = None) -> JSONDict:
        member: JSONDict = {"user": user_dict(user_id, self.users.get(user_id, "bot"), bot=user_id == self.bot_id),
                            "roles": roles or [], "joined_at": "2026-01-01T00:00:00+00:00", "deaf": False,
                            "mute": False, "flags": 0}  # fmt: skip
        if permissions is not None:
            member["permissions"] = permissions
        return member

    def guild_create(self) -> JSONDict:
        g = self.guild
        everyone = {"id": g.id, "name": "@everyone", "permissions": "1024", "position": 0, "color": 0,
                    "hoist": False, "managed": False, "mentionable": False, "flags": 0}  # fmt: skip
        channels = [{"id": cid, "type": 0, "guild_id": g.id, "name": name, "position": i, "permission_overwrites": [],
                     "nsfw": False, "parent_id": None, "topic": None, "last_message_id": None}
                    for i, (name, cid) in enumerate(g.channels.items())]  # fmt: skip
        members = [self._member(uid) for uid in [*g.members.values(), self.bot_id]]
        return {
            "id": g.id, "name": g.name, "icon": None, "splash": None, "owner_id": self.mod, "afk_timeout": 300,
            "verification_level": 0, "default_message_notifications": 0, "explicit_content_filter": 0,
            "roles": [everyone], "emojis": [], "stickers": [], "features": [], "mfa_level": 0, "nsfw_level": 0,
            "system_channel_id": None, "system_channel_flags": 0, "premium_tier": 0, "preferred_locale": "en-US",
            "unavailable": False, "large": False, "member_count": len(members), "members": members,
            "channels": channels, "threads": [], "voice_states": [], "presences": [], "stage_instances": [],
            "guild_scheduled_events": [], "joined_at": "2026-01-01T00:00:00+00:00",
        }  # fmt: skip

    # --- what a test sends through the gateway -------------------------------------------------
    def _owns(self, ws: web.WebSocketResponse, guild_id: str | None) -> bool:
        """Discord's routing: a guild's events go to shard (guild_id >> 22) % count, private
        messages to shard 0; an unsharded connection gets everything."""
        shard = self._shards.get(ws)
        if not shard:
            return True
        shard_id, count = shard
        return shard_id == ((int(guild_id) >> 22) % count if guild_id else 0)

    async def dispatch(self, event: str, data: JSONDict) -> None:
        for ws in list(self._sockets):
            if not self._owns(ws, data.get("guild_id")):
                continue
            self._seq += 1
            await ws.send_str(json.dumps({"op": DISPATCH, "t": event, "s": self._seq, "d": data}))

    def _interaction(self, type_: int, user_id: str, channel: str | None, permissions: str = "0") -> JSONDict:
        data: JSONDict = {
            "id": snowflake(), "application_id": self.application_id, "type": type_, "token": "itok" + snowflake(),
            "version": 1, "locale": "en-US", "app_permissions": "0", "entitlements": [],
            "authorizing_integration_owners": {}, "attachment_size_limit": 8_388_608,
        }  # fmt: skip
        if channel is None:
            dm = self._dm_of(user_id)
            data |= {"channel_id": dm, "context": 1, "user": user_dict(user_id, self.users[user_id]),
                     "channel": {"id": dm, "type": 1, "recipients": [user_dict(user_id, self.users[user_id])]}}
        else:
            g, cid = self.guild, self.guild.channels[channel]
            data |= {"guild_id": g.id, "channel_id": cid, "context": 0, "guild_locale": "en-US",
                     "channel": {"id": cid, "type": 0, "guild_id": g.id, "name": channel},
                     "member": self._member(user_id, permissions=permissions)}  # fmt: skip
        return data

    async def command(self, name: str, user: str, channel: str | None = None, options: list[JSONDict] | None = None,
                      permissions: str = "0", resolved: JSONDict | None = None) -> JSONDict:  # fmt: skip
        """A slash command; ``channel`` names a guild channel, None means the member's DM."""
        payload = self._interaction(2, user, channel, permissions)
        payload["data"] = {"id": snowflake(), "name": name, "type": 1, "options": options or []}
        if resolved:
            payload["data"]["resolved"] = resolved
        await self.dispatch("INTERACTION_CREATE", payload)
        return payload

    async def press(self, custom_id: str, user: str, channel: str | None = None) -> JSONDict:
        payload = self._interaction(3, user, channel)
        payload["data"] = {"custom_id": custom_id, "component_type": 2}
        button = {"type": 2, "style": 2, "label": "x", "custom_id": custom_id}
        payload["message"] = self._message({"content": "card", "components": [{"type": 1, "components": [button]}]},
                                           payload["channel_id"], self.bot_id)  # fmt: skip
        await self.dispatch("INTERACTION_CREATE", payload)
        return payload

    async def say(self, text: str, user: str, channel: str | None = None) -> JSONDict:
        """MESSAGE_CREATE from ``user``, in a guild channel or their DM."""
        channel_id = self.guild.channels[channel] if channel else self._dm_of(user)
        message = self._message({"content": text}, channel_id, user)
        if channel:
            message |= {"guild_id": self.guild.id, "member": {k: v for k, v in self._member(user).items() if k != "user"}}
        await self.dispatch("MESSAGE_CREATE", message)
        return message

    # --- waiting -------------------------------------------------------------------------------
    async def wait_for(self, predicate: Callable[[Call], bool], timeout: float = 10.0, after: int = 0) -> Call:  # noqa: ASYNC109
        """The first call from index ``after`` on that matches."""

        def found() -> Call | None:
            return next((c for c in self.calls[after:] if predicate(c)), None)

        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: found() is not None)
        result = found()
        assert result is not None
        return result

    async def wait_count(self, predicate: Callable[[Call], bool], count: int, timeout: float = 10.0,  # noqa: ASYNC109
                         after: int = 0) -> None:  # fmt: skip
        """Until ``count`` calls from index ``after`` on match."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: sum(1 for c in self.calls[after:] if predicate(c)) >= count)

    async def wait_identified(self, count: int = 1, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: len(self.identified) >= count)

    async def wait_disconnected(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: not self._sockets)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # --- gateway ---------------------------------------------------------------------------------
    async def _on_gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._sockets.append(ws)
        try:
            await ws.send_str(json.dumps({"op": HELLO, "d": {"heartbeat_interval": 41_250}}))
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    break
                await self._on_frame(ws, json.loads(msg.data))
        finally:
            self._sockets.remove(ws)
            self._shards.pop(ws, None)
            if ws.close_code is not None:
                self.closes.append(ws.close_code)
            await self._notify()
        return ws

    async def _on_frame(self, ws: web.WebSocketResponse, frame: JSONDict) -> None:
        op = frame.get("op")
        if op == HEARTBEAT:
            self.heartbeats += 1
            await ws.send_str(json.dumps({"op": HEARTBEAT_ACK}))
        elif op == IDENTIFY:
            data = frame["d"]
            if data.get("token") != self.token:
                await ws.close(code=4004)  # authentication failed
                return
            self.identified.append({"intents": data.get("intents"), "shard": data.get("shard")})
            self._shards[ws] = data.get("shard") or []
            owned = self._owns(ws, self.guild.id)
            self._seq += 1
            guilds = [{"id": self.guild.id, "unavailable": True}] if owned else []
            ready = {"v": 10, "user": user_dict(self.bot_id, "ketacompanion", bot=True) | {"verified": True,
                     "mfa_enabled": False, "flags": 0}, "guilds": guilds,
                     "session_id": "s" + snowflake(), "resume_gateway_url": self.gateway_url,
                     "application": {"id": self.application_id, "flags": 0}}  # fmt: skip
            if data.get("shard"):
                ready["shard"] = data["shard"]
            await ws.send_str(json.dumps({"op": DISPATCH, "t": "READY", "s": self._seq, "d": ready}))
            if owned:
                self._seq += 1
                await ws.send_str(json.dumps({"op": DISPATCH, "t": "GUILD_CREATE", "s": self._seq, "d": self.guild_create()}))
            await self._notify()
        elif op == RESUME:
            self._seq += 1
            await ws.send_str(json.dumps({"op": DISPATCH, "t": "RESUMED", "s": self._seq, "d": {}}))

    # --- HTTP --------------------------------------------------------------------------------------
    async def _on_api(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["path"]
        body, files = await _body(request)
        call = Call(request.method, "?", path, body, files)
        # Interaction callbacks and webhooks are authorised by their own token in the path.
        open_route = path.startswith(("/interactions/", "/webhooks/"))
        if not open_route and request.headers.get("Authorization") != f"Bot {self.token}":
            call.route = "unauthorized"
            return await self._answer(call, 401, {"code": 0, "message": "401: Unauthorized"})
        status, answer = self._route(call, request)
        if call.route == "me" and self.login_delay:
            await asyncio.sleep(self.login_delay)  # a slow login, as over a real network
        return await self._answer(call, status, answer)

    async def _answer(self, call: Call, status: int, answer: Any) -> web.Response:
        call.status = status
        self.calls.append(call)
        await self._notify()
        if call.route == "message" and call.path.split("/")[2] in self.held:
            await self._release.wait()
        if status == 204:
            return web.Response(status=204)
        # Exactly "application/json", as Discord sends it: discord.py reads nothing else as JSON.
        return web.Response(body=json.dumps(answer).encode(), status=status, headers={"Content-Type": "application/json"})

    def _route(self, call: Call, request: web.Request) -> tuple[int, Any]:  # noqa: C901, PLR0911, PLR0912
        parts = call.path.strip("/").split("/")
        method = call.method
        app = self.application_id
        if parts == ["gateway", "bot"]:
            call.route = "gateway"
            limits = {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}
            return 200, {"url": self.gateway_url, "shards": 1, "session_start_limit": limits}
        if parts == ["users", "@me"]:
            call.route = "me"
            return 200, user_dict(self.bot_id, "ketacompanion", bot=True) | {"verified": True, "flags": 0}
        if parts == ["oauth2", "applications", "@me"]:
            call.route = "application"
            return 200, {"id": app, "name": "ketacompanion", "icon": None, "description": "", "bot_public": False,
                         "bot_require_code_grant": False, "verify_key": "0" * 64, "flags": 0, "team": None,
                         "owner": user_dict(self.mod, "mod"), "summary": ""}  # fmt: skip
        if parts[:2] == ["applications", app] and parts[-1] == "commands" and method == "PUT":
            call.route = "sync"
            guild = parts[3] if len(parts) == 5 else None
            return 200, [{"id": snowflake(), "application_id": app, "version": snowflake(), "type": c.get("type", 1),
                          "name": c["name"], "description": c.get("description", ""), "options": c.get("options", []),
                          "guild_id": guild, "default_member_permissions": c.get("default_member_permissions"),
                          "contexts": c.get("contexts"), "integration_types": c.get("integration_types")}
                         for c in call.body.get("_list", [])]  # fmt: skip
        if parts[0] == "interactions" and parts[-1] == "callback":
            call.route = "callback"
            kind = call.body.get("type")
            interaction: JSONDict = {"id": parts[1], "type": kind}
            if kind == 5:
                interaction["response_message_loading"] = True
                interaction["response_message_ephemeral"] = call.ephemeral
            return 200, {"interaction": interaction, "resource": {"type": kind}}
        if parts[0] == "webhooks" and parts[1] == app:
            call.route = "followup" if method == "POST" else "edit" if method == "PATCH" else "webhook"
            if method == "DELETE":
                return 204, None
            return 200, self._message(call.body, "0", self.bot_id)
        if parts == ["users", "@me", "channels"] and method == "POST":
            call.route = "dm"
            recipient = str(call.body.get("recipient_id"))
            if recipient not in self.users:
                return 400, {"code": 50033, "message": "Invalid Recipient(s)"}
            channel = self._dm_of(recipient)
            return 200, {"id": channel, "type": 1, "last_message_id": None,
                         "recipients": [user_dict(recipient, self.users[recipient])]}  # fmt: skip
        if parts[0] == "users" and len(parts) == 2 and method == "GET":
            call.route = "user"
            if parts[1] not in self.users:
                return 404, {"code": 10013, "message": "Unknown User"}
            return 200, user_dict(parts[1], self.users[parts[1]])
        if parts[0] == "channels" and len(parts) == 3 and parts[2] == "messages" and method == "POST":
            call.route = "message"
            channel = parts[1]
            if self._dms.get(channel) in self.closed_dms:
                call.route = "message-refused"
                return 403, {"code": 50007, "message": "Cannot send messages to this user"}
            return 200, self._message(call.body, channel, self.bot_id)
        if parts[0] == "channels" and len(parts) == 4 and parts[2] == "messages":
            call.route = "message-" + method.lower()
            return (204, None) if method == "DELETE" else (200, self._message(call.body, parts[1], self.bot_id))
        call.route = "unknown"
        return 404, {"code": 0, "message": f"404: Not Found ({method} {call.path})"}

    def _dm_of(self, user_id: str) -> str:
        for channel, user in self._dms.items():
            if user == user_id:
                return channel
        channel = snowflake()
        self._dms[channel] = user_id
        return channel

    def channel_option(self, name: str) -> tuple[JSONDict, JSONDict]:
        """A channel option of a slash command, and its ``resolved`` entry."""
        cid = self.guild.channels[name]
        return ({"name": "channel", "type": 7, "value": cid},
                {"channels": {cid: {"id": cid, "type": 0, "name": name, "permissions": "0", "guild_id": self.guild.id}}})

    def hold(self, channel_id: str) -> None:
        """Messages posted to ``channel_id`` take effect, but their answer never comes until
        ``stop_holding``: the turn that sent one hangs, and that member's next turns queue."""
        self.held.add(channel_id)
        self._release.clear()

    def stop_holding(self) -> None:
        self.held.clear()
        self._release.set()

    def dm_channel(self, user_id: str) -> str:
        return self._dm_of(user_id)

    def _message(self, body: JSONDict, channel_id: str, author: str) -> JSONDict:
        return {
            "id": snowflake(), "channel_id": channel_id, "content": body.get("content") or "",
            "author": user_dict(author, self.users.get(author, "ketacompanion"), bot=author == self.bot_id),
            "timestamp": "2026-11-23T09:00:00+00:00", "edited_timestamp": None, "tts": False,
            "mention_everyone": False, "mentions": [], "mention_roles": [], "attachments": [],
            "embeds": body.get("embeds") or [], "pinned": False, "type": 0, "flags": int(body.get("flags") or 0),
            "components": body.get("components") or [],
        }  # fmt: skip


async def _body(request: web.Request) -> tuple[JSONDict, list[str]]:
    """A JSON body, or multipart's payload_json plus the names of its files. A JSON list (a
    command sync) is kept under ``_list``."""
    if request.content_type.startswith("multipart/"):
        body: JSONDict = {}
        files: list[str] = []
        reader = await request.multipart()
        async for part in reader:
            if part.name == "payload_json":
                body = json.loads(await part.text())  # type: ignore[union-attr]
            else:
                files.append(part.filename or "")  # type: ignore[union-attr]
                await part.read()  # type: ignore[union-attr]
        return body, files
    raw = await request.read()
    if not raw:
        return {}, []
    parsed = json.loads(raw)
    return (parsed if isinstance(parsed, dict) else {"_list": parsed}), []
