"""Discord throughput: the full stack against a bare discord.py bot, paired, over real HTTP.

Both bots are real discord.py clients fed the same raw INTERACTION_CREATE payloads (there
is no gateway to time: Discord pushes interactions, the cost is the bot's and the HTTP
answer's). Every response goes over real HTTP, through discord.py's own webhook adapter
and an aiohttp session like the one discord.py opens, to a fake Discord API in a process
of its own on loopback (bench/_discord_server.py), as a deployment pays a round trip to
Discord for each response.

The mix, from ``--members`` people: ``/help`` and ``/learn`` and a lesson-topic button, each
in DMs and in a server. The full stack is the adapter, the fair queue, the companion and a
SQLite file. The bare bot answers the same interactions with the very reply the full stack
gave (text and buttons, ephemeral in the server, the card edited in place for the button),
read from a warm-up. Both keep ``--in-flight`` interactions in flight; the sides alternate
which goes first in each repeat. Prints one JSON line: interactions/s for each,
``ratio_min`` / ``ratio_median`` / ``ratio_max`` (full stack over bare bot), and the p99
time from an interaction's arrival to its first response as the server saw it.

    .venv/bin/python bench/discord.py [--interactions 1200] [--in-flight 16] [--repeats 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Coroutine
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# This file is named like the library: keep its own folder off the path so "discord" is discord.py.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT / "tests"))
warnings.filterwarnings("ignore", category=DeprecationWarning)

import aiohttp  # noqa: E402
import discord  # noqa: E402
import discord.ext.test as dpytest  # noqa: E402
from discord import app_commands  # noqa: E402
from discord.webhook.async_ import AsyncWebhookAdapter, async_context  # noqa: E402

from ketacompanion.adapters.discord.adapter import WORKERS  # noqa: E402
from ketacompanion.app import build_app  # noqa: E402
from ketacompanion.settings import load_settings  # noqa: E402

from fakes.discord_harness import Harness, Sent, message_dict, snowflake  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))  # for _common; discord.py is imported already, so no shadowing
from _common import fail, pct, positive, ratios, spread, warmed_up  # noqa: E402

BUTTON = "kc:learn:topic:basics"
# (kind, name, in a server): the mix, in the order it repeats.
MIX = (
    ("command", "help", False), ("command", "learn", True), ("button", BUTTON, True),
    ("command", "help", True), ("command", "learn", False), ("button", BUTTON, False),
)  # fmt: skip


class Server:
    """The fake Discord API in its own process."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "_discord_server.py")], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.process.stdout is not None
        self.origin = self.process.stdout.readline().strip()
        if not self.origin.startswith("http://"):
            fail("the fake Discord API did not start")

    async def take(self, http: aiohttp.ClientSession) -> dict[str, Any]:
        async with http.get(f"{self.origin}/control/take") as response:
            return await response.json()  # type: ignore[no-any-return]

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=10)


def session() -> aiohttp.ClientSession:
    """What discord.py's HTTPClient opens at login: an unlimited connection pool."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))


def payload(harness: Harness, kind: str, name: str, guild: bool, member: Any) -> dict[str, Any]:
    data = harness._base(2 if kind == "command" else 3, member, guild)
    if guild:  # the channel as Discord sends it, for a bot that has not cached the server
        data["channel"] |= {"position": 0, "permission_overwrites": [], "nsfw": False, "parent_id": None,
                            "topic": None, "rate_limit_per_user": 0, "last_message_id": None, "flags": 0}  # fmt: skip
    if kind == "command":
        data["data"] = {"id": snowflake(), "name": name, "type": 1, "options": []}
        return data
    data["data"] = {"custom_id": name, "component_type": 2}
    button = {"type": 2, "style": 2, "label": "x", "custom_id": name}
    data["message"] = message_dict({"content": "card", "components": [{"type": 1, "components": [button]}]},
                                   data["channel_id"])  # fmt: skip
    return data


def view_of(components: list[dict[str, Any]]) -> discord.ui.View | None:
    view = discord.ui.View(timeout=None)
    for row, line in enumerate(components):
        for c in line.get("components", []):
            view.add_item(discord.ui.Button(
                label=c.get("label"), custom_id=c.get("custom_id"), url=c.get("url"),
                style=discord.ButtonStyle(c.get("style", 2)), row=row,
            ))  # fmt: skip
    return view if view.children else None


class BareBot(discord.Client):
    """A plain discord.py bot: a command tree for the slash commands, ``on_interaction`` for
    the button; each answer is one response with the given reply."""

    def __init__(self, replies: dict[tuple[str, str, bool], Sent]) -> None:
        super().__init__(intents=discord.Intents.none())
        self.replies = replies
        self.tree = app_commands.CommandTree(self)
        for name in {name for kind, name, _ in MIX if kind == "command"}:
            self.tree.add_command(app_commands.Command(name=name, description=name, callback=self._command))

    async def _command(self, interaction: discord.Interaction[Any]) -> None:
        assert interaction.command is not None
        await self._answer(interaction, self.replies[("command", interaction.command.name, interaction.guild_id is not None)])

    async def on_interaction(self, interaction: discord.Interaction[Any]) -> None:
        if interaction.type is discord.InteractionType.component:
            custom_id = str((interaction.data or {}).get("custom_id"))
            await self._answer(interaction, self.replies[("button", custom_id, interaction.guild_id is not None)])

    async def _answer(self, interaction: discord.Interaction[Any], reply: Sent) -> None:
        view = view_of(reply.data.get("components") or [])
        content = reply.data.get("content")
        mentions = discord.AllowedMentions.none()
        if reply.type == 7:
            await interaction.response.edit_message(content=content, view=view, allowed_mentions=mentions)
        else:
            kwargs: dict[str, Any] = {"view": view} if view is not None else {}
            await interaction.response.send_message(
                content, ephemeral=interaction.guild_id is not None, allowed_mentions=mentions, **kwargs
            )


class Tasks:
    """The tasks a client starts while it parses one interaction, caught by a task factory
    so that completion is known without polling."""

    def __init__(self) -> None:
        self.catching: list[asyncio.Task[Any]] | None = None

    def factory(self, loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any], **kw: Any) -> asyncio.Task[Any]:
        task = asyncio.Task(coro, loop=loop, **kw)
        if self.catching is not None:
            self.catching.append(task)
        return task

    def started_by(self, call: Callable[[], None]) -> list[asyncio.Task[Any]]:
        self.catching = []
        try:
            call()
            return self.catching
        finally:
            self.catching = None


async def drive(client: discord.Client, payloads: list[dict[str, Any]], window: int, tasks: Tasks) -> tuple[float, dict[str, float]]:
    """Deliver every payload with ``window`` in flight; (interactions per second, arrival times)."""
    slots = asyncio.Semaphore(window)
    finished = asyncio.Event()
    left = len(payloads)
    arrived: dict[str, float] = {}

    def one_done(remaining: list[int]) -> Callable[[asyncio.Task[Any]], None]:
        def done(_: asyncio.Task[Any]) -> None:
            nonlocal left
            remaining[0] -= 1
            if remaining[0] == 0:
                slots.release()
                left -= 1
                if left == 0:
                    finished.set()

        return done

    parse = client._connection.parse_interaction_create
    start = time.perf_counter()
    for data in payloads:
        await slots.acquire()
        arrived[data["id"]] = time.monotonic()
        started = tasks.started_by(lambda data=data: parse(data))  # type: ignore[misc]
        if not started:
            fail(f"no handler started for {data['type']}")
        remaining = [len(started)]
        for task in started:
            task.add_done_callback(one_done(remaining))
    await finished.wait()
    return len(payloads) / (time.perf_counter() - start), arrived


async def main(args: argparse.Namespace) -> dict[str, Any]:
    server = Server()
    tasks = Tasks()
    asyncio.get_running_loop().set_task_factory(tasks.factory)  # type: ignore[arg-type]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            os.chdir(tmp)  # dpytest writes attachments it sees to the working directory
            settings = load_settings(
                database_url=f"sqlite+aiosqlite:///{tmp}/bench.db", key_file=Path(tmp) / "k", discord_token="x",
                content_dir=ROOT / "content", export_dir=Path(tmp) / "exports", log_level="ERROR",
            )  # fmt: skip
            app = await build_app(settings)
            await warmed_up()
            harness = Harness(app)
            await harness.start()
            try:
                return await paired(args, server, harness, tasks)
            finally:
                await harness.adapter.close()
                await dpytest.empty_queue()
                await app.close()
    finally:
        server.close()


async def warm_up(harness: Harness) -> dict[tuple[str, str, bool], Sent]:
    """The full stack's reply to each kind of interaction in the mix, recorded in memory."""
    replies: dict[tuple[str, str, bool], Sent] = {}
    for kind, name, guild in MIX:
        if kind == "command":
            sent = await harness.command(name, guild=guild)
        else:
            sent = await harness.press(name, guild=guild)
        if len(sent) != 1 or sent[0].type not in (4, 7) or not sent[0].content:
            fail(f"the full stack did not answer {name} in one response: {[(s.kind, s.type) for s in sent]}")
        replies[(kind, name, guild)] = sent[0]
    return replies


async def paired(args: argparse.Namespace, server: Server, harness: Harness, tasks: Tasks) -> dict[str, Any]:
    replies = await warm_up(harness)
    discord.http.Route.BASE = f"{server.origin}/api/v10"
    async_context.set(AsyncWebhookAdapter())  # discord.py's own: real HTTP from here on
    # The queue's workers keep the context they started in (the warm-up's recorder): stop
    # them; the next interaction starts them again in this one.
    await harness.adapter.close()
    bare = BareBot(replies)
    await bare._async_setup_hook()
    me = {"id": str(harness.bot.user.id), "username": "bare", "discriminator": "0", "avatar": None, "bot": True}
    bare._connection.user = discord.ClientUser(state=bare._connection, data=me)  # what login() sets
    full_http, bare_http, control = session(), session(), aiohttp.ClientSession()
    harness.bot._connection.http._HTTPClient__session = full_http  # type: ignore[attr-defined]
    bare.http._HTTPClient__session = bare_http  # type: ignore[attr-defined]
    people = [SimpleNamespace(id=int(snowflake()), name=f"member{n}") for n in range(args.members)]

    def batch() -> list[dict[str, Any]]:
        return [payload(harness, *MIX[n % len(MIX)], people[n % len(people)]) for n in range(args.interactions)]

    async def side(client: discord.Client) -> tuple[float, list[float], float]:
        await server.take(control)  # forget what came before
        payloads = batch()
        cpu = time.process_time()  # this process, its SQLite thread included
        rate, arrived = await drive(client, payloads, args.in_flight, tasks)
        cpu = (time.process_time() - cpu) / len(payloads) * 1e6
        took = await server.take(control)
        seen, seen_calls = took["first"], took["calls"]
        missing = [k for k in arrived if k not in seen]
        if missing:
            fail(f"{len(missing)} interactions got no response ({len(seen)} did, {seen_calls} calls)")
        return rate, [(seen[k] - at) * 1000 for k, at in arrived.items()], cpu

    sides: dict[str, discord.Client] = {"full": harness.bot, "bare": bare}
    try:
        for client in sides.values():  # warm both: first contact, connections, caches
            await side(client)
        rates: dict[str, list[float]] = {"full": [], "bare": []}
        latency: dict[str, list[float]] = {"full": [], "bare": []}
        cpus: dict[str, list[float]] = {"full": [], "bare": []}
        ratio: list[float] = []
        for repeat in range(args.repeats):
            order = ("full", "bare") if repeat % 2 == 0 else ("bare", "full")
            for name in order:
                rate, ms, cpu = await side(sides[name])
                rates[name].append(rate)
                latency[name] += ms
                cpus[name].append(cpu)
            ratio.append(rates["full"][-1] / rates["bare"][-1])
    finally:
        for http in (full_http, bare_http, control):
            await http.close()
    return {
        "bench": "discord",
        "interactions": args.interactions, "members": args.members, "in_flight": args.in_flight,
        "repeats": args.repeats,
        "mix": "/help, /learn and a lesson-topic button, each in DMs and in a server",
        "anchor": "bare discord.py bot, same interactions, same reply, one response each",
        "interactions_per_s": spread(rates["full"], 1), "bare_interactions_per_s": spread(rates["bare"], 1),
        **ratios("ratio", ratio),
        "p99_first_response_ms": round(pct(latency["full"], 0.99), 1),
        "bare_p99_first_response_ms": round(pct(latency["bare"], 0.99), 1),
        "cpu_us_per_interaction": spread(cpus["full"], 1), "bare_cpu_us_per_interaction": spread(cpus["bare"], 1),
        "responses": "real HTTP to a fake Discord API in its own process, on loopback",
        "database": "sqlite file", "cpus": os.cpu_count(),
    }  # fmt: skip


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interactions", type=positive(int, 100_000), default=1200)
    parser.add_argument("--members", type=positive(int, 10_000), default=120)
    # The same for both bots: as many as the full stack serves at once (its 16 workers).
    # More in flight waits in its fair queue, which adds to the time to a first response.
    parser.add_argument("--in-flight", type=positive(int, 1000), default=WORKERS)
    parser.add_argument("--repeats", type=positive(int, 50), default=5)
    return parser.parse_args()


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(parse()))))
