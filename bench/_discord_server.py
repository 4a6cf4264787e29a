"""A fake Discord HTTP API in a process of its own, for bench/discord.py.

It answers the interaction routes a bot uses to respond, as Discord does in shape:
``POST /api/v10/interactions/{id}/{token}/callback`` (discord.py asks ``with_response``),
follow-ups ``POST /api/v10/webhooks/{app}/{token}``, and ``PATCH`` / ``DELETE`` of
``.../messages/@original``. It notes when each interaction's first response arrived
(``time.monotonic``, the system-wide clock the bench reads too) and counts every call.

``GET /control/take`` returns and forgets what was noted: ``{"first": {id: at}, "calls": n}``.
Prints its origin on the first line of stdout, then serves until stdin closes. Its CPU is
not the bot's, so the bot process's figures are the bot's alone.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from typing import Any

from _loopback import serve_until_stdin_closes
from aiohttp import web

EPHEMERAL = 64
_ids = itertools.count(1_100_000_000_000_000_000)


def message(body: dict[str, Any], channel_id: str = "1") -> dict[str, Any]:
    return {
        "id": str(next(_ids)), "channel_id": channel_id, "content": body.get("content") or "",
        "author": {"id": "1", "username": "bot", "discriminator": "0", "avatar": None, "bot": True},
        "timestamp": "2026-11-23T09:00:00+00:00", "edited_timestamp": None, "tts": False,
        "mention_everyone": False, "mentions": [], "mention_roles": [], "attachments": [],
        "embeds": body.get("embeds") or [], "pinned": False, "type": 0, "flags": int(body.get("flags") or 0),
        "components": body.get("components") or [],
    }  # fmt: skip


def answer(body: dict[str, Any]) -> web.Response:
    # Exactly "application/json", as Discord sends it: discord.py reads nothing else as JSON.
    return web.Response(body=json.dumps(body).encode(), content_type="application/json")


async def main() -> None:
    first: dict[str, float] = {}
    calls = 0

    async def body_of(request: web.Request) -> dict[str, Any]:
        if request.content_type == "multipart/form-data":
            reader = await request.multipart()
            found: dict[str, Any] = {}
            async for part in reader:
                if getattr(part, "name", None) == "payload_json":
                    found = json.loads(await part.text())  # type: ignore[union-attr]
                else:
                    await part.read()  # type: ignore[union-attr]
            return found
        if request.can_read_body:
            return await request.json()  # type: ignore[no-any-return]
        return {}

    async def callback(request: web.Request) -> web.Response:
        nonlocal calls
        at = time.monotonic()
        calls += 1
        key = request.match_info["id"]
        first.setdefault(key, at)
        body = await body_of(request)
        kind = int(body.get("type") or 0)
        data = body.get("data") or {}
        interaction: dict[str, Any] = {"id": key, "type": kind}
        resource: dict[str, Any] = {"type": kind}
        if kind == 5:
            interaction["response_message_loading"] = True
            interaction["response_message_ephemeral"] = bool(int(data.get("flags") or 0) & EPHEMERAL)
        if kind in (4, 7):
            resource["message"] = message(data)
        return answer({"interaction": interaction, "resource": resource})

    async def followup(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        return answer(message(await body_of(request)))

    async def original(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        if request.method == "DELETE":
            return web.Response(status=204)
        return answer(message(await body_of(request)))

    async def take(request: web.Request) -> web.Response:
        nonlocal calls
        out = {"first": dict(first), "calls": calls}
        first.clear()
        calls = 0
        return web.json_response(out)

    app = web.Application()
    app.router.add_post("/api/v10/interactions/{id}/{token}/callback", callback)
    app.router.add_post("/api/v10/webhooks/{app}/{token}", followup)
    app.router.add_route("*", "/api/v10/webhooks/{app}/{token}/messages/{message}", original)
    app.router.add_get("/control/take", take)
    await serve_until_stdin_closes(app)

if __name__ == "__main__":
    asyncio.run(main())
