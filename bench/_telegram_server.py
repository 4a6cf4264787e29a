"""The project's fake Bot API server in a process of its own, for bench/telegram.py.

Its CPU is not the bot's, so the bot process's figures are the bot's alone. Beside the
Bot API it serves two control routes on a second port:

- ``POST /control/inject`` ``{"updates": N, "users": U, "text": "/help", "first_chat": C}``
  queues N text messages from U people;
- ``GET /control/sent?since=K`` reports the sendMessage calls from the K-th call on: how
  many are done, when the first update was queued and when the last reply was done, and
  one reply's text and parse mode (so a bare bot can send exactly the same), and whether a
  long poll is waiting (the bot is ready).

Prints the Bot API's origin and the control origin on the first line of stdout, then
serves until stdin closes.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _loopback import serve_until_stdin_closes  # noqa: E402

from fakes.telegram_api import FakeBotAPI  # noqa: E402


async def main() -> None:
    api = FakeBotAPI()
    async with api:
        queued_at: list[float] = []

        async def inject(request: web.Request) -> web.Response:
            body = await request.json()
            n, users = int(body["updates"]), int(body["users"])
            first_chat, text = int(body.get("first_chat", 1000)), str(body.get("text", "/help"))
            queued_at.append(api.state.clock())
            start = len(api.calls)
            for i in range(n):
                api.inject_update(api.message_update(first_chat + i % users, text))
            return web.json_response({"since": start, "queued_at": queued_at[-1]})

        async def sent(request: web.Request) -> web.Response:
            since = int(request.query.get("since", "0"))
            done, last, sample = 0, 0.0, None
            for call in api.calls[since:]:
                if call.method == "sendMessage" and call.done:
                    done += 1
                    last = max(last, call.at)
                    sample = sample or {"text": call.params.get("text"), "parse_mode": call.params.get("parse_mode")}
            polling = any(c.method == "getUpdates" and not c.done for c in api.calls[-64:])
            return web.json_response({"done": done, "last_at": last, "sample": sample, "polling": polling})

        control = web.Application()
        control.router.add_post("/control/inject", inject)
        control.router.add_get("/control/sent", sent)
        await serve_until_stdin_closes(control, api.origin)

if __name__ == "__main__":
    asyncio.run(main())
