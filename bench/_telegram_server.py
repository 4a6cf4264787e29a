"""The project's fake Bot API server in a process of its own, for the Telegram benchmarks.

Its CPU is not the bot's, so the bot process's figures are the bot's alone (the real
Telegram's JSON encoding is not ours either). Beside the Bot API it serves control routes
on a second port:

- ``POST /control/inject`` ``{"updates": N, "users": U, "text": "/help", "first_chat": C}``
  queues N text messages from U people;
- ``GET /control/sent?since=K`` reports the sendMessage calls from the K-th call on: how
  many are done, when the first update was queued and when the last reply was done, and
  one reply's text and parse mode (so a bare bot can send exactly the same), and whether a
  long poll is waiting (the bot is ready);
- ``POST /control/flood`` ``{"chat": C, "count": N}`` queues N messages ("message n") from
  one chat at once;
- ``POST /control/stream`` ``{"chat": C, "rate": R}`` starts queueing messages from one
  chat at R a second, in small steps, until ``POST /control/stream/stop``, which answers
  how many were queued;
- ``POST /control/crisis`` ``{"chat": C}`` queues ``/crisis`` from chat C;
- ``GET /control/reply?chat=C&within=S`` waits (at most S seconds; 504 after) for the first
  finished sendMessage to chat C since its ``/crisis`` was queued, and answers the
  milliseconds between the two. Both ends are read on this process's clock, so no time
  is compared across processes.

Prints the Bot API's origin and the control origin on the first line of stdout, then
serves until stdin closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _loopback import serve_until_stdin_closes  # noqa: E402

from fakes.telegram_api import FakeBotAPI  # noqa: E402
from fakes.telegram_objects import Call  # noqa: E402

STREAM_STEP_S = 0.005  # a steady stream is queued in steps this far apart


async def main() -> None:
    api = FakeBotAPI()
    async with api:
        queued_at: list[float] = []
        # chat -> when its /crisis was queued; chat -> when the first reply after that ended.
        asked: dict[int, float] = {}
        answered: dict[int, float] = {}
        waiting: dict[int, asyncio.Future[None]] = {}
        finish = api.state.finish

        def finished(call: Call, status: int | None) -> None:
            finish(call, status)
            chat = call.params.get("chat_id") if call.method == "sendMessage" else None
            if isinstance(chat, int) and chat in asked and chat not in answered:
                answered[chat] = time.perf_counter()
                future = waiting.pop(chat, None)
                if future is not None and not future.done():
                    future.set_result(None)

        api.state.finish = finished  # type: ignore[method-assign]

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

        async def flood(request: web.Request) -> web.Response:
            body = await request.json()
            chat, count = int(body["chat"]), int(body["count"])
            for n in range(count):
                api.inject_update(api.message_update(chat, f"message {n}"))
            return web.json_response({"queued": count})

        streaming: dict[str, object] = {}

        async def stream_on(chat: int, rate: float, sent_so_far: list[int]) -> None:
            # Queued by elapsed time, not by step count: a late step catches up.
            start = time.perf_counter()
            while True:
                due = int((time.perf_counter() - start) * rate)
                while sent_so_far[0] < due:
                    api.inject_update(api.message_update(chat, f"message {sent_so_far[0]}"))
                    sent_so_far[0] += 1
                await asyncio.sleep(STREAM_STEP_S)

        async def stream(request: web.Request) -> web.Response:
            body = await request.json()
            if "task" in streaming:
                return web.json_response({"error": "a stream is running"}, status=409)
            count = [0]
            streaming["count"] = count
            streaming["task"] = asyncio.create_task(stream_on(int(body["chat"]), float(body["rate"]), count))
            return web.json_response({"started": True})

        async def stream_stop(request: web.Request) -> web.Response:
            task = streaming.pop("task", None)
            count = streaming.pop("count", [0])
            if isinstance(task, asyncio.Task):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            return web.json_response({"queued": count[0]})  # type: ignore[index]

        async def crisis(request: web.Request) -> web.Response:
            chat = int((await request.json())["chat"])
            answered.pop(chat, None)
            asked[chat] = time.perf_counter()
            api.inject_update(api.message_update(chat, "/crisis"))
            return web.json_response({"queued": True})

        async def reply(request: web.Request) -> web.Response:
            chat, within = int(request.query["chat"]), float(request.query.get("within", "30"))
            if chat not in asked:
                return web.json_response({"error": "no /crisis queued for this chat"}, status=400)
            if chat not in answered:
                future = waiting.setdefault(chat, asyncio.get_running_loop().create_future())
                try:
                    await asyncio.wait_for(asyncio.shield(future), within)
                except TimeoutError:
                    return web.json_response({"error": "no reply in time"}, status=504)
            return web.json_response({"ms": (answered[chat] - asked[chat]) * 1000})

        control = web.Application()
        control.router.add_post("/control/inject", inject)
        control.router.add_get("/control/sent", sent)
        control.router.add_post("/control/flood", flood)
        control.router.add_post("/control/stream", stream)
        control.router.add_post("/control/stream/stop", stream_stop)
        control.router.add_post("/control/crisis", crisis)
        control.router.add_get("/control/reply", reply)
        await serve_until_stdin_closes(control, api.origin)


if __name__ == "__main__":
    asyncio.run(main())
