"""A fake Telegram Bot API server on loopback, for polling, webhook and fault tests.

    async with FakeBotAPI(token="123:ABC") as api:
        app = (ApplicationBuilder().token(api.token)
               .base_url(api.base_url).base_file_url(api.base_file_url).build())

python-telegram-bot appends the token to ``base_url`` (``.../bot`` + ``123:ABC``), exactly as
for a self-hosted Bot API server. Behaviour lives in ``BotApiState`` (shared with the
in-process ``RecordingRequest``); this module adds HTTP and the faults only a socket can have:
hanging and dropped connections.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import aiohttp
from aiohttp import web

from .telegram_objects import (
    ApiError,
    BotApiState,
    Call,
    ChatId,
    JSONDict,
    UploadedFile,
    decode_form_params,
)


@dataclass
class _SocketFault:
    kind: str  # "hang" or "drop"
    processed: bool  # apply the method before hanging or dropping


class FakeBotAPI:
    """An aiohttp server answering ``/bot{token}/{method}`` like Telegram."""

    def __init__(
        self,
        token: str = "123:ABC",
        *,
        state: BotApiState | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if state is None:
            state = BotApiState(token, clock=clock) if clock else BotApiState(token)
        self.state = state
        self.token = state.token
        self._socket_faults: dict[str, deque[_SocketFault]] = {}
        self._held_chats: set[ChatId] = set()
        self._released = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._port = 0

    # --- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> FakeBotAPI:
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._on_method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._on_file)
        # handler_cancellation: a client that gives up (timeout) cancels its long poll here.
        self._runner = web.AppRunner(
            app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = self._runner.addresses[0][1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        # End long polls and hangs first so the server need not wait for them.
        self.state.close()
        self._released.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def base_url(self) -> str:
        return f"{self.origin}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.origin}/file/bot"

    # --- the shared state, re-exported for brevity in tests -----------------------------------

    @property
    def calls(self) -> list[Call]:
        return self.state.calls

    def sent_messages(self, chat_id: ChatId | None = None) -> list[Call]:
        return self.state.sent_messages(chat_id)

    async def wait_for(
        self,
        predicate: Callable[[Call], bool],
        timeout: float = 5.0,  # noqa: ASYNC109 - a bounded wait is the point of this helper
        *,
        pending: bool = False,
    ) -> Call:
        return await self.state.wait_for(predicate, timeout, pending=pending)

    def inject_update(self, update: JSONDict) -> JSONDict:
        return self.state.inject_update(update)

    def message_update(
        self,
        chat_id: ChatId,
        text: str,
        user_id: int | None = None,
        chat_type: str = "private",
        **extra: Any,
    ) -> JSONDict:
        return self.state.message_update(chat_id, text, user_id, chat_type, **extra)

    def callback_update(
        self, chat_id: ChatId, data: str, message_id: int, user_id: int | None = None
    ) -> JSONDict:
        return self.state.callback_update(chat_id, data, message_id, user_id)

    def fail_next(
        self,
        method: str,
        error_code: int,
        description: str | None = None,
        retry_after: int | None = None,
        count: int = 1,
    ) -> None:
        self.state.fail_next(method, error_code, description, retry_after, count)

    def block_chat(self, chat_id: ChatId) -> None:
        self.state.block_chat(chat_id)

    def unblock_chat(self, chat_id: ChatId) -> None:
        self.state.unblock_chat(chat_id)

    # --- socket faults -----------------------------------------------------------------------

    def hang_next(self, method: str, *, processed: bool = False) -> None:
        """The next ``method`` request gets no answer until ``release()``.

        With ``processed`` the method takes effect before the hang (the client cannot know it
        did); otherwise it takes effect on release. ``close()`` ends a hang without applying it.
        """
        self._add_socket_fault(method, _SocketFault("hang", processed))

    def drop_next(self, method: str, *, processed: bool = False) -> None:
        """The next ``method`` request is read, then its connection closed without an answer.

        With ``processed`` the method takes effect first: a send that happened although the
        client saw a network error.
        """
        self._add_socket_fault(method, _SocketFault("drop", processed))

    def release(self) -> None:
        """Let every hung request go on."""
        self._released.set()
        self._released = asyncio.Event()

    def hold_replies(self, chat_id: ChatId) -> None:
        """Every sendMessage to ``chat_id`` takes effect, then gets no answer until
        ``stop_holding`` or ``close()``: a sender killed meanwhile cannot know it arrived."""
        self._held_chats.add(chat_id)

    def stop_holding(self, chat_id: ChatId) -> None:
        self._held_chats.discard(chat_id)
        self.release()

    async def _apply_and_hold(self, call: Call, token: str, request: web.Request) -> web.StreamResponse:
        try:
            await self.state.execute(call, token)
            while call.params.get("chat_id") in self._held_chats and not self.state.closed:
                await self._released.wait()
        except asyncio.CancelledError:
            self.state.finish(call, None)  # the client went away (killed) without an answer
            raise
        self.state.finish(call, None)
        _drop_connection(request)
        return web.Response(status=503)

    def _add_socket_fault(self, method: str, fault: _SocketFault) -> None:
        self._socket_faults.setdefault(self.state.canonical(method), deque()).append(fault)

    # --- webhook side ------------------------------------------------------------------------

    async def post_update(self, url: str, update: JSONDict, secret_token: str | None = None) -> int:
        """POST ``update`` to a bot's webhook as Telegram does; returns the HTTP status."""
        headers = {"Content-Type": "application/json"}
        if secret_token is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret_token
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, data=json.dumps(update), headers=headers) as response,
        ):
            await response.read()
            return response.status

    # --- HTTP --------------------------------------------------------------------------------

    async def _on_method(self, request: web.Request) -> web.StreamResponse:
        try:
            params, files = await _read_params(request)
        except ApiError as error:
            return _json_response(error.code, error.envelope())
        call = self.state.record(request.match_info["method"], params, files)
        token = request.match_info["token"]
        if call.method == "sendMessage" and call.params.get("chat_id") in self._held_chats:
            return await self._apply_and_hold(call, token, request)
        queue = self._socket_faults.get(call.method)
        fault = queue.popleft() if queue else None
        try:
            envelope: JSONDict | None = None
            if fault is None or fault.processed:
                status, envelope = await self.state.execute(call, token)
            if fault is not None and fault.kind == "drop":
                self.state.finish(call, None)
                _drop_connection(request)
                return web.Response(status=500)  # never reaches the client
            if fault is not None:
                released = self._released
                await released.wait()
                if self.state.closed and envelope is None:
                    self.state.finish(call, None)
                    _drop_connection(request)
                    return web.Response(status=503)
            if envelope is None:
                status, envelope = await self.state.execute(call, token)
        except asyncio.CancelledError:
            # The client went away (its timeout) while we waited: it got no answer.
            self.state.finish(call, None)
            raise
        self.state.finish(call, status)
        return _json_response(status, envelope)

    async def _on_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return _json_response(401, ApiError(401).envelope())
        path = request.match_info["path"]
        for stored in self.state.files.values():
            if stored.file_path == path and stored.data is not None:
                return web.Response(body=stored.data, content_type="application/octet-stream")
        return _json_response(404, ApiError(404).envelope())


def _json_response(status: int, envelope: JSONDict) -> web.Response:
    return web.Response(status=status, text=json.dumps(envelope), content_type="application/json")


def _drop_connection(request: web.Request) -> None:
    if request.transport is not None:
        request.transport.abort()


async def _read_params(request: web.Request) -> tuple[JSONDict, dict[str, UploadedFile]]:
    """Parameters from the query string and a urlencoded, JSON or multipart body."""
    raw: dict[str, str] = dict(request.query)
    files: dict[str, UploadedFile] = {}
    params: JSONDict = {}
    content_type = request.content_type
    if request.can_read_body and content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise ApiError(400, "Bad Request: can't parse JSON object") from None
        if not isinstance(body, dict):
            raise ApiError(400, "Bad Request: can't parse JSON object")
        params = body
    elif request.can_read_body and content_type == "multipart/form-data":
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, aiohttp.BodyPartReader) or part.name is None:
                continue
            data = await part.read()
            if part.filename is not None:
                mime = part.headers.get(aiohttp.hdrs.CONTENT_TYPE, "application/octet-stream")
                files[part.name] = UploadedFile(part.filename, mime, bytes(data))
            else:
                raw[part.name] = bytes(data).decode("utf-8")
    elif request.can_read_body:
        form = await request.post()
        raw.update({key: str(value) for key, value in form.items()})
    return {**decode_form_params(raw), **params}, files
