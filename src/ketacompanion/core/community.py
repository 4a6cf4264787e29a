"""Community servers (Discord): what may be shown where, and what the bot does in a channel.

The rules, in one place so no adapter has to know them:
- Health data never appears in a server. In a server, commands that touch health data or
  the person's settings continue in a private message (``Outcome.private``); the server
  sees only a note, to the member alone, that a private message was sent.
- Lessons, /help, /privacy and /crisis are answered in the server, to the member alone
  (an adapter shows ``Outcome.here`` ephemerally when the inbound has a ``place``).
- Check-ins on the platform are a deployment switch (``checkins_offered``).
- In a channel, text is read only where /setup marked the channel as screened, never in a
  venting channel, never from a member who opted out. Concerning text gets the member
  the crisis card privately; if that cannot be delivered, the channel gets a line that
  says nothing about anyone, with a button that opens the card for whoever presses it.
- One card per member per server per cooldown from channel screening, kept in the store:
  a flood gets no reply storm, and neither a restart nor a second process resets it.
- Admin commands live only in private messages; in a server they are unknown commands.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from ketacompanion.core.model import Address, Inbound, InboundKind, Reply, Urgency
from ketacompanion.core.ports import Clock
from ketacompanion.core.turn import Text, button, text_in

log = logging.getLogger(__name__)

ANYWHERE = frozenset({"learn", "crisis", "help", "privacy"})
CHECKIN_COMMANDS = frozenset({"checkin", "mood", "summary", "schedule", "pause", "resume", "sessions", "history"})
SERVER_CHOICE_FLOWS = frozenset({"learn", "crisis"})  # buttons on messages only the member sees
# Commands that exist only in private messages: in a server they answer as unknown
# commands, whoever asks, so a server shows no admin surface to anyone.
PRIVATE_ONLY_HIDDEN = frozenset({"admin"})


class Handle(Protocol):
    async def __call__(self, inbound: Inbound) -> list[Reply]: ...


@dataclass(slots=True)
class Outcome:
    """What to show for one inbound, by where it may be shown.

    ``here``: where the inbound came from (to the member alone in a server).
    ``private``: the member's private messages. When they arrive, ``if_delivered`` is shown
    here; when they cannot (messages closed), ``if_closed`` is shown here instead.
    ``alert``: a moderator alert to post; report back with ``Alerts.delivered``/``failed``.
    """

    here: list[Reply] = field(default_factory=list)
    private: list[Reply] = field(default_factory=list)
    if_delivered: list[Reply] = field(default_factory=list)
    if_closed: list[Reply] = field(default_factory=list)
    alert: Any = None  # alerts.AlertNotice
    retract: list[tuple[str, str]] = field(default_factory=list)  # (channel, message) to delete


@dataclass(frozen=True, slots=True)
class CommunitySetup:
    id: int
    community_id: str
    alert_channel_id: str | None = None
    moderator_role_id: str | None = None
    country: str | None = None
    channels: dict[str, str] = field(default_factory=dict)  # channel id -> screened | venting


def to_member_alone(inbound: Inbound) -> bool:
    """Whether what answers the member's own command, button or text box is shown to them
    alone: always in a server (the platform's ephemeral replies); in private messages the
    conversation is already theirs alone."""
    return inbound.place is not None


def private_address(inbound: Inbound) -> Address:
    """A member's private conversation on a community platform is addressed by their id."""
    return Address(inbound.address.platform, inbound.user_id)


def privately(inbound: Inbound) -> Inbound:
    return replace(inbound, address=private_address(inbound), in_group=False, place=None)


class Community:
    def __init__(
        self,
        store: Any,
        clock: Clock,
        text: Callable[[str], Text],
        handle: Handle,
        screen: Handle,
        alerts: Any,
        crisis_card: Callable[[str, str], Reply],
        checkins_offered: bool = True,
        cooldown: timedelta = timedelta(minutes=30),
        default_language: str = "en",
    ) -> None:
        """``handle`` and ``screen`` are the companion's whole turn and crisis screen;
        ``crisis_card(language, country)`` the card for a server's default country."""
        self._store, self._clock, self._text = store, clock, text
        self._handle, self._screen, self.alerts = handle, screen, alerts
        self._crisis_card = crisis_card
        self.checkins_offered = checkins_offered
        self._cooldown, self._lang = cooldown, default_language
        self._screening: dict[tuple[str, str], asyncio.Lock] = {}
        self._queued: dict[tuple[str, str], int] = {}

    def t(self, inbound: Inbound) -> Text:
        return text_in(self._text, inbound.language, self._lang, "community.channel_kind_line")

    def may_send(self, reply: Reply) -> bool:
        """Scheduled check-in prompts reach the platform only when check-ins are offered on
        it; crisis follow-ups ("did you reach someone?") always do."""
        return self.checkins_offered or not reply.scheduled or reply.urgency is not Urgency.NORMAL

    # --- interactions: commands, buttons, private messages --------------------------------
    async def command(self, inbound: Inbound) -> Outcome:
        t, name = self.t(inbound), inbound.command
        if not self.checkins_offered and name in CHECKIN_COMMANDS:
            return Outcome(here=[Reply(t("community.no_checkins"))])
        if inbound.place is None:
            return Outcome(here=await self._handle(inbound))
        if name in PRIVATE_ONLY_HIDDEN:  # exactly what an unknown command gets in a server
            return self._private_outcome(inbound, [Reply(t("common.unknown_command", command=name[:32]))])
        if name == "crisis":
            replies = await self._handle(inbound)
            setup = await self.setup_of(inbound)
            replies = self._local_card(inbound, setup, replies)
            offer = await self.alerts.offer(inbound, setup, source="command", words=None)
            return Outcome(here=replies + offer)
        if name in ANYWHERE:
            return Outcome(here=await self._handle(replace(inbound, in_group=True)))
        return await self._move_private(inbound)

    async def choice(self, inbound: Inbound) -> Outcome:
        flow, _, rest = inbound.choice.partition(":")
        if flow == "alert":
            return await self.alerts.on_choice(inbound)
        if flow == "go":  # a menu button standing for a command
            as_command = replace(inbound, kind=InboundKind.COMMAND, command=rest, choice="")
            return await self.command(as_command)
        if inbound.choice == "delete:yes":
            return await self._delete(inbound)
        if inbound.place is None or flow in SERVER_CHOICE_FLOWS:
            if inbound.place is not None:
                inbound = replace(inbound, in_group=True)
            return Outcome(here=await self._handle(inbound))
        # A private flow's button pressed in a server: its buttons belong in private messages.
        return Outcome(here=[Reply(self.t(inbound)("community.continue_private"))])

    async def _delete(self, inbound: Inbound) -> Outcome:
        """/delete confirmed: the alerts posted about the member go too, from the alert channels."""
        inbound = privately(inbound)
        posted = await self._posted_alerts(inbound)
        replies = await self._handle(inbound)
        if not posted:
            return Outcome(here=replies)
        async with self._store.transaction() as tx:
            gone = await tx.users.find(inbound.address.platform, inbound.user_id) is None
        return Outcome(here=replies, retract=posted if gone else [])

    async def _posted_alerts(self, inbound: Inbound) -> list[tuple[str, str]]:
        try:
            async with self._store.transaction() as tx:
                found = await tx.users.find(inbound.address.platform, inbound.user_id)
                return list(await tx.communities.alert_messages(found[0].id)) if found else []
        except Exception:
            log.exception("could not list a member's alert messages")
            return []

    async def private_message(self, inbound: Inbound) -> Outcome:
        """Text for the person's own conversation: typed in a DM, or a text box. A text box
        opened from a server message is answered privately, like a private command."""
        if inbound.kind is InboundKind.COMMAND:
            return await self.command(inbound)
        if inbound.place is not None:
            return await self._move_private(inbound)
        return Outcome(here=await self._handle(inbound))

    async def _move_private(self, inbound: Inbound) -> Outcome:
        return self._private_outcome(inbound, await self._handle(privately(inbound)))

    def _private_outcome(self, inbound: Inbound, replies: list[Reply]) -> Outcome:
        t = self.t(inbound)
        return Outcome(
            private=replies,
            if_delivered=[Reply(t("community.sent_privately"))],
            if_closed=[Reply(t("community.dms_closed"))],
        )

    # --- channel messages -------------------------------------------------------------------
    async def channel_message(self, inbound: Inbound) -> Outcome:
        place = inbound.place
        if place is None or inbound.kind is InboundKind.CHOICE or not inbound.text.strip():
            return Outcome()
        setup = await self.setup_of(inbound)
        if setup is None or setup.channels.get(place.channel) != "screened":
            return Outcome()  # unscreened and venting channels: the bot stays silent
        if await self._opted_out(inbound, setup):
            return Outcome()
        key = (place.community, inbound.user_id)
        lock = self._screening.setdefault(key, asyncio.Lock())
        self._queued[key] = self._queued.get(key, 0) + 1
        try:
            async with lock:  # one member's messages one at a time: the cooldown check holds
                replies = await self._screen_once(inbound, setup)
        finally:
            self._queued[key] -= 1
            if self._queued[key] == 0:  # nobody else waiting: memory stays bounded
                del self._queued[key], self._screening[key]
        if not replies:
            return Outcome()
        replies = self._local_card(inbound, setup, replies)
        offer: list[Reply] = []
        if any(r.urgency is Urgency.CRISIS for r in replies):
            offer = await self.alerts.offer(inbound, setup, source="message", words=inbound.text)
        t = self.t(inbound)
        quiet = Reply(t("community.channel_kind_line"), choices=(button(t("community.open_support"), "go", "crisis"),))
        return Outcome(private=replies + offer, if_closed=[quiet])

    async def _screen_once(self, inbound: Inbound, setup: CommunitySetup) -> list[Reply]:
        """The card, unless this member had one from this server's channels within the
        cooldown. The time is kept in the store, so a restart or a second process keeps it."""
        now = self._clock.now()
        cutoff = now - self._cooldown
        try:
            last = await self._last_card(inbound, setup)
        except Exception:
            log.exception("could not read the channel card's cooldown; screening anyway")
            last = None
        if last is not None and last > cutoff:
            return []  # they already have the card privately: no reply storm
        replies = await self._screen(replace(privately(inbound), kind=InboundKind.TEXT, command=""))
        if not replies:
            return []
        try:
            claimed = await self._claim_card(inbound, setup, now, cutoff)
        except Exception:
            log.exception("could not record the channel card; sending it anyway")
            claimed = True  # a second card is better than a missed one
        return replies if claimed else []  # else another process sent it meanwhile

    async def _last_card(self, inbound: Inbound, setup: CommunitySetup) -> datetime | None:
        async with self._store.transaction() as tx:
            found = await tx.users.find(inbound.address.platform, inbound.user_id)
            if found is None:
                return None
            last: datetime | None = await tx.communities.last_card(found[0].id, setup.id)
            return last

    async def _claim_card(self, inbound: Inbound, setup: CommunitySetup, now: datetime, cutoff: datetime) -> bool:
        """The member's row is created when needed (without consent, as for an alert): the
        time of their card is data about them that export and delete must reach."""
        platform = inbound.address.platform
        async with self._store.transaction() as tx:
            found = await tx.users.find(platform, inbound.user_id)
            if found is not None:
                user = found[0]
            else:
                user = await tx.users.create(platform, inbound.user_id, inbound.user_id, inbound.language)
            return bool(await tx.communities.claim_card(user.id, setup.id, now, cutoff))

    def _local_card(self, inbound: Inbound, setup: CommunitySetup | None, replies: list[Reply]) -> list[Reply]:
        """The server's default country for the lines, when the member chose none of their own
        and the card would otherwise guess it from their language or timezone."""
        if setup is None or not setup.country or not replies or replies[0].urgency is not Urgency.CRISIS:
            return replies
        if not replies[0].meta.get("country_guessed"):
            return replies
        try:
            return [self._crisis_card(inbound.language or self._lang, setup.country), *replies[1:]]
        except Exception:
            log.exception("server country card failed; keeping the general card")
            return replies

    async def _opted_out(self, inbound: Inbound, setup: CommunitySetup) -> bool:
        async with self._store.transaction() as tx:
            found = await tx.users.find(inbound.address.platform, inbound.user_id)
            if found is None:
                return False
            return bool(await tx.communities.opted_out(found[0].id, setup.id))

    async def setup_of(self, inbound: Inbound) -> CommunitySetup | None:
        if inbound.place is None:
            return None
        try:
            async with self._store.transaction() as tx:
                setup: CommunitySetup | None = await tx.communities.get(inbound.address.platform, inbound.place.community)
                return setup
        except Exception:
            log.exception("community setup unavailable")
            return None
