"""Interactions and messages become the core's ``Inbound``; its ``Outcome`` becomes Discord
output. Which reply may be shown where is the core's decision (``core.community``): this
module shows ``here`` ephemerally when the core says it is for the member alone, and
``private`` as DMs.

Every entry point answers within Discord's 3 seconds by deferring first, then works under
a per-member lock, so one member's turns stay in order while others run beside them. A
failure is logged by kind, never with the text.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import discord

from ketacompanion.adapters.discord.alerts import edit_alert, post_alert, retract_alerts
from ketacompanion.adapters.discord.delivery import PLATFORM, DiscordSender
from ketacompanion.adapters.discord.ordering import KeyedLocks
from ketacompanion.adapters.discord.render import render
from ketacompanion.adapters.discord.views import TextBox
from ketacompanion.core.community import Community, Outcome, to_member_alone
from ketacompanion.core.community_setup import ServerSetup
from ketacompanion.core.model import (
    Address,
    DeliveryError,
    Inbound,
    InboundKind,
    Place,
    Reply,
    Urgency,
)

log = logging.getLogger(__name__)


class DiscordAdapter:
    platform = PLATFORM

    def __init__(self, client: discord.Client, community: Community, setup: ServerSetup, sender: DiscordSender) -> None:
        self.client, self.community, self.setup, self.sender = client, community, setup, sender
        self._locks = KeyedLocks()

    async def send(self, address: Address, reply: Reply) -> None:
        await self.sender.send(address, reply)

    # --- translation -------------------------------------------------------------------
    def inbound(self, interaction: discord.Interaction[Any], kind: InboundKind, **values: Any) -> Inbound:
        user, guild = interaction.user, interaction.guild
        language = str(interaction.locale) if interaction.locale else None
        if guild is None:
            return Inbound(Address(PLATFORM, str(user.id)), str(user.id), kind, language=language, **values)
        channel_id = str(interaction.channel_id or 0)
        place = _place(guild, user, channel_id, interaction.permissions)
        return Inbound(
            Address(PLATFORM, f"channel:{channel_id}"), str(user.id), kind, language=language, in_group=True,
            place=place, **values,
        )  # fmt: skip

    # --- interactions ------------------------------------------------------------------
    async def on_command(self, interaction: discord.Interaction[Any], name: str, text: str = "") -> None:
        await self._defer(interaction, thinking=True)
        inbound = self.inbound(interaction, InboundKind.COMMAND, command=name, text=text)
        await self._run(interaction, lambda: self.community.command(inbound))

    async def on_choice(self, interaction: discord.Interaction[Any], choice: str) -> None:
        await self._defer(interaction, thinking=False)
        inbound = self.inbound(interaction, InboundKind.CHOICE, choice=choice)
        await self._run(interaction, lambda: self.community.choice(inbound), card=True)

    async def open_text_box(self, interaction: discord.Interaction[Any]) -> None:
        t = self._t(interaction)
        await interaction.response.send_modal(TextBox(t("community.write_title"), t("community.write_label")))

    async def on_text_box(self, interaction: discord.Interaction[Any], text: str) -> None:
        await self._defer(interaction, thinking=True)
        inbound = self.inbound(interaction, InboundKind.TEXT, text=text)
        await self._run(interaction, lambda: self.community.private_message(inbound))

    async def on_setup(self, interaction: discord.Interaction[Any], action: str, **values: Any) -> None:
        await self._defer(interaction, thinking=True)
        inbound = self.inbound(interaction, InboundKind.COMMAND, command="setup")
        s = self.setup
        calls = {
            "alerts": lambda: s.alerts(inbound, values.get("channel_id"), values.get("role_id"), values.get("can_post", False)),
            "country": lambda: s.country(inbound, str(values.get("code", ""))),
            "channel": lambda: s.channel(inbound, str(values.get("channel_id", "")), str(values.get("mode", ""))),
            "show": lambda: s.show(inbound),
            "screening": lambda: s.screening(inbound, bool(values.get("on", True))),
        }
        await self._run(interaction, calls[action])

    async def _defer(self, interaction: discord.Interaction[Any], thinking: bool) -> None:
        try:
            await interaction.response.defer(ephemeral=self._alone(interaction), thinking=thinking)
        except discord.HTTPException as exc:
            log.warning("could not defer an interaction", extra={"error": type(exc).__name__})

    async def _run(self, interaction: discord.Interaction[Any], make: Callable[[], Any], card: bool = False) -> None:
        async with self._locks.hold(str(interaction.user.id)):
            try:
                outcome: Outcome = await make()
            except Exception:
                log.exception("discord interaction failed", extra={"kind": str(interaction.type)})
                outcome = Outcome(here=[Reply(self._t(interaction)("common.error"))])
            here = await self._private(interaction.user.id, outcome)
            here += await self._alert(outcome)
            if outcome.retract:
                await retract_alerts(self.client, outcome.retract)
            await self._answer(interaction, here, card)

    async def _private(self, user_id: int, outcome: Outcome) -> list[Reply]:
        here = list(outcome.here)
        if not outcome.private:
            return here
        try:
            await self.sender.deliver(user_id, outcome.private)
        except DeliveryError:
            return here + outcome.if_closed
        return here + outcome.if_delivered

    async def _alert(self, outcome: Outcome) -> list[Reply]:
        notice = outcome.alert
        if notice is None:
            return []
        if notice.message_id:  # taken or resolved: the alert shows it
            await edit_alert(self.client, notice)
            return []
        message_id = await post_alert(self.client, notice)
        alerts = self.community.alerts
        return await (alerts.delivered(notice.alert_id, message_id) if message_id else alerts.failed(notice.alert_id))

    async def _answer(self, interaction: discord.Interaction[Any], replies: list[Reply], card: bool) -> None:
        ephemeral = self._alone(interaction)
        for reply in replies:
            try:
                if card and reply.replaces_card and reply.urgency is Urgency.NORMAL and not reply.image and not reply.file:
                    card = False
                    parts = render(reply, self._write_label(interaction))
                    if len(parts) == 1:
                        await interaction.edit_original_response(**_edit_kwargs(parts[0].kwargs()))
                        continue
                for part in render(reply, self._write_label(interaction)):
                    await interaction.followup.send(ephemeral=ephemeral, **part.kwargs())  # type: ignore[arg-type]
            except discord.HTTPException as exc:
                log.warning("interaction reply not delivered", extra={"error": type(exc).__name__})

    # --- messages ----------------------------------------------------------------------
    async def on_message(self, message: discord.Message) -> None:
        author = message.author
        if author.bot or message.webhook_id is not None or not message.content.strip():
            return
        try:
            if message.guild is None:
                inbound = Inbound.from_text(Address(PLATFORM, str(author.id)), str(author.id), message.content)
                async with self._locks.hold(str(author.id)):
                    outcome = await self.community.private_message(inbound)
                    here = await self._alert(outcome) + outcome.here
                    for reply in here:
                        await self.sender.post(message.channel, reply, author.id)
                return
            place = _place(message.guild, author, str(message.channel.id), getattr(author, "guild_permissions", None))
            inbound = Inbound(
                Address(PLATFORM, f"channel:{message.channel.id}"), str(author.id), InboundKind.TEXT,
                text=message.content, in_group=True, place=place,
            )  # fmt: skip
            outcome = await self.community.channel_message(inbound)
            if not outcome.private:
                return
            async with self._locks.hold(str(author.id)):
                here = await self._private(author.id, outcome)
                for reply in here:  # only the line that reveals nothing, when DMs are closed
                    await self.sender.post(message.channel, reply)
        except DeliveryError as exc:
            log.warning("message reply not delivered", extra={"error": str(exc)[:80]})
        except Exception:
            log.exception("discord message failed", extra={"kind": "dm" if message.guild is None else "channel"})

    async def reping(self) -> None:
        """Alerts nobody took within five minutes: one more ping each."""
        try:
            due = await self.community.alerts.due()
        except Exception:
            log.exception("could not read alerts due for a re-ping")
            return
        for notice in due:
            await post_alert(self.client, notice)

    def _alone(self, interaction: discord.Interaction[Any]) -> bool:
        return to_member_alone(self.inbound(interaction, InboundKind.TEXT))

    def _t(self, interaction: discord.Interaction[Any]) -> Callable[..., str]:
        return self.community.t(self.inbound(interaction, InboundKind.TEXT))

    def _write_label(self, interaction: discord.Interaction[Any]) -> str:
        return str(self._t(interaction)("community.write_button"))


def _place(guild: discord.Guild, user: Any, channel_id: str, perms: discord.Permissions | None) -> Place:
    manager = bool(perms and (perms.manage_guild or perms.administrator))
    roles = frozenset(str(r.id) for r in getattr(user, "roles", []))
    return Place(str(guild.id), channel_id, manager=manager, roles=roles)


def _edit_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    kwargs.pop("files", None)
    kwargs.setdefault("view", None)
    return kwargs

