"""A moderator alert as Discord shows it: an embed of exactly the fields the member chose,
pinging only the moderator role, with "I'm on it" and "Resolved" buttons."""

from __future__ import annotations

import logging
from typing import Any

import discord

from ketacompanion.adapters.discord.render import view_of
from ketacompanion.core.alerts import AlertNotice

log = logging.getLogger(__name__)

MAX_FIELD = 1024


def alert_message(notice: AlertNotice) -> dict[str, Any]:
    embed = discord.Embed(title=notice.title, description=notice.status)
    labels = notice.labels
    if notice.member_id:
        embed.add_field(name=labels["member"], value=f"<@{notice.member_id}>", inline=True)
    if notice.channel:
        embed.add_field(name=labels["channel"], value=f"<#{notice.channel}>", inline=True)
    if notice.at is not None:
        embed.add_field(name=labels["at"], value=f"<t:{int(notice.at.timestamp())}:f>", inline=True)
    if notice.words:
        words = notice.words if len(notice.words) <= MAX_FIELD else notice.words[: MAX_FIELD - 1] + "…"
        embed.add_field(name=labels["words"], value=words, inline=False)
    if notice.taken_by:
        embed.add_field(name=notice.status, value=f"<@{notice.taken_by}>", inline=True)
    role = notice.role_id
    mentions = discord.AllowedMentions(everyone=False, users=False, roles=[discord.Object(int(role))] if role else False)
    return {
        "content": f"<@&{role}>" if role else None,
        "embed": embed,
        "view": view_of(notice.choices) or discord.utils.MISSING,
        "allowed_mentions": mentions,
    }


async def _channel(client: discord.Client, channel_id: str) -> Any:
    found = client.get_channel(int(channel_id))
    return found if found is not None else await client.fetch_channel(int(channel_id))


async def post_alert(client: discord.Client, notice: AlertNotice) -> str | None:
    """The new alert's message id, or None when the channel is gone or closed to the bot."""
    try:
        channel = await _channel(client, notice.channel_id)
        message = await channel.send(**alert_message(notice))
    except (discord.HTTPException, ValueError, AttributeError) as exc:
        log.warning("moderator alert not delivered", extra={"error": type(exc).__name__})
        return None
    return str(message.id)


async def edit_alert(client: discord.Client, notice: AlertNotice) -> None:
    if not notice.message_id:
        return
    try:
        channel = await _channel(client, notice.channel_id)
        kwargs = alert_message(notice)
        kwargs.pop("content")
        if kwargs["view"] is discord.utils.MISSING:
            kwargs["view"] = None
        await channel.get_partial_message(int(notice.message_id)).edit(**kwargs)
    except (discord.HTTPException, ValueError, AttributeError) as exc:
        log.warning("moderator alert not updated", extra={"error": type(exc).__name__})


async def retract_alerts(client: discord.Client, posted: list[tuple[str, str]]) -> None:
    """Delete alert messages (the member erased their data); ones already gone are fine."""
    for channel_id, message_id in posted:
        try:
            channel = await _channel(client, channel_id)
            await channel.get_partial_message(int(message_id)).delete()
        except (discord.HTTPException, ValueError, AttributeError) as exc:
            log.warning("alert message not deleted", extra={"error": type(exc).__name__})
