"""The Telegram service for an app: the Application, the adapter, polling or the webhook.

``telegram_platform(app)`` builds it all and returns a service for the root's task group
(``ketacompanion.runtime``), which owns signals and the lifecycle. The event loop belongs to
the caller: nothing here calls ``run_polling``.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import timedelta

from telegram import Update
from telegram.error import InvalidToken, NetworkError
from telegram.ext import Application, ApplicationBuilder
from telegram.request import BaseRequest

from ketacompanion.adapters.telegram.adapter import TelegramAdapter
from ketacompanion.adapters.telegram.delivery import PLATFORM, RetryPolicy, TelegramSender
from ketacompanion.adapters.telegram.gate import GatedRequest
from ketacompanion.adapters.telegram.ingress import FairProcessor, IngressBot
from ketacompanion.adapters.telegram.limits import Limits, Monotonic, RateLimiter, Sleep
from ketacompanion.adapters.telegram.request import AiohttpRequest
from ketacompanion.adapters.telegram.webhook import WebhookServer, path_of
from ketacompanion.app import App, texts
from ketacompanion.backlog import Backlog
from ketacompanion.services import PlatformConfigError, PlatformUnavailable, Service
from ketacompanion.settings import Settings

# Only what the bot uses: fewer kinds of update means less data sent to us.
# Edited messages come in to be screened: words added in an edit can still mean danger.
ALLOWED_UPDATES = [
    Update.MESSAGE, Update.EDITED_MESSAGE, Update.CALLBACK_QUERY, Update.MY_CHAT_MEMBER,
]  # fmt: skip


DRAIN_S = 10.0  # how long a stop waits for accepted updates to be handled


class TelegramConfigError(PlatformConfigError):
    """A Telegram setting is missing or contradicts another; the message names it."""


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect: float = 5.0
    read: float = 10.0
    write: float = 30.0  # uploads of exports and charts
    pool: float = 5.0
    poll: float = 30.0  # long polling: how long Telegram may hold getUpdates


def build_application(
    token: str,
    base_url: str = "https://api.telegram.org/bot",
    base_file_url: str = "https://api.telegram.org/file/bot",
    timeouts: Timeouts | None = None,
    request: BaseRequest | None = None,
    updates_request: BaseRequest | None = None,
    concurrency: int = 16,
) -> Application:  # type: ignore[type-arg]
    """A python-telegram-bot Application wired for this bot (requests injectable for tests)."""
    t = timeouts or Timeouts()
    if request is None:
        request = AiohttpRequest(
            connection_pool_size=concurrency * 2, connect_timeout=t.connect,
            read_timeout=t.read, write_timeout=t.write, pool_timeout=t.pool,
        )  # fmt: skip
    if updates_request is None:
        updates_request = AiohttpRequest(
            connection_pool_size=1, connect_timeout=t.connect, read_timeout=t.read,
            write_timeout=t.read, pool_timeout=t.pool,
        )  # fmt: skip
    processor = FairProcessor(concurrency)
    bot = IngressBot(
        token, base_url, base_file_url, request=GatedRequest(request),
        get_updates_request=updates_request,
        admit=processor.admit,  # a full chat's updates are dropped before they are built
        admit_each=processor.admit_each,  # the same for a whole batch at once
        on_batch=processor.on_batch,
    )  # fmt: skip
    return (
        ApplicationBuilder()
        .bot(bot)
        .concurrent_updates(processor)
        .job_queue(None)  # schedules live in our database, not in python-telegram-bot
        .build()
    )


def build_adapter(
    app: App,
    application: Application,  # type: ignore[type-arg]
    limits: Limits | None = None,
    policy: RetryPolicy | None = None,
    clock: Monotonic = time.monotonic,
    sleep: Sleep = asyncio.sleep,
) -> TelegramAdapter:
    limiter = RateLimiter(limits, clock, sleep)
    if isinstance(application.bot.request, GatedRequest):
        application.bot.request.hold = limiter.hold  # one 429 hold for sender and requests
    sender = TelegramSender(application.bot, app.store, limiter, policy, sleep)
    content = app.content
    adapter = TelegramAdapter(
        application, app.companion.handle, sender, texts(content),
        app.settings.default_language, screen=app.companion.screen_only,
        flagged=lambda text: content.current.detector.screen(text).level > 0,
        flagged_each=lambda texts: [s.level > 0 for s in content.current.detector.screen_each(texts)],
    )  # fmt: skip
    processor = application.update_processor
    if isinstance(processor, FairProcessor):
        processor.urgent, processor.urgent_raw = adapter.is_urgent, adapter.is_urgent_raw
        processor.urgent_seen, processor.urgent_each = adapter.is_urgent_seen, adapter.is_urgent_each
        processor.on_flood, processor.on_refused = adapter.flood_notice, adapter.refused_button
        processor.keeper = Backlog(app.store, PLATFORM)
    return adapter


def telegram_service(
    adapter: TelegramAdapter,
    settings: Settings,
    timeouts: Timeouts | None = None,
    webhook: WebhookServer | None = None,
) -> Service:
    """Polling or the webhook, per ``settings.telegram_mode``, until ``stop`` is set."""
    application = adapter.application
    poll = timedelta(seconds=(timeouts or Timeouts()).poll)
    if settings.telegram_mode == "webhook" and webhook is None:
        webhook = webhook_server(application, settings)

    async def serve(stop: asyncio.Event) -> None:
        await _initialize(application)  # getMe now; shutdown (closing connections) on the way out
        async with application:
            await adapter.register_commands()
            await application.start()
            processor = application.update_processor
            if isinstance(processor, FairProcessor):
                # What the last stop kept goes first, before anything new is read.
                for update in await processor.restore(application.bot):
                    await application.update_queue.put(update)
            try:
                if webhook is not None:
                    await webhook.start()
                    secret = settings.telegram_webhook_secret
                    await application.bot.set_webhook(
                        str(settings.telegram_webhook_url),
                        secret_token=secret.get_secret_value() if secret else None,
                        allowed_updates=ALLOWED_UPDATES,
                    )
                else:
                    assert application.updater is not None
                    await application.updater.start_polling(
                        timeout=poll, allowed_updates=ALLOWED_UPDATES
                    )
                await stop.wait()
            finally:
                # Take nothing new in, then finish what is in flight.
                if application.updater is not None and application.updater.running:
                    await application.updater.stop()
                if webhook is not None:
                    await webhook.stop()
                if application.running:
                    await application.stop()
                processor = application.update_processor
                if isinstance(processor, FairProcessor):
                    await processor.drain(DRAIN_S)  # while the bot can still send

    return serve


async def _initialize(application: Application) -> None:  # type: ignore[type-arg]
    """getMe, with the two ways it fails at start as one line each instead of a traceback."""
    try:
        await application.initialize()
    except InvalidToken:
        await application.shutdown()
        raise PlatformUnavailable("Telegram refused the token in KETACOMPANION_TELEGRAM_TOKEN") from None
    except NetworkError as exc:
        await application.shutdown()
        raise PlatformUnavailable(
            f"cannot reach Telegram ({type(exc).__name__}); check the network and "
            "KETACOMPANION_TELEGRAM_BASE_URL"
        ) from None


def telegram_platform(app: App) -> Service:
    """The Telegram adapter for ``app``: its sender joins the outbox; the service it returns
    polls or serves the webhook until ``stop``."""
    settings = app.settings
    check_settings(settings)
    assert settings.telegram_token is not None
    application = build_application(
        settings.telegram_token.get_secret_value(), settings.telegram_base_url,
        settings.telegram_base_file_url,
    )  # fmt: skip
    adapter = build_adapter(app, application)
    app.add_sender(adapter.sender)  # the outbox reaches Telegram through the same pacing
    return telegram_service(adapter, settings)


def webhook_server(application: Application, settings: Settings) -> WebhookServer:  # type: ignore[type-arg]
    check_settings(settings)
    secret = settings.telegram_webhook_secret
    assert secret is not None
    return WebhookServer(
        application, secret.get_secret_value(), settings.telegram_webhook_listen,
        settings.telegram_webhook_port, path_of(settings.telegram_webhook_url),
    )  # fmt: skip


def check_settings(settings: Settings) -> None:
    if settings.telegram_token is None:
        raise TelegramConfigError("KETACOMPANION_TELEGRAM_TOKEN is not set")
    if settings.telegram_mode != "webhook":
        return
    if not settings.telegram_webhook_url or not settings.telegram_webhook_url.startswith("https://"):
        raise TelegramConfigError(
            "KETACOMPANION_TELEGRAM_WEBHOOK_URL must be the public https:// address of the webhook"
        )
    secret = settings.telegram_webhook_secret
    value = secret.get_secret_value() if secret else ""
    if not 1 <= len(value) <= 256 or not all(c.isalnum() or c in "_-" for c in value):
        raise TelegramConfigError(
            "KETACOMPANION_TELEGRAM_WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, _ and -"
        )
