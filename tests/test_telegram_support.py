"""Helpers shared by the Telegram tests (no tests here): a fake clock, a stub core, a store
that records ``mark_unreachable``, and an adapter wired to the in-process fake Bot API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from pydantic import SecretStr
from telegram import Update
from telegram.ext import Application
from telegram.request import BaseRequest

from ketacompanion.adapters.telegram.adapter import TelegramAdapter
from ketacompanion.adapters.telegram.delivery import RetryPolicy, TelegramSender
from ketacompanion.adapters.telegram.limits import Limits, RateLimiter
from ketacompanion.adapters.telegram.runner import Timeouts, build_application, telegram_service
from ketacompanion.adapters.telegram.webhook import WebhookServer
from ketacompanion.app import App
from ketacompanion.app import texts as app_texts
from ketacompanion.core.model import Inbound, Reply

from fakes.telegram_api import FakeBotAPI
from fakes.telegram_objects import BotApiState, Call
from fakes.telegram_request import RecordingRequest

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
    screen: Callable[[Inbound], list[Reply]] = lambda inbound: []
    screened: list[Inbound] = field(default_factory=list)

    async def handle(self, inbound: Inbound) -> list[Reply]:
        self.seen.append(inbound)
        return self.answer(inbound)

    async def screen_only(self, inbound: Inbound) -> list[Reply]:
        self.screened.append(inbound)
        return self.screen(inbound)


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
    adapter = TelegramAdapter(application, core.handle, sender, texts, screen=core.screen_only)
    async with application:
        yield Rig(state, application, adapter, core, store, time)


# --- the whole stack over HTTP: the fake Bot API on loopback, polling or webhook ---------------

SECRET = "s3cret-token_ok"
SENDS = {"sendMessage", "sendPhoto", "sendDocument", "editMessageText"}


class TracedAdapter(TelegramAdapter):
    """Tells the test when each update has been fully handled (replies sent)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.handled: set[int] = set()
        self._changed = asyncio.Condition()

    async def on_update(self, update: Update, context: Any) -> None:
        try:
            await super().on_update(update, context)
        finally:
            async with self._changed:
                self.handled.add(update.update_id)
                self._changed.notify_all()

    async def wait_handled(self, update_id: int, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: update_id in self.handled)


@dataclass
class LiveRig:
    api: FakeBotAPI
    app: App
    adapter: TracedAdapter
    mode: str
    webhook: WebhookServer | None
    time: FakeTime

    async def deliver(self, update: dict[str, Any]) -> None:
        """Hand ``update`` over the way Telegram would in this mode, and wait until handled."""
        if self.webhook is not None:
            status = await self.api.post_update(self.webhook.local_url, update, SECRET)
            assert status == 200
        else:
            self.api.inject_update(update)
        await self.adapter.wait_handled(update["update_id"])

    async def say(self, chat: int, text: str, **extra: Any) -> list[Call]:
        before = len(self.api.calls)
        await self.deliver(self.api.message_update(chat, text, **extra))
        return [c for c in self.api.calls[before:] if c.method in SENDS]

    async def press(self, chat: int, prefix: str) -> list[Call]:
        """Tap the newest button in ``chat`` whose id starts with ``prefix``."""
        for call in reversed(self.api.sent_messages(chat)):
            for row in (call.params.get("reply_markup") or {}).get("inline_keyboard", []):
                for button in row:
                    data = button.get("callback_data", "")
                    if data.startswith(prefix):
                        before = len(self.api.calls)
                        message_id = call.result["message_id"]
                        await self.deliver(self.api.callback_update(chat, data, message_id))
                        return [c for c in self.api.calls[before:] if c.method in SENDS]
        raise AssertionError(f"no button {prefix!r} in chat {chat}")

    async def onboard(self, chat: int) -> None:
        await self.say(chat, "/start")
        await self.press(chat, "start:agree")
        await self.press(chat, "start:country:US")
        await self.press(chat, "start:tz:America|New_York")


@asynccontextmanager
async def live_rig(
    api: FakeBotAPI,
    app: App,
    mode: str,
    time: FakeTime,
    policy: RetryPolicy | None = None,
    timeouts: Timeouts | None = None,
) -> AsyncIterator[LiveRig]:
    timeouts = timeouts or Timeouts(connect=2, read=2, write=2, pool=2, poll=2)
    settings = app.settings.model_copy(update={
        "telegram_mode": mode, "telegram_webhook_url": "https://bot.example/telegram",
        "telegram_webhook_secret": SecretStr(SECRET),
    })  # fmt: skip
    application = build_application(api.token, api.base_url, api.base_file_url, timeouts)
    sender = TelegramSender(
        application.bot, app.store, RateLimiter(Limits(), time, time.sleep), policy, time.sleep
    )
    adapter = TracedAdapter(
        application, app.companion.handle, sender, app_texts(app.content),
        screen=app.companion.screen_only,
    )
    app.add_sender(sender)
    webhook = WebhookServer(application, SECRET, "127.0.0.1", 0) if mode == "webhook" else None
    stop = asyncio.Event()
    task = asyncio.create_task(telegram_service(adapter, settings, timeouts, webhook)(stop))
    try:
        ready = "setWebhook" if webhook is not None else "getUpdates"
        await api.wait_for(lambda c: c.method == ready, pending=True)
        if webhook is not None:
            await api.wait_for(lambda c: c.method == "setWebhook")
        yield LiveRig(api, app, adapter, mode, webhook, time)
    finally:
        stop.set()
        await task
