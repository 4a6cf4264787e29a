"""A 429 holds every request to Telegram until its ``retry_after`` ends, including those
already past the rate limiter; afterwards everything goes out, each chat in order."""

from __future__ import annotations

import asyncio

from telegram import Bot

from ketacompanion.adapters.telegram.delivery import TelegramSender
from ketacompanion.adapters.telegram.gate import GatedRequest, retry_after
from ketacompanion.adapters.telegram.limits import Limits, RateLimiter
from ketacompanion.core.model import Address, Reply

from fakes.manual_time import ManualTime
from fakes.telegram_objects import BotApiState
from fakes.telegram_request import RecordingRequest


async def settle() -> None:
    for _ in range(50):
        await asyncio.sleep(0)


def sent(state: BotApiState) -> list[tuple[object, str]]:
    return [(c.params["chat_id"], c.params["text"]) for c in state.calls
            if c.method == "sendMessage" and c.status == 200]  # fmt: skip


async def test_nothing_is_sent_during_a_429_hold_and_everything_after_it_in_order() -> None:
    time = ManualTime()
    state = BotApiState(clock=time)
    gated = GatedRequest(RecordingRequest(state))
    bot = Bot(state.token, request=gated, get_updates_request=RecordingRequest(state))
    limiter = RateLimiter(Limits.off(), time, time.sleep)
    gated.hold = limiter.hold
    sender = TelegramSender(bot, None, limiter, sleep=time.sleep)
    async with bot:
        state.fail_next("sendMessage", 429, retry_after=30)

        async def chat_one() -> None:
            for n in range(3):
                await sender.send(Address("telegram", "1"), Reply(f"one {n}"))

        first = asyncio.create_task(chat_one())
        await settle()
        assert limiter.hold.remaining() == 30  # set by the request wrapper itself
        # A request already past the limiter, and a button answer that never meets it.
        past = asyncio.create_task(bot.send_message(2, "two 0"))
        button = asyncio.create_task(bot.get_me())
        await settle()
        before = len(state.calls)
        await time.advance(29.9)
        assert len(state.calls) == before  # not one request during the hold
        assert sent(state) == []
        await time.advance(0.2)
        await asyncio.gather(first, past, button)
    assert [t for c, t in sent(state) if c == 1] == ["one 0", "one 1", "one 2"]
    assert ("2", "two 0") in [(str(c), t) for c, t in sent(state)]
    rejected = [c for c in state.calls if c.status == 429]
    assert len(rejected) == 1
    assert all(c.at >= rejected[0].at + 30 for c in state.calls if c is not rejected[0] and c.at > rejected[0].at)


def test_retry_after_is_read_only_from_a_well_formed_answer() -> None:
    assert retry_after(b'{"ok": false, "parameters": {"retry_after": 7}}') == 7
    assert retry_after(b'{"ok": false}') is None
    assert retry_after(b"not json") is None
    assert retry_after(b'{"parameters": {"retry_after": true}}') is None
    assert retry_after(b"[1]") is None
