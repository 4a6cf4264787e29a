"""Discord throughput: the full stack against a bare discord.py bot, same interactions, same run.

Both bots are real discord.py clients fed raw INTERACTION_CREATE payloads (no network);
every response goes to a recording webhook adapter. The bare bot answers each slash
command with one message; the full stack defers, runs the companion on a SQLite file and
sends its follow-ups. Both see the same mix (/help and /learn from many members, in DMs
and a server), the same number in flight at once, in paired rounds (order alternating).
Prints one JSON line: interactions per second for each, their ratio (min/median/max over
the rounds) and the p99 time from an interaction to its first response.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# This file is named like the library: keep its own folder off the path so "discord" is discord.py.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT / "tests"))
warnings.filterwarnings("ignore", category=DeprecationWarning)

import discord  # noqa: E402
import discord.ext.test as dpytest  # noqa: E402
from discord import app_commands  # noqa: E402
from discord.webhook.async_ import AsyncWebhookAdapter, async_context  # noqa: E402

from ketacompanion.app import build_app  # noqa: E402
from ketacompanion.settings import load_settings  # noqa: E402

from fakes.discord_harness import Harness  # noqa: E402

COMMANDS = ("help", "learn")


class Timing(AsyncWebhookAdapter):
    """Records when each interaction got its first response and how many it got."""

    def __init__(self) -> None:
        super().__init__()
        self.first: dict[str, float] = {}
        self.count: dict[str, int] = {}
        self.by_token: dict[str, str] = {}

    async def request(self, route: Any, session: Any, **kw: Any) -> Any:
        now = time.perf_counter()
        body = kw.get("payload") or {}
        if route.path.endswith("/callback"):
            key = str(route.webhook_id)
            self.first.setdefault(key, now)
            self.count[key] = self.count.get(key, 0) + 1
            return {"interaction": {"id": key, "type": body.get("type")}, "resource": {"type": body.get("type")}}
        key = self.by_token.get(str(route.webhook_token), "?")
        self.count[key] = self.count.get(key, 0) + 1
        return {"id": "1", "channel_id": "1", "content": "", "author": {"id": "1", "username": "b", "discriminator": "0",
                "avatar": None}, "timestamp": "2026-11-23T09:00:00+00:00", "edited_timestamp": None, "tts": False,
                "mention_everyone": False, "mentions": [], "mention_roles": [], "attachments": [], "embeds": [],
                "pinned": False, "type": 0}  # fmt: skip


def bare_bot() -> discord.Client:
    client = discord.Client(intents=discord.Intents.none())
    tree = app_commands.CommandTree(client)
    for name in COMMANDS:

        async def answer(interaction: discord.Interaction[Any]) -> None:
            await interaction.response.send_message("ok", ephemeral=interaction.guild is not None)

        tree.add_command(app_commands.Command(name=name, description=name, callback=answer))
    client.tree = tree  # type: ignore[attr-defined]
    return client


async def drive(harness: Harness, client: discord.Client, total: int, window: int, done_after: int) -> tuple[float, list[float]]:
    """Feed ``total`` interactions, ``window`` in flight; returns (per second, first-response latencies)."""
    timing = Timing()
    async_context.set(timing)
    sent_at: dict[str, float] = {}
    members = [harness.ann, harness.mod, harness.bo]
    start = time.perf_counter()
    for batch in range(0, total, window):
        keys = []
        for n in range(batch, min(total, batch + window)):
            payload = harness._base(2, members[n % 3], guild=n % 2 == 0)
            payload["application_id"] = str(client.application_id or 1)
            payload["data"] = {"id": "1", "name": COMMANDS[n % 2], "type": 1, "options": []}
            timing.by_token[payload["token"]] = payload["id"]
            sent_at[payload["id"]] = time.perf_counter()
            keys.append(payload["id"])
            client._connection.parse_interaction_create(payload)  # type: ignore[arg-type]
        # Yield until every response is in: an event per response would cost more than it measures.
        while any(timing.count.get(k, 0) < done_after for k in keys):  # noqa: ASYNC110
            await asyncio.sleep(0)
    elapsed = time.perf_counter() - start
    latencies = [timing.first[k] - sent_at[k] for k in sent_at if k in timing.first]
    return total / elapsed, latencies


async def main(total: int, window: int, rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(
            database_url=f"sqlite+aiosqlite:///{tmp}/bench.db", key_file=Path(tmp) / "k", discord_token="x",
            content_dir=ROOT / "content", log_level="ERROR",
        )  # fmt: skip
        app = await build_app(settings)
        harness = Harness(app)
        await harness.start()
        bare = bare_bot()
        await bare._async_setup_hook()
        full_rates, bare_rates, latencies = [], [], []
        try:
            for r in range(rounds):
                order = ("bare", "full") if r % 2 == 0 else ("full", "bare")
                for which in order:
                    if which == "bare":
                        harness.bot._connection._command_tree = bare.tree  # type: ignore[attr-defined]
                        rate, _ = await drive(harness, harness.bot, total, window, done_after=1)
                        bare_rates.append(rate)
                    else:
                        harness.bot._connection._command_tree = harness.bot.tree
                        rate, lat = await drive(harness, harness.bot, total, window, done_after=2)
                        full_rates.append(rate)
                        latencies += lat
        finally:
            await dpytest.empty_queue()
            await app.close()
    ratios = [f / b for f, b in zip(full_rates, bare_rates, strict=True)]
    latencies.sort()
    p99 = latencies[max(0, int(len(latencies) * 0.99) - 1)] if latencies else None
    return {
        "bench": "discord", "interactions": total, "in_flight": window, "rounds": rounds,
        "full_per_s": round(statistics.median(full_rates), 1), "bare_per_s": round(statistics.median(bare_rates), 1),
        "ratio": {"min": round(min(ratios), 3), "median": round(statistics.median(ratios), 3), "max": round(max(ratios), 3)},
        "p99_first_response_ms": round(p99 * 1000, 2) if p99 is not None else None,
        "cpus": os.cpu_count(),
    }  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interactions", type=int, default=1000)
    parser.add_argument("--in-flight", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.interactions, args.in_flight, args.rounds))))
