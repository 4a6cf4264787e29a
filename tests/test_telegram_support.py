"""Helpers shared by the Telegram tests (no tests here): a fake clock, a stub core, a store
that records ``mark_unreachable``, and an adapter wired to the in-process fake Bot API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from telegram import Update
from telegram.ext import Application
from telegram.request import BaseRequest

from fakes.telegram_objects import BotApiState, Call
from fakes.telegram_request import RecordingRequest
from ketacompanion.adapters.telegram.adapter import TelegramAdapter
from ketacompanion.adapters.telegram.delivery import RetryPolicy, TelegramSender
from ketacompanion.adapters.telegram.limits import Limits, RateLimiter
from ketacompanion.adapters.telegram.runner import build_application
from ketacompanion.core.model import Inbound, Reply

TOKEN = "123:ABC"
BOT_USERNAME = "ketacompanion_test_bot"  # what the fake's getMe answers


class FakeTime:
    """A clock that moves only when something sleeps on it; seconds since the epoch, so the
    fake Bot API can stamp its calls with it too."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += max(seconds, 0.0)
        await asyncio.sleep(0)


class FakeStore:
    """Just enough of the store for the sender: a transaction with ``users``."""

    def __init__(self) -> None:
        self.unreachable: list[tuple[str, str]] = []

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Any]:
        yield SimpleNamespace(users=self)

    async def mark_unreachable(self, platform: str, chat_id: str) -> int | None:
        self.unreachable.append((platform, chat_id))
        return 1


@dataclass
class StubCore:
    """Stands in for ``Companion.handle``: records what came in, answers what it is told."""

    answer: Callable[[Inbound], list[Reply]] = lambda inbound: [Reply("ok")]
    seen: list[Inbound] = field(default_factory=list)

    async def handle(self, inbound: Inbound) -> list[Reply]:
        self.seen.append(inbound)
        return self.answer(inbound)


def texts(lang: str) -> Callable[..., str]:
    def t(key: str, **values: object) -> str:
        return f"<{key}>"  # markup characters on purpose: they must arrive as written

    return t


@dataclass
class Rig:
    state: BotApiState
    application: Application  # type: ignore[type-arg]
    adapter: TelegramAdapter
    core: StubCore
    store: FakeStore
    time: FakeTime

    @property
    def calls(self) -> list[Call]:
        return self.state.calls

    def called(self, method: str) -> list[Call]:
        return [c for c in self.state.calls if c.method == method]

    async def feed(self, raw: dict[str, Any]) -> None:
        await self.application.process_update(Update.de_json(raw, self.application.bot))


@asynccontextmanager
async def unit_rig(
    policy: RetryPolicy | None = None,
    limits: Limits | None = None,
    request: Callable[[BotApiState], BaseRequest] = RecordingRequest,
) -> AsyncIterator[Rig]:
    """The real Application and adapter over ``RecordingRequest``: no sockets."""
    time = FakeTime()
    state = BotApiState(TOKEN, clock=time)
    application = build_application(
        TOKEN, request=request(state), updates_request=RecordingRequest(state)
    )
    store, core = FakeStore(), StubCore()
    sender = TelegramSender(
        application.bot, store, RateLimiter(limits or Limits(), time, time.sleep), policy,  # type: ignore[arg-type]
        time.sleep,
    )  # fmt: skip
    adapter = TelegramAdapter(application, core.handle, sender, texts)
    async with application:
        yield Rig(state, application, adapter, core, store, time)
