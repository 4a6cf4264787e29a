"""Getting updates in safely: each read once, malformed ones dropped, chats served fairly.

python-telegram-bot parses a whole ``getUpdates`` batch at once: one update it cannot
parse fails the batch, is logged in full at CRITICAL (health text in the logs) and is
fetched again forever. ``IngressBot`` builds each update itself, once, and replaces one
it cannot parse with a bare one carrying only its ``update_id``, so the offset moves on
and nothing is logged. Before building it triages the raw JSON, a whole batch at once
(``FairProcessor.admit_each``): a flooding chat's excess is dropped undecoded, so a flood
costs little more than reading its JSON and another person's ``/crisis`` behind it is
reached quickly.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from telegram import Bot, Update
from telegram._utils.defaultvalue import DEFAULT_NONE, DefaultValue
from telegram.ext import BaseUpdateProcessor, ExtBot

from ketacompanion.adapters.telegram.updates import Peek, peek
from ketacompanion.backlog import Backlog
from ketacompanion.fairqueue import FINISH_S, FairQueue

log = logging.getLogger(__name__)

JSONDict = dict[str, Any]
MAX_BATCH = 100  # getUpdates' largest (and default) batch
# The longest ordinary turns wait while a backlog is read. Reading 3,000 updates takes
# about 50 ms here (the flood's excess is never built, and the next batch is asked for
# before this one is triaged), and over a real network the wait is for I/O, which turns
# running beside it barely slow. At 1 s a steady stream of full batches held every turn
# for a second at a stretch: half the throughput, for no gain in the flood figures.
CATCH_UP_S = 0.1


def parse_update(data: object, bot: Bot | None = None) -> Update | None:
    """An Update from decoded JSON, or None when Telegram could not have sent it."""
    if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
        return None
    try:
        return _checked(Update.de_json(data, bot))
    except Exception as exc:
        # The type only: the update itself may hold what someone wrote.
        log.warning("update not readable", extra={"error": type(exc).__name__})
        return None


def _checked(update: Update) -> Update:
    """``update`` if its chat and sender ids are integers. python-telegram-bot takes any
    JSON value there, and a list later breaks its bookkeeping (an unhashable id)."""
    for found in (update.effective_chat, update.effective_user):
        if found is not None and not _is_int(found.id):
            raise TypeError("an id is not an integer")
    return update


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


class IngressBot(ExtBot[None]):
    """python-telegram-bot's bot, with ``get_updates`` reading each update once.

    ``admit`` sees each update's raw JSON first; an update it refuses is never built
    (the batch's last one still comes back bare, so python-telegram-bot's offset moves
    past it and Telegram is told it was received).

    After a full batch the next ``getUpdates`` goes out at once, before this batch is
    triaged: Telegram hands out a backlog in order, 100 at a time, so a crisis behind a
    flood is reached one round trip per batch sooner. Asking for the next batch confirms
    this one a moment early, while it is triaged and queued with no pause in between; a
    read-ahead nobody asks for (a stop, other arguments) is dropped unconfirmed, and
    Telegram sends it again."""

    __slots__ = ("admit", "admit_each", "on_batch", "_ahead")

    def __init__(
        self,
        *args: Any,
        admit: Callable[[JSONDict], bool] | None = None,
        admit_each: Callable[[list[Any]], list[bool]] | None = None,
        on_batch: Callable[[bool], None] | None = None,
        **kwargs: Any,
    ) -> None:
        """``admit_each``, when given, triages a whole batch at once (``admit`` then goes
        unused here): one list of raw items in, whether to build each one out."""
        super().__init__(*args, **kwargs)
        with self._unfrozen():  # python-telegram-bot freezes its objects after __init__
            self.admit: Callable[[JSONDict], bool] = admit or (lambda data: True)
            self.admit_each: Callable[[list[Any]], list[bool]] | None = admit_each
            self.on_batch: Callable[[bool], None] = on_batch or (lambda full: None)
            self._ahead: tuple[tuple[object, ...], asyncio.Task[Any]] | None = None

    async def get_updates(  # type: ignore[override]
        self,
        offset: int | None = None,
        limit: int | None = None,
        timeout: dtm.timedelta | float | None = None,  # noqa: ASYNC109 (the Bot API's name)
        allowed_updates: Sequence[str] | None = None,
        *,
        read_timeout: Any = DEFAULT_NONE,
        write_timeout: Any = DEFAULT_NONE,
        connect_timeout: Any = DEFAULT_NONE,
        pool_timeout: Any = DEFAULT_NONE,
        api_kwargs: JSONDict | None = None,
    ) -> tuple[Update, ...]:
        # As Bot.get_updates: the long-poll time is added to the read timeout.
        data: JSONDict = {
            "timeout": timeout, "offset": offset, "limit": limit, "allowed_updates": allowed_updates,
        }  # fmt: skip
        if isinstance(read_timeout, DefaultValue):
            read_timeout = self._request[0].read_timeout
        wait = timeout.total_seconds() if isinstance(timeout, dtm.timedelta) else timeout or 0
        options = {
            "read_timeout": (read_timeout or 0) + wait, "write_timeout": write_timeout,
            "connect_timeout": connect_timeout, "pool_timeout": pool_timeout, "api_kwargs": api_kwargs,
        }  # fmt: skip
        result = await self._read_ahead_or_post(data, options)
        # A full batch means more are waiting at Telegram, perhaps someone's crisis.
        full = isinstance(result, list) and len(result) >= (limit or MAX_BATCH)
        if full:
            self._read_ahead(result, data, options)
        updates = self.read_batch(result)
        self.on_batch(full)
        return updates

    async def _read_ahead_or_post(self, data: JSONDict, options: dict[str, Any]) -> Any:
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            key, task = ahead
            if key == _key(data, options):
                return await task
            task.cancel()  # asked otherwise (a stop's last call): Telegram sends it again
        return await self._post("getUpdates", data, **options)

    def _read_ahead(self, result: list[Any], data: JSONDict, options: dict[str, Any]) -> None:
        last = result[-1].get("update_id") if isinstance(result[-1], dict) else None
        if not _is_int(last):
            return
        following = {**data, "offset": last + 1}
        task = asyncio.ensure_future(self._post("getUpdates", following, **options))
        task.add_done_callback(_quiet)  # a read-ahead dropped at a stop may fail unheard
        self._ahead = (_key(following, options), task)

    async def shutdown(self) -> None:
        if self._ahead is not None:
            self._ahead[1].cancel()
            self._ahead = None
        await super().shutdown()

    async def send_text(self, chat_id: int, text: str, **options: Any) -> None:
        """``send_message`` without building a ``Message`` from Telegram's answer: the sender
        never reads it, and building it cost about as much as the rest of the send. The
        request, its errors and the 429 hold are the same as ``send_message``'s."""
        await self._post("sendMessage", {"chat_id": chat_id, "text": text, **options})

    def read_batch(self, result: object) -> tuple[Update, ...]:
        """Each admitted update built once; malformed ones bare, refused ones left out."""
        if not isinstance(result, list):
            return ()
        updates: list[Update] = []
        last = len(result) - 1
        admitted = self.admit_each(result) if self.admit_each is not None else None
        for i, item in enumerate(result):
            if not isinstance(item, dict) or not _is_int(item.get("update_id")):
                log.warning("malformed update skipped", extra={"kind": "malformed"})
                continue
            if not (admitted[i] if admitted is not None else self.admit(item)):
                if i == last:
                    updates.append(Update(item["update_id"]))
                continue
            updates.append(self.build(item))
        return tuple(updates)

    def build(self, item: JSONDict) -> Update:
        try:
            return _checked(Update.de_json(item, self))
        except Exception as exc:
            # The type only: the update itself may hold what someone wrote.
            log.warning("malformed update skipped", extra={"kind": "malformed", "error": type(exc).__name__})
            return Update(item["update_id"])


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _key(data: JSONDict, options: dict[str, Any]) -> tuple[object, ...]:
    """What makes two getUpdates calls the same call."""
    allowed = data.get("allowed_updates")
    return (
        data.get("offset"), data.get("limit"), str(data.get("timeout")),
        tuple(allowed) if allowed is not None else None, options["read_timeout"],
    )  # fmt: skip


def _quiet(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved: a dropped read-ahead's failure is not logged as lost


class FairProcessor(BaseUpdateProcessor):
    """Feeds updates into a ``FairQueue``: one chat's flood waits in that chat's own queue.

    python-telegram-bot's own processor holds a semaphore slot for as long as an update
    waits, so a busy chat's backlog could hold every slot. Here ``do_process_update`` only
    enqueues and returns; the queue's workers await the update's coroutine later. Crisis
    updates (``urgent``) take the queue's urgent lane. Updates with no chat run at once.

    ``admit`` triages raw JSON before anything is built (the bot's getUpdates and the
    webhook call it): a full chat's update is dropped there, counted by the queue, and a
    dropped button press is handed to ``on_refused`` so its spinner can be stopped. The
    chat and the urgency found there are kept for ``do_process_update``.
    """

    def __init__(
        self, workers: int = 16, cap: int = 50, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__(workers)
        self.urgent: Callable[[Update], bool] = lambda update: False
        self.urgent_raw: Callable[[JSONDict], bool] | None = None
        # The same question for what ``admit`` already peeked at: each update is read once.
        self.urgent_seen: Callable[[Peek], bool] | None = None
        # And for a whole batch at once (``admit_each``), one answer per peek.
        self.urgent_each: Callable[[Sequence[Peek]], list[bool]] | None = None
        self.on_flood: Callable[[int], None] | None = None
        self.on_refused: Callable[[Peek], None] | None = None
        self.queue: FairQueue[int, _Item] = FairQueue(
            self._run, workers, cap, on_overflow=self._flood, on_drop=_discard
        )
        # Admitted, not yet queued: update id -> (chat, urgent); and how many a chat has.
        self._admitted: dict[int, tuple[int, bool]] = {}
        self._coming: Counter[int] = Counter()
        self._clock = clock
        self._catching_up_since: float | None = None
        self.keeper: Backlog | None = None  # where a stop keeps what it could not handle

    def on_batch(self, full: bool) -> None:
        """Told after each getUpdates whether the batch was full. While Telegram holds a
        backlog, ordinary turns wait (for at most ``CATCH_UP_S`` at a stretch) so that reading
        it, which is cheap now that a flood's excess is never built, comes first: a crisis
        behind a flood is found before the flood's turns are taken."""
        if not full:
            self._catching_up_since = None
            self.queue.resume()
            return
        now = self._clock()
        if self._catching_up_since is None:
            self._catching_up_since = now
        if now - self._catching_up_since < CATCH_UP_S:
            self.queue.pause()
        else:
            self.queue.resume()

    def admit(self, data: JSONDict) -> bool:
        """False when ``data`` is dropped unbuilt: its chat's queue is full and it is not urgent."""
        update_id = data.get("update_id")
        if not _is_int(update_id) or update_id in self._admitted:
            return True
        seen = peek(data)
        if seen.chat_id is None:
            return True
        urgent = False
        if self.urgent_seen is not None or self.urgent_raw is not None:
            try:
                urgent = self.urgent_seen(seen) if self.urgent_seen is not None else self.urgent_raw(data)  # type: ignore[misc]
            except Exception as exc:
                log.warning("crisis check at ingress failed", extra={"error": type(exc).__name__})
        if not urgent and not self.queue.has_room(seen.chat_id, self._coming[seen.chat_id]):
            self.queue.drop(seen.chat_id)
            if seen.query_id is not None and self.on_refused is not None:
                self.on_refused(seen)
            return False
        self._coming[seen.chat_id] += 1
        self._admitted[update_id] = (seen.chat_id, urgent)
        return True

    def admit_each(self, items: Sequence[object]) -> list[bool]:
        """``admit`` for each update of a getUpdates batch, in order, with the same answers
        and the same bookkeeping, done once a batch where it can be: the crisis rule screen's
        cheap test runs over all the batch's texts in one pass (``urgent_each``), a chat's
        room is looked up once, and its drops are counted together. Items that are not
        updates come back True (the caller decides what they are)."""
        keep = [True] * len(items)
        seen: list[Peek] = []
        where: list[int] = []
        for i, data in enumerate(items):
            if not isinstance(data, dict):
                continue
            update_id = data.get("update_id")
            if not _is_int(update_id) or update_id in self._admitted:
                continue
            one = peek(data)
            if one.chat_id is not None:
                seen.append(one)
                where.append(i)
        if not seen:
            return keep
        urgent = self._urgent_each(seen, [items[i] for i in where])  # type: ignore[misc]
        room: dict[int, int] = {}
        dropped: Counter[int] = Counter()
        for one, i, hot in zip(seen, where, urgent, strict=True):
            chat, update_id = one.chat_id, items[i]["update_id"]  # type: ignore[index]
            assert chat is not None
            if update_id in self._admitted:  # the same update twice in one batch
                continue
            left = room.get(chat)
            if left is None:
                left = self.queue.room(chat, self._coming[chat])
            if not hot and left <= 0:
                keep[i] = False
                dropped[chat] += 1
                if one.query_id is not None and self.on_refused is not None:
                    self.on_refused(one)
                room[chat] = left
                continue
            room[chat] = left - 1
            self._coming[chat] += 1
            self._admitted[update_id] = (chat, hot)
        for chat, count in dropped.items():
            self.queue.drop(chat, count=count)
        return keep

    def _urgent_each(self, seen: list[Peek], raw: list[JSONDict]) -> list[bool]:
        """Urgency for each peek: at once when ``urgent_each`` is set, else one by one; a
        failing batch check falls back to one by one, so one odd update fails only itself."""
        if self.urgent_each is not None:
            try:
                found = self.urgent_each(seen)
                if len(found) == len(seen):
                    return found
                raise ValueError("one answer per update expected")
            except Exception as exc:
                log.warning("crisis check at ingress failed", extra={"error": type(exc).__name__})
        return [self._urgent_one(one, data) for one, data in zip(seen, raw, strict=True)]

    def _urgent_one(self, seen: Peek, data: JSONDict) -> bool:
        try:
            if self.urgent_seen is not None:
                return self.urgent_seen(seen)
            if self.urgent_raw is not None:
                return self.urgent_raw(data)
        except Exception as exc:
            log.warning("crisis check at ingress failed", extra={"error": type(exc).__name__})
        return False

    def forget(self, data: JSONDict) -> None:
        """Undo ``admit`` for an update that will not reach the queue (it did not parse)."""
        found = self._admitted.pop(data.get("update_id"), None)  # type: ignore[arg-type]
        if found is not None:
            self._release(found[0])

    def _release(self, key: int) -> None:
        self._coming[key] -= 1
        if self._coming[key] <= 0:
            del self._coming[key]

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        found = self._admitted.pop(update.update_id, None) if isinstance(update, Update) else None
        if found is not None:
            key, urgent = found
            self._release(key)
        else:  # not triaged (an update put on the queue directly)
            key, urgent = _chat_key(update), False
            if key is not None:
                try:
                    urgent = isinstance(update, Update) and self.urgent(update)
                except Exception as exc:
                    log.warning("crisis check at ingress failed", extra={"error": type(exc).__name__})
        if key is None:
            await coroutine
            return
        self.queue.submit(key, _Item(update, coroutine), urgent=urgent)

    async def drain(self, within_s: float) -> None:
        """Handle what was accepted, for at most ``within_s`` seconds; keep what is left
        (with a ``keeper``) for the next start, in each chat's order. Turns running in the
        last ``FINISH_S`` of it end rather than being cut off; none starts then."""
        left = await self.queue.drain(within_s, finish_s=FINISH_S)
        for item in left:
            _discard(item)
        if not left:
            return
        if self.keeper is None:
            log.warning("updates left unhandled at shutdown", extra={"count": len(left)})
            return
        await self.keeper.keep([_kept(item.update) for item in left])

    async def restore(self, bot: Bot) -> list[Update]:
        """What the last stop kept, rebuilt for ``bot``, oldest first."""
        if self.keeper is None:
            return []
        updates = []
        for payload in await self.keeper.take():
            try:
                data = json.loads(payload)
            except ValueError:
                data = None
            update = parse_update(data, bot)
            if update is not None:
                updates.append(update)
        return updates

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


def _kept(update: object) -> tuple[str | None, str]:
    """An update as the backlog keeps it: its sender, and its JSON."""
    if not isinstance(update, Update):
        return None, "null"
    user = update.effective_user
    return (str(user.id) if user is not None else None), update.to_json()


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
