"""python-telegram-bot's HTTP calls over one aiohttp session.

PTB's default ``HTTPXRequest`` spends more CPU on httpx/httpcore connection-pool
bookkeeping than the bot spends on a message. aiohttp (already needed for webhooks)
keeps connections alive with far less work per call. Errors map to PTB's own
``TimedOut`` and ``NetworkError`` as ``HTTPXRequest`` maps them, so every caller's
retry rules stay the same; no message names the URL, which holds the bot token.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

# A Bot API path (/bot<token>/method, /file/bot<token>/path) or anything shaped like a token.
_TOKEN = re.compile(r"(?<=/bot)[^/\s]+|\d+:[A-Za-z0-9_-]{20,}")
log = logging.getLogger(__name__)
_FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _redacted(text: str) -> str:
    return _TOKEN.sub("<token>", text)


class AiohttpRequest(BaseRequest):
    """One ``aiohttp.ClientSession`` with keep-alive, opened by ``initialize``.

    Timeouts, per call or the defaults given here: ``connect`` bounds opening a new
    connection, ``pool`` plus ``connect`` bounds getting one (aiohttp counts waiting
    for a free pooled connection in its connect timeout), ``read`` bounds each wait for
    data, and aiohttp having no write timeout, ``write`` bounds the whole call together
    with the others."""

    def __init__(
        self,
        connection_pool_size: int = 1,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        self._size = connection_pool_size
        self._read, self._write = read_timeout, write_timeout
        self._connect, self._pool = connect_timeout, pool_timeout
        self._media_write = media_write_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._size, keepalive_timeout=60.0)
            # No cookies (the Bot API sets none) and no default timeout: each call sets its own.
            self._session = aiohttp.ClientSession(
                connector=connector, cookie_jar=aiohttp.DummyCookieJar(), timeout=aiohttp.ClientTimeout(total=None),
                headers={"User-Agent": self.USER_AGENT},
            )  # fmt: skip

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        session = self._session
        if session is None or session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = (
            request_data.multipart_data
            if request_data is not None and request_data.contains_files
            else None
        )
        read = self._read if isinstance(read_timeout, DefaultValue) else read_timeout
        connect = self._connect if isinstance(connect_timeout, DefaultValue) else connect_timeout
        pool = self._pool if isinstance(pool_timeout, DefaultValue) else pool_timeout
        if isinstance(write_timeout, DefaultValue):
            write_timeout = self._media_write if files else self._write
        parts = (read, write_timeout, connect, pool)
        timeout = aiohttp.ClientTimeout(
            total=sum(parts) if all(p is not None for p in parts) else None,
            connect=None if connect is None or pool is None else connect + pool,
            sock_connect=connect,
            sock_read=read,
        )
        headers: dict[str, str] | None = None
        body: Any = None
        if files:
            form = aiohttp.FormData(quote_fields=False)
            for name, value in request_data.json_parameters.items():  # type: ignore[union-attr]
                form.add_field(name, value)
            for name, part in files.items():
                if isinstance(part, tuple):
                    filename, content, *mime = part
                    form.add_field(
                        name, content, filename=filename, content_type=mime[0] if mime else None
                    )
                else:
                    form.add_field(name, part, filename=name)
            body = form
        elif request_data is not None:
            body, headers = request_data.url_encoded_parameters(), _FORM
        try:
            async with session.request(
                method, url, data=body, headers=headers, timeout=timeout
            ) as response:
                body = await response.read()
        except TimeoutError as err:  # aiohttp's ServerTimeoutError is one too
            raise TimedOut from err
        except aiohttp.ClientError as err:
            # The class name only, and redacted: aiohttp's messages can carry the URL.
            raise NetworkError(f"aiohttp.{type(err).__name__}: {_redacted(str(err))}") from err
        if log.isEnabledFor(logging.DEBUG):  # as httpx logs each call, the token cut out here
            log.debug("HTTP Request: %s %s %d", method, _redacted(url), response.status)
        return response.status, body
