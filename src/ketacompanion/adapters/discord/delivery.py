"""Private messages to one member, and what Discord's refusals mean.

- 403 (50007: the member's DMs are closed, or they blocked the bot) and unknown users:
  marked unreachable in the store, one attempt only, then ``Unreachable``.
- Other HTTP errors and network failures: ``DeliveryError``, for the outbox to retry.
  discord.py itself waits out 429s and retries 5xx answers, reading Discord's headers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import aiohttp
import discord

from ketacompanion.adapters.discord.render import render
from ketacompanion.core.model import Address, DeliveryError, Reply, Unreachable

log = logging.getLogger(__name__)

PLATFORM = "discord"
DMS_CLOSED = 50007


class DiscordSender:
    """The ``Sender`` the outbox calls; also sends the private half of interactive replies."""

    platform = PLATFORM

    def __init__(self, client: discord.Client, store: Any, may_send: Callable[[Reply], bool], write_label: str) -> None:
        self._client, self._store, self._may_send = client, store, may_send
        self._write_label = write_label

    async def send(self, address: Address, reply: Reply) -> None:
        if not self._may_send(reply):
            raise Unreachable("check-ins are not offered on Discord in this deployment")
        try:
            user_id = int(address.chat_id)
        except ValueError:
            raise Unreachable("not a Discord user id") from None
        await self.deliver(user_id, [reply])

    async def deliver(self, user_id: int, replies: list[Reply]) -> None:
        """Every reply, in order, to the member's private messages."""
        channel = await self._dm(user_id)
        for reply in replies:
            await self.post(channel, reply, user_id)

    async def post(self, channel: discord.abc.Messageable, reply: Reply, user_id: int | None = None) -> None:
        for part in render(reply, self._write_label):
            try:
                await channel.send(**part.kwargs())  # type: ignore[arg-type]
            except (discord.Forbidden, discord.NotFound) as exc:
                if user_id is not None:
                    await self.mark_unreachable(user_id)
                raise Unreachable(f"refused: {getattr(exc, 'code', 0)}") from exc
            except discord.HTTPException as exc:
                raise DeliveryError(f"http {exc.status}") from exc
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                raise DeliveryError(type(exc).__name__) from exc

    async def _dm(self, user_id: int) -> discord.DMChannel:
        try:
            user = self._client.get_user(user_id) or await self._client.fetch_user(user_id)
            return user.dm_channel or await user.create_dm()
        except discord.NotFound as exc:
            await self.mark_unreachable(user_id)
            raise Unreachable("unknown user") from exc
        except discord.HTTPException as exc:
            raise DeliveryError(f"http {exc.status}") from exc
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise DeliveryError(type(exc).__name__) from exc

    async def mark_unreachable(self, user_id: int) -> None:
        log.info("member unreachable", extra={"platform": PLATFORM})
        try:
            async with self._store.transaction() as tx:
                await tx.users.mark_unreachable(PLATFORM, str(user_id))
        except Exception:
            log.exception("could not mark a member unreachable")
