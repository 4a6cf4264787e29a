"""Delivering one reply to one chat: pacing, bounded retries, and what a refusal means.

- 429: wait ``retry_after`` (every send waits, as Telegram asks), then try again, a bounded
  number of times; a wait longer than the policy allows goes back to the caller.
- 403, or a chat that no longer exists: the person blocked the bot. Marked unreachable in
  the store, one attempt only, then ``Unreachable``.
- Network errors and timeouts: back off and retry, bounded. A timed-out send may have
  arrived, so a normal reply is tried at most once more. A scheduled reply (from the
  outbox) is retried here only when the error proves nothing was sent (no connection
  was made); any other network failure goes back at once as ``OutcomeUnknown``, because
  the outbox counts such sends in its row and allows one more, ever. Retrying them here
  too would multiply the two layers' tries.
- Refused as built (400): sent again as bare text, so the words still arrive.
Anything else that fails ends as ``DeliveryError``, for the outbox to try later.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import aiohttp
import httpx
from telegram import Bot, LinkPreviewOptions
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
)

from ketacompanion.adapters.telegram.ingress import IngressBot
from ketacompanion.adapters.telegram.limits import RateLimiter, Sleep
from ketacompanion.adapters.telegram.render import Kind, Message, is_urgent, render
from ketacompanion.core.model import Address, DeliveryError, OutcomeUnknown, Reply, Unreachable
from ketacompanion.core.ports import Store

log = logging.getLogger(__name__)

PLATFORM = "telegram"
_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)  # crisis and lesson links stay text-sized
_GONE = ("chat not found", "user not found", "peer_id_invalid", "user is deactivated")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    rate_limited_attempts: int = 4
    network_attempts: int = 2  # a timed-out send may have arrived: at most one more
    backoff_s: float = 0.5
    max_retry_after_s: float = 60.0  # a longer wait goes back to the outbox
    retry_unknown: bool = True  # retry sends that may have arrived (not for the outbox's)

    def urgent(self) -> RetryPolicy:
        # A duplicate crisis message does no harm; a missing one might.
        return RetryPolicy(
            max(self.rate_limited_attempts, 8), max(self.network_attempts, 4), self.backoff_s,
            max(self.max_retry_after_s, 300.0), self.retry_unknown,
        )  # fmt: skip

    def scheduled(self) -> RetryPolicy:
        # The outbox owns the retry of an unknowable outcome (see delivery/outbox.py).
        return replace(self, retry_unknown=False)


Call = Callable[[int], Awaitable[Any]]


class TelegramSender:
    """The ``Sender`` the outbox calls, also used for direct replies to updates."""

    platform = PLATFORM

    def __init__(
        self,
        bot: Bot,
        store: Store | None,
        limiter: RateLimiter | None = None,
        policy: RetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._bot, self._store = bot, store
        self._limiter = limiter or RateLimiter()
        self._policy = policy or RetryPolicy()
        self._sleep = sleep

    async def send(self, address: Address, reply: Reply, *, once: bool = False) -> None:
        """``once``: a send that may have arrived is not tried again (a notice better
        missed than doubled)."""
        chat_id = _chat_id(address)
        policy = self._policy.urgent() if is_urgent(reply) else self._policy
        if reply.scheduled:
            policy = policy.scheduled()
        if once:
            policy = replace(policy, retry_unknown=False)
        for message in render(reply):
            chat_id = await self._send_message(chat_id, message, policy)

    async def edit(self, address: Address, message_id: int, reply: Reply) -> bool:
        """Show ``reply`` in place of the bot's message ``message_id``; False when that is
        not possible (crisis replies, media, long text, a message too old to edit)."""
        messages = render(reply)
        if is_urgent(reply) or len(messages) != 1 or messages[0].kind is not Kind.TEXT:
            return False
        message = messages[0]

        async def edit_text(chat_id: int) -> object:
            return await self._bot.edit_message_text(
                message.text, chat_id=chat_id, message_id=message_id,
                parse_mode=message.parse_mode, reply_markup=message.markup,
                link_preview_options=_NO_PREVIEW,
            )  # fmt: skip

        try:
            await self._call(_chat_id(address), edit_text, self._policy)
        except BadRequest as exc:
            log.info("edit refused; sending anew", extra={"error": type(exc).__name__})
            return False
        return True

    async def answer_button(self, query_id: str, text: str | None = None) -> None:
        """Stop the button's spinner (``text``: a short notice shown over the chat). Not a
        message, so not paced; failures do not matter."""
        try:
            await self._bot.answer_callback_query(query_id, text=text)
        except TelegramError as exc:
            log.info("callback answer failed", extra={"error": type(exc).__name__})

    async def mark_unreachable(self, chat_id: int) -> None:
        log.info("chat unreachable", extra={"platform": PLATFORM})
        if self._store is None:
            return
        try:
            async with self._store.transaction() as tx:
                await tx.users.mark_unreachable(PLATFORM, str(chat_id))
        except Exception:
            log.exception("could not mark a chat unreachable")

    # --- one message -----------------------------------------------------------------------
    async def _send_message(self, chat_id: int, message: Message, policy: RetryPolicy) -> int:
        """Send ``message``; returns the chat id, which changes if a group was upgraded."""
        try:
            return await self._call(chat_id, lambda cid: self._api(cid, message), policy)
        except BadRequest as exc:
            reason = type(exc).__name__
            if not message.plain.strip() or message.bare() == message:
                raise DeliveryError(f"refused: {reason}") from exc
            log.warning("message refused; sending bare text", extra={"error": reason})
        try:
            return await self._call(chat_id, lambda cid: self._api(cid, message.bare()), policy)
        except BadRequest as exc:
            raise DeliveryError(f"refused: {type(exc).__name__}") from exc

    async def _api(self, chat_id: int, message: Message) -> int:
        bot = self._bot
        caption = message.text or None
        if message.kind is Kind.TEXT and isinstance(bot, IngressBot):
            await bot.send_text(
                chat_id, message.text, parse_mode=message.parse_mode,
                reply_markup=message.markup, link_preview_options=_NO_PREVIEW,
            )  # fmt: skip
        elif message.kind is Kind.TEXT:
            await bot.send_message(
                chat_id, message.text, parse_mode=message.parse_mode,
                reply_markup=message.markup, link_preview_options=_NO_PREVIEW,
            )  # fmt: skip
        elif message.kind is Kind.PHOTO and message.attachment is not None:
            await bot.send_photo(
                chat_id, message.attachment.data, caption=caption,
                parse_mode=message.parse_mode, reply_markup=message.markup,
                filename=message.attachment.filename,
            )  # fmt: skip
        elif message.attachment is not None:
            await bot.send_document(
                chat_id, message.attachment.data, caption=caption,
                parse_mode=message.parse_mode, reply_markup=message.markup,
                filename=message.attachment.filename,
            )  # fmt: skip
        return chat_id

    async def _call(self, chat_id: int, call: Call, policy: RetryPolicy) -> Any:
        rate_limited = network_failures = 0
        migrated = False
        while True:
            await self._limiter.acquire(chat_id)
            try:
                return await call(chat_id)
            except RetryAfter as exc:
                wait = _seconds(exc.retry_after)
                self._limiter.pause(wait)
                rate_limited += 1
                log.warning("rate limited", extra={"retry_after": wait, "attempt": rate_limited})
                if rate_limited >= policy.rate_limited_attempts or wait > policy.max_retry_after_s:
                    raise DeliveryError(f"rate limited for {wait:.0f}s") from exc
            except Forbidden as exc:
                await self.mark_unreachable(chat_id)
                raise Unreachable("blocked") from exc
            except ChatMigrated as exc:
                if migrated:
                    raise DeliveryError("chat migrated twice") from exc
                chat_id, migrated = int(exc.new_chat_id), True
            except BadRequest as exc:
                if any(marker in str(exc).lower() for marker in _GONE):
                    await self.mark_unreachable(chat_id)
                    raise Unreachable("chat not found") from exc
                raise
            except NetworkError as exc:  # includes TimedOut
                network_failures += 1
                unsent = surely_unsent(exc)
                log.warning("network error", extra={"error": type(exc).__name__,
                                                    "attempt": network_failures})  # fmt: skip
                if not unsent and not policy.retry_unknown:
                    raise OutcomeUnknown(f"network: {type(exc).__name__}") from exc
                if network_failures >= policy.network_attempts:
                    failure = DeliveryError if unsent else OutcomeUnknown
                    raise failure(f"network: {type(exc).__name__}") from exc
                await self._sleep(policy.backoff_s * 2 ** (network_failures - 1))
            except TelegramError as exc:  # a bad token or a conflict: not this message's to fix
                raise DeliveryError(type(exc).__name__) from exc


# Raised before any byte of the request left: no connection, or none free in the pool.
# aiohttp counts waiting for a free pooled connection in its connect timeout.
_NOT_SENT = (
    httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout,
    aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError,
)  # fmt: skip


def surely_unsent(exc: NetworkError) -> bool:
    """Whether the failed request certainly never reached Telegram (safe to send again)."""
    return isinstance(exc.__cause__, _NOT_SENT)


def _chat_id(address: Address) -> int:
    try:
        return int(address.chat_id)
    except ValueError:
        raise Unreachable("not a Telegram chat id") from None


def _seconds(value: int | float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)
