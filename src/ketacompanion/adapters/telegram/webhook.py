"""The webhook endpoint: an aiohttp server behind the operator's TLS reverse proxy.

Telegram sends the secret given to ``setWebhook`` in ``X-Telegram-Bot-Api-Secret-Token``.
A wrong or missing secret gets 403 before the body is read, so nothing reaches the bot.
A good request is queued for python-telegram-bot and answered 200 at once, as Telegram
expects; an unparseable body also gets 200, because Telegram would only resend it.
"""

from __future__ import annotations

import hmac
import json
import logging
from urllib.parse import urlsplit

from aiohttp import web
from telegram.ext import Application

from ketacompanion.adapters.telegram.ingress import FairProcessor, parse_update

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
DEFAULT_PATH = "/telegram"
MAX_BODY = 1024 * 1024  # updates are small; a huge body is refused (413) unread


def path_of(url: str | None) -> str:
    """The path the proxy forwards, taken from the public webhook URL."""
    path = urlsplit(url).path if url else ""
    return path if path and path != "/" else DEFAULT_PATH


class WebhookServer:
    def __init__(
        self,
        application: Application,  # type: ignore[type-arg]
        secret: str,
        listen: str = "127.0.0.1",
        port: int = 8443,
        path: str = DEFAULT_PATH,
    ) -> None:
        if not secret:
            raise ValueError("a webhook needs a secret token")
        self._application, self._secret = application, secret.encode("utf-8")
        self._listen, self._port, self.path = listen, port, path
        self._runner: web.AppRunner | None = None

    @property
    def port(self) -> int:
        """The bound port (useful when started on port 0)."""
        if self._runner is None or not self._runner.addresses:
            return self._port
        return int(self._runner.addresses[0][1])

    @property
    def local_url(self) -> str:
        return f"http://{self._listen}:{self.port}{self.path}"

    async def start(self) -> None:
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_post(self.path, self._on_post)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=5.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, self._listen, self._port).start()
        log.info("webhook listening", extra={"mode": "webhook", "count": self.port})

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _authorised(self, request: web.Request) -> bool:
        given = request.headers.get(SECRET_HEADER, "").encode("utf-8")
        return hmac.compare_digest(given, self._secret)

    async def _on_post(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            log.warning("webhook request without the right secret", extra={"status": 403})
            return web.Response(status=403)
        if not self._application.running:
            return web.Response(status=503)  # Telegram retries later
        try:
            data = json.loads(await request.read())
        except ValueError:  # not JSON, or not UTF-8
            data = None
        except RecursionError:  # nested deeper than any update: not from Telegram
            log.warning("webhook body nested too deep", extra={"status": 400})
            return web.Response(status=400)
        processor = self._application.update_processor
        fair = processor if isinstance(processor, FairProcessor) and isinstance(data, dict) else None
        if fair is not None and not fair.admit(data):  # type: ignore[arg-type]
            return web.Response(status=200)  # a full chat's update: counted, not built
        try:
            update = parse_update(data, self._application.bot)
        except RecursionError:
            if fair is not None:
                fair.forget(data)  # type: ignore[arg-type]
            log.warning("webhook body nested too deep", extra={"status": 400})
            return web.Response(status=400)
        if update is None:
            if fair is not None:
                fair.forget(data)  # type: ignore[arg-type]  # it takes no place in the queue
            log.warning("malformed webhook update ignored", extra={"kind": "malformed"})
            return web.Response(status=200)
        await self._application.update_queue.put(update)
        return web.Response(status=200)
