"""Getting updates in safely: malformed ones dropped, chats served fairly and in order.

python-telegram-bot parses a whole ``getUpdates`` batch at once: one update it cannot
parse fails the batch, is logged in full at CRITICAL (health text in the logs) and is
fetched again forever. ``SanitizingRequest`` replaces such an update with a bare one
carrying only its ``update_id``, so the offset moves on and nothing is logged.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Bot, Update
from telegram.ext import BaseUpdateProcessor
from telegram.request import BaseRequest, RequestData

from ketacompanion.fairqueue import FairQueue

log = logging.getLogger(__name__)

JSONDict = dict[str, Any]


def parse_update(data: object, bot: Bot | None = None) -> Update | None:
    """An Update from decoded JSON, or None when Telegram could not have sent it."""
    if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
        return None
    try:
        return Update.de_json(data, bot)
    except Exception as exc:
        # The type only: the update itself may hold what someone wrote.
        log.warning("update not readable", extra={"error": type(exc).__name__})
        return None


def clean_batch(result: object) -> list[JSONDict]:
    """A getUpdates result with every update python-telegram-bot can parse."""
    if not isinstance(result, list):
        return []
    cleaned: list[JSONDict] = []
    for item in result:
        if parse_update(item) is not None:
            cleaned.append(item)
        elif isinstance(item, dict) and isinstance(item.get("update_id"), int):
            log.warning("malformed update skipped", extra={"kind": "malformed"})
            cleaned.append({"update_id": item["update_id"]})
    return cleaned


class SanitizingRequest(BaseRequest):
    """Wraps the ``getUpdates`` request; every other answer passes through untouched."""

    def __init__(self, inner: BaseRequest) -> None:
        self._inner = inner
        # The last getUpdates answer as sent on and as decoded here, so that
        # python-telegram-bot does not decode the same bytes again.
        self._decoded: tuple[bytes, Any] | None = None

    def parse_json_payload(self, payload: bytes) -> Any:  # type: ignore[override]
        decoded, self._decoded = self._decoded, None
        if decoded is not None and decoded[0] is payload:
            return decoded[1]
        return BaseRequest.parse_json_payload(payload)

    @property
    def read_timeout(self) -> float | None:
        return self._inner.read_timeout

    async def initialize(self) -> None:
        await self._inner.initialize()

    async def shutdown(self) -> None:
        await self._inner.shutdown()

    async def do_request(
        self, url: str, method: str, request_data: RequestData | None = None, **timeouts: Any
    ) -> tuple[int, bytes]:
        status, payload = await self._inner.do_request(url, method, request_data, **timeouts)
        if status != 200 or not url.rstrip("/").lower().endswith("/getupdates"):
            return status, payload
        try:
            envelope = json.loads(payload)
        except ValueError:
            return status, payload  # python-telegram-bot reports an unreadable answer itself
        if not isinstance(envelope, dict) or not envelope.get("ok"):
            return status, payload
        try:
            Update.de_list(envelope.get("result"), None)
        except Exception:
            envelope["result"] = clean_batch(envelope.get("result"))
            payload = json.dumps(envelope).encode("utf-8")
        self._decoded = (payload, envelope)
        return status, payload


class FairProcessor(BaseUpdateProcessor):
    """Feeds updates into a ``FairQueue``: one chat's flood waits in that chat's own queue.

    python-telegram-bot's own processor holds a semaphore slot for as long as an update
    waits, so a busy chat's backlog could hold every slot. Here ``do_process_update`` only
    enqueues and returns; the queue's workers await the update's coroutine later. Crisis
    updates (``urgent``) take the queue's urgent lane. Updates with no chat run at once.
    """

    def __init__(self, workers: int = 16, cap: int = 50) -> None:
        super().__init__(workers)
        self.urgent: Callable[[Update], bool] = lambda update: False
        self.on_flood: Callable[[int], None] | None = None
        self.queue: FairQueue[int, _Item] = FairQueue(
            self._run, workers, cap, on_overflow=self._flood, on_drop=_discard
        )

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = _chat_key(update)
        if key is None:
            await coroutine
            return
        urgent = False
        try:
            urgent = isinstance(update, Update) and self.urgent(update)
        except Exception as exc:
            log.warning("crisis check at ingress failed", extra={"error": type(exc).__name__})
        self.queue.submit(key, _Item(update, coroutine), urgent=urgent)

    async def drain(self, within_s: float) -> None:
        """Handle what was accepted, for at most ``within_s`` seconds; log what was left."""
        left = await self.queue.drain(within_s)
        for item in left:
            _discard(item)
        if left:
            log.warning("updates left unhandled at shutdown", extra={"count": len(left)})

    async def initialize(self) -> None:
        self.queue.start()

    async def shutdown(self) -> None:
        await self.drain(0)

    def _flood(self, key: int) -> None:
        if self.on_flood is not None:
            self.on_flood(key)

    @staticmethod
    async def _run(item: _Item) -> None:
        await item.coroutine


class _Item:
    __slots__ = ("update", "coroutine")

    def __init__(self, update: object, coroutine: Awaitable[Any]) -> None:
        self.update, self.coroutine = update, coroutine


def _discard(item: _Item) -> None:
    close = getattr(item.coroutine, "close", None)
    if close is not None:
        close()  # never awaited: close it so asyncio does not warn


def _chat_key(update: object) -> int | None:
    if not isinstance(update, Update):
        return None
    try:
        chat, user = update.effective_chat, update.effective_user
    except Exception:  # odd shapes confuse python-telegram-bot's own shortcuts
        return None
    for key in (getattr(chat, "id", None), getattr(user, "id", None)):
        if isinstance(key, int):
            return key
    return None
