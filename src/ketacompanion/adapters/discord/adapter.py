"""Interactions and messages become the core's ``Inbound``; its ``Outcome`` becomes Discord
output. Which reply may be shown where is the core's decision (``core.community``): this
module shows ``here`` ephemerally when the core says it is for the member alone, and
``private`` as DMs.

Ingress is fair (``ketacompanion.fairqueue``): each member's interactions and messages wait
in that member's own bounded queue, served by a fixed pool of workers, one turn of a member
at a time. ``/crisis``, crisis and alert buttons, and text the rule screen flags skip every
queue and need no worker. Past the cap a member's extra turns are dropped and counted; the
member gets one "slow down" notice a flood, and a dropped interaction is still acknowledged.

An interaction is answered in one response when its answer is ready within
``answer_within_s`` of its arrival; otherwise it is deferred then (inside Discord's 3
seconds) and answered by follow-ups. A failure is logged by kind, never with the text.

A stop (``close``) finishes what it can within its budget. Messages left are kept in the
backlog (``kept``) and handled at the next start (``resume``) through the same path as live
ones. An interaction left can only be answered through its token, so before the stop ends
it is told, to the member alone, that the bot is restarting and to try again in a minute;
a crisis interaction left (it waited for the member's own turn) is answered instead.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import discord

from ketacompanion.adapters.discord.alerts import edit_alert, post_alert, retract_alerts
from ketacompanion.adapters.discord.delivery import PLATFORM, DiscordSender
from ketacompanion.adapters.discord.files import again, described, fetch, wanted
from ketacompanion.adapters.discord.kept import Kept, dump, parse
from ketacompanion.adapters.discord.render import Part, render
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
    command_name,
    means_crisis,
    split_command,
)
from ketacompanion.fairqueue import FINISH_S, FairQueue

if TYPE_CHECKING:
    from ketacompanion.backlog import Backlog

log = logging.getLogger(__name__)

ANSWER_WITHIN_S = 2.0  # Discord allows 3 s for the first response; the rest is headroom
WORKERS = 16
QUEUE_CAP = 50  # queued turns a member; more are dropped and counted
URGENT_FLOWS = ("crisis", "alert")  # crisis-card buttons, and a member's or moderator's alert buttons
NOTICE_S = 2.0  # the end of a stop's budget, kept for telling interactions left to try again


def urgent_choice(choice: str) -> bool:
    """Whether a button press goes ahead of every queue."""
    return choice == "go:crisis" or choice.partition(":")[0] in URGENT_FLOWS


class _State(enum.Enum):
    WAITING = "waiting"  # neither answered nor deferred yet
    ANSWERING = "answering"  # the answer goes out as the interaction's one response
    DEFERRED = "deferred"  # deferred in time; the answer follows up


class _Turn:
    """One accepted interaction or message: ``run`` is its work; ``done`` resolves when it
    has run or was dropped, so the event that brought it can end."""

    __slots__ = ("run", "done", "interaction", "message", "kept", "where", "thinking", "card", "state", "watch",
                 "deferring", "urgent", "replied")  # fmt: skip

    def __init__(
        self, run: Callable[[_Turn], Awaitable[None]], interaction: discord.Interaction[Any] | None = None,
        thinking: bool = False, card: bool = False, where: Inbound | None = None,
        message: discord.Message | None = None, kept: Kept | None = None,
    ) -> None:  # fmt: skip
        self.run, self.interaction, self.thinking, self.card = run, interaction, thinking, card
        # What a stop can keep of a message turn: the live message, or what the last stop kept.
        self.message, self.kept = message, kept
        # The interaction as the core sees it, built once: who, where, in which language.
        self.where = where
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.state = _State.WAITING
        self.watch: _Watch | None = None  # its place on the deferral clock, while it waits
        self.deferring: asyncio.Task[None] | None = None
        self.urgent = False
        self.replied = False  # its answer started going out: a stop cutting it off says nothing more

    def unwatch(self) -> None:
        if self.watch is not None:
            self.watch.turn = None
            self.watch = None

    def release(self) -> None:
        self.unwatch()
        if not self.done.done():
            self.done.set_result(None)


class _Watch:
    """A turn's deadline for its first response. The watch outlives its turn's answer for
    at most the budget; it lets go of the turn as soon as the turn is answered."""

    __slots__ = ("turn", "at")

    def __init__(self, turn: _Turn, at: float) -> None:
        self.turn: _Turn | None = turn
        self.at = at


class _Deadlines:
    """One timer for every waiting interaction, instead of one each: most are answered well
    within the budget, and a timer each cost a heap push, a cancel and a heap pop. Watches
    go in by arrival; the timer wakes at the oldest deadline still waiting."""

    def __init__(self, expire: Callable[[_Turn], None]) -> None:
        self._expire = expire
        self._watches: deque[_Watch] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._wakes_at = 0.0

    def watch(self, turn: _Turn, within_s: float) -> None:
        loop = asyncio.get_running_loop()
        watch = turn.watch = _Watch(turn, loop.time() + within_s)
        self._watches.append(watch)
        if self._timer is None or watch.at < self._wakes_at:  # an earlier one (the budget shrank)
            self._arm(loop, watch.at)

    def _arm(self, loop: asyncio.AbstractEventLoop, at: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._wakes_at = loop.call_at(at, self._fire), at

    def _fire(self) -> None:
        self._timer = None
        loop = asyncio.get_running_loop()
        now, due, kept = loop.time(), [], deque[_Watch]()
        for watch in self._watches:
            turn = watch.turn
            if turn is None:
                continue
            if watch.at <= now:
                turn.unwatch()
                due.append(turn)
            else:
                kept.append(watch)
        self._watches = kept
        if kept:
            self._arm(loop, min(w.at for w in kept))
        for turn in due:
            self._expire(turn)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._watches.clear()


class DiscordAdapter:
    platform = PLATFORM

    def __init__(
        self, client: discord.Client, community: Community, setup: ServerSetup, sender: DiscordSender, *,
        flagged: Callable[[str], bool] | None = None, answer_within_s: float = ANSWER_WITHIN_S,
        workers: int = WORKERS, cap: int = QUEUE_CAP, clock: Callable[[], float] = time.monotonic,
        backlog: Backlog | None = None, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:  # fmt: skip
        """``flagged`` is the cheap rule screen, for sorting text at ingress; ``backlog`` is
        where a stop keeps the messages it could not handle, for the next start."""
        self.client, self.community, self.setup, self.sender = client, community, setup, sender
        self.backlog = backlog
        self.answer_within_s = answer_within_s
        self._flagged = flagged
        self.queue: FairQueue[int, _Turn] = FairQueue(
            self._run, workers, cap, on_overflow=self._overflow, on_drop=_Turn.release, clock=clock, sleep=sleep
        )
        self._flooded: int | None = None  # the member whose drop just earned the flood notice
        self._tasks: set[asyncio.Task[None]] = set()
        self._deadlines = _Deadlines(self._defer_late)
        self._stopped = False  # set once a stop has drained the queue
        self._cut: list[_Turn] = []  # interactions a stop cut off before their answer started

    async def send(self, address: Address, reply: Reply) -> None:
        await self.sender.send(address, reply)

    async def close(self, within_s: float = 0.0) -> None:
        """Finish what was accepted for at most ``within_s`` seconds (turns running near the
        end of it end rather than being cut off), keeping the last ``NOTICE_S`` (a quarter,
        at most) for what is left. Of that: messages are kept in the backlog for the next
        start; each interaction is told to try again in a minute (through its token, the only
        way to answer it), or answered when it is a crisis one. An interaction cut off before
        its answer started is told too."""
        loop = asyncio.get_running_loop()
        ends = loop.time() + within_s
        left = await self.queue.drain(within_s - min(NOTICE_S, within_s / 4), finish_s=FINISH_S)
        self._stopped = True  # what arrives from now on is kept or told at once
        crisis = [t for t in left if t.interaction is not None and t.urgent]
        told = [t for t in left if t.interaction is not None and not t.urgent]
        told += [t for t in self._cut if not t.replied]
        self._cut = []
        for turn in left:
            if turn not in crisis:
                turn.release()
        work = [asyncio.ensure_future(self._run(t)) for t in crisis]
        notices = [asyncio.ensure_future(self._restarting(t)) for t in told]
        kept = await self._keep([t for t in left if t.interaction is None])  # while the others go out
        late: set[asyncio.Future[Any]] = set()
        if work or notices:
            _, late = await asyncio.wait([*work, *notices], timeout=max(ends - loop.time(), 0.0))
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        self._deadlines.close()
        answered = sum(1 for t in notices if not t.cancelled() and t.result())
        if answered:
            log.info("discord interactions left at stop told to try again", extra={"count": answered})
        messages = sum(1 for t in left if t.interaction is None)
        lost = (messages - kept) + (len(notices) - answered) + sum(1 for t in work if t in late)
        if lost:
            log.warning("discord turns left unhandled at stop", extra={"count": lost})

    async def _keep(self, turns: list[_Turn]) -> int:
        """Keep these message turns for the next start; how many were kept."""
        items = [(str(k.author), dump(k)) for k in (self._kept(t) for t in turns) if k is not None]
        if not items or self.backlog is None or not await self.backlog.keep(items):
            return 0
        return len(items)

    def _kept(self, turn: _Turn) -> Kept | None:
        message = turn.message
        if message is None:
            return turn.kept  # handed back by the last stop, and not handled yet either
        author = message.author
        if message.guild is None:
            file = wanted(message.attachments)
            return Kept(author.id, message.channel.id, message.content, file=described(file) if file else None)
        return Kept(author.id, message.channel.id, message.content, place=_message_place(message))

    async def _restarting(self, turn: _Turn) -> bool:
        """Tell an interaction that will not run that the bot is restarting, to the member
        alone: as its response, or as a follow-up when it was deferred."""
        interaction, where = turn.interaction, turn.where
        assert interaction is not None and where is not None
        line = self._t(where)("community.restarting")
        try:
            if turn.state is _State.WAITING:
                turn.state = _State.ANSWERING
                turn.unwatch()
                await interaction.response.send_message(line, ephemeral=True)
            else:
                if turn.deferring is not None:
                    await turn.deferring
                await interaction.followup.send(line, ephemeral=True)
        except Exception as exc:  # whatever fails, the stop goes on (network errors included)
            log.warning("could not tell an interaction to try again", extra={"error": type(exc).__name__})
            return False
        return True

    async def resume(self) -> None:
        """Hand back the messages the last stop kept, oldest first, once each: queued as they
        came, before anything newer from the same member, and handled as live ones."""
        if self.backlog is None:
            return
        for payload in await self.backlog.take():
            kept = parse(payload)
            if kept is None:
                log.warning("a kept discord message could not be read; dropped")
                continue
            self._submit(kept.author, _Turn(self._handle_kept, kept=kept), self._urgent_text(kept.text, kept.place is None))

    async def _handle_kept(self, turn: _Turn) -> None:
        kept = turn.kept
        assert kept is not None
        if kept.place is None:
            channel = self.client.get_partial_messageable(kept.channel, type=discord.ChannelType.private)
            file = again(self.client, kept.file) if kept.file is not None else None
            await self._dm(kept.text, channel, kept.author, file)
            return
        inbound = _channel_inbound(kept.author, kept.channel, kept.text, kept.place)
        where = self.client.get_channel(kept.channel) or self.client.get_partial_messageable(
            kept.channel, guild_id=kept.guild, type=discord.ChannelType.text
        )
        await self._channel(inbound, where, kept.author)  # type: ignore[arg-type]

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

    def flagged(self, text: str) -> bool:
        if not text.strip() or self._flagged is None:
            return False
        try:
            return self._flagged(text)
        except Exception as exc:
            log.warning("crisis check at ingress failed", extra={"error": type(exc).__name__})
            return False

    # --- interactions ------------------------------------------------------------------
    async def on_command(self, interaction: discord.Interaction[Any], name: str, text: str = "") -> None:
        inbound = self.inbound(interaction, InboundKind.COMMAND, command=name, text=text)
        make = lambda: self.community.command(inbound)  # noqa: E731
        await self._accept(interaction, inbound, make, urgent=name == "crisis", thinking=True)

    async def on_choice(self, interaction: discord.Interaction[Any], choice: str) -> None:
        inbound = self.inbound(interaction, InboundKind.CHOICE, choice=choice)
        make = lambda: self.community.choice(inbound)  # noqa: E731
        await self._accept(interaction, inbound, make, urgent=urgent_choice(choice), card=True)

    async def open_text_box(self, interaction: discord.Interaction[Any]) -> None:
        t = self._t(self.inbound(interaction, InboundKind.TEXT))
        await interaction.response.send_modal(TextBox(t("community.write_title"), t("community.write_label")))

    async def on_text_box(self, interaction: discord.Interaction[Any], text: str) -> None:
        inbound = self.inbound(interaction, InboundKind.TEXT, text=text)
        make = lambda: self.community.private_message(inbound)  # noqa: E731
        await self._accept(interaction, inbound, make, urgent=self.flagged(text), thinking=True)

    async def on_setup(self, interaction: discord.Interaction[Any], action: str, **values: Any) -> None:
        inbound = self.inbound(interaction, InboundKind.COMMAND, command="setup")
        s = self.setup
        calls = {
            "alerts": lambda: s.alerts(inbound, values.get("channel_id"), values.get("role_id"), values.get("can_post", False)),
            "country": lambda: s.country(inbound, str(values.get("code", ""))),
            "channel": lambda: s.channel(inbound, str(values.get("channel_id", "")), str(values.get("mode", ""))),
            "show": lambda: s.show(inbound),
            "screening": lambda: s.screening(inbound, bool(values.get("on", True))),
        }
        await self._accept(interaction, inbound, calls[action], urgent=False, thinking=True)

    async def _accept(
        self, interaction: discord.Interaction[Any], where: Inbound, make: Callable[[], Awaitable[Outcome]], *,
        urgent: bool, thinking: bool = False, card: bool = False,
    ) -> None:  # fmt: skip
        async def run(turn: _Turn) -> None:
            await self._work(turn, make)

        turn = _Turn(run, interaction, thinking, card, where)
        # Discord's clock runs from the interaction's arrival, queueing included.
        self._deadlines.watch(turn, self.answer_within_s)
        if self._stopped:  # after a stop's drain, nothing is queued: crisis runs, the rest is told
            turn.urgent = urgent
            await (self._run(turn) if urgent else self._restarting(turn))
            turn.release()
            return
        if self._submit(interaction.user.id, turn, urgent):
            await turn.done
            return
        await self._refuse(interaction, where, noticed=self._noticed(interaction.user.id))

    def _submit(self, member: int, turn: _Turn, urgent: bool) -> bool:
        turn.urgent = urgent
        self.queue.start()  # workers start on first use, in the running loop
        return self.queue.submit(member, turn, urgent=urgent)

    async def _run(self, turn: _Turn) -> None:
        try:
            await turn.run(turn)
        except asyncio.CancelledError:
            if turn.interaction is not None and not turn.replied:
                self._cut.append(turn)  # cut off by a stop: told to try again before it ends
            raise
        finally:
            turn.release()

    def _overflow(self, member: int) -> None:
        self._flooded = member

    def _noticed(self, member: int) -> bool:
        noticed, self._flooded = self._flooded == member, None
        return noticed

    async def _refuse(self, interaction: discord.Interaction[Any], where: Inbound, noticed: bool) -> None:
        """A dropped interaction is still acknowledged: the flood's first drop with the notice
        (visible to the member alone), the others silently."""
        if not noticed:
            await self._acknowledge(interaction)
            return
        try:
            notice = self._t(where)("community.slow_down")
            await interaction.response.send_message(notice, ephemeral=True)
        except discord.HTTPException as exc:
            log.warning("could not acknowledge a dropped interaction", extra={"error": type(exc).__name__})

    def _defer_late(self, turn: _Turn) -> None:
        """The answer is not ready within the budget: defer now, answer by follow-ups later."""
        if turn.state is _State.WAITING and turn.interaction is not None and turn.where is not None:
            turn.state = _State.DEFERRED
            turn.deferring = asyncio.create_task(self._defer(turn.interaction, turn.where, turn.thinking))

    async def _defer(self, interaction: discord.Interaction[Any], where: Inbound, thinking: bool) -> None:
        try:
            await interaction.response.defer(ephemeral=to_member_alone(where), thinking=thinking)
        except discord.HTTPException as exc:
            log.warning("could not defer an interaction", extra={"error": type(exc).__name__})

    async def _work(self, turn: _Turn, make: Callable[[], Awaitable[Outcome]]) -> None:
        interaction, where = turn.interaction, turn.where
        assert interaction is not None and where is not None
        try:
            outcome: Outcome = await make()
            here = await self._private(interaction.user.id, outcome)
            here += await self._alert(outcome)
            if outcome.retract:
                await retract_alerts(self.client, outcome.retract)
        except Exception:
            # Still answered: nobody is left with "interaction failed".
            log.exception("discord interaction failed", extra={"kind": str(interaction.type)})
            here = [Reply(self._t(where)("common.error"))]
        turn.replied = True
        if turn.state is _State.WAITING:
            turn.state = _State.ANSWERING
            turn.unwatch()
            await self._respond(interaction, where, here, turn.card, turn.thinking)
            return
        if turn.deferring is not None:
            await turn.deferring
        await self._answer(interaction, where, here, turn.card)

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

    async def _respond(
        self, interaction: discord.Interaction[Any], where: Inbound, replies: list[Reply], card: bool, thinking: bool
    ) -> None:
        """The answer as the interaction's one response (a new message, or the card edited in
        place), with follow-ups only for further parts. When a card is replaced by a later
        reply than the first, the response must leave the card the original: defer, then
        answer as after a deferral."""
        label = self._write_label(where, replies)
        at = _card_at(replies) if card else None
        if at is not None and at > 0:
            await self._defer(interaction, where, thinking=False)
            await self._answer(interaction, where, replies, card)
            return
        rendered = [render(reply, label) for reply in replies]
        parts = [part for reply_parts in rendered for part in reply_parts]
        if not parts:
            await self._acknowledge(interaction)
            return
        ephemeral = to_member_alone(where)
        try:
            if at == 0 and len(rendered[0]) == 1:
                await interaction.response.edit_message(**_edit_kwargs(parts[0].kwargs()))
            else:
                await interaction.response.send_message(ephemeral=ephemeral, **parts[0].kwargs())  # type: ignore[arg-type]
        except discord.HTTPException as exc:
            log.warning("interaction response not delivered", extra={"error": type(exc).__name__})
            return
        await self._follow(interaction, where, parts[1:])

    async def _acknowledge(self, interaction: discord.Interaction[Any]) -> None:
        """Nothing to say: acknowledged so the member does not see "interaction failed" (a
        command's "thinking" is removed at once; a button's acknowledgement shows nothing)."""
        try:
            if interaction.type is discord.InteractionType.application_command:
                await interaction.response.defer(ephemeral=True, thinking=True)
                await interaction.delete_original_response()
            else:
                await interaction.response.defer()
        except discord.HTTPException as exc:
            log.warning("could not acknowledge an interaction", extra={"error": type(exc).__name__})

    async def _follow(self, interaction: discord.Interaction[Any], where: Inbound, parts: list[Part]) -> None:
        ephemeral = to_member_alone(where)
        for part in parts:
            try:
                await interaction.followup.send(ephemeral=ephemeral, **part.kwargs())  # type: ignore[arg-type]
            except discord.HTTPException as exc:
                log.warning("interaction reply not delivered", extra={"error": type(exc).__name__})

    async def _answer(self, interaction: discord.Interaction[Any], where: Inbound, replies: list[Reply], card: bool) -> None:
        """After a deferral: the card edited in place when a reply replaces it, the rest as
        follow-ups."""
        label = self._write_label(where, replies)
        at = _card_at(replies) if card else None
        for n, reply in enumerate(replies):
            parts = render(reply, label)
            if n == at and len(parts) == 1:
                try:
                    await interaction.edit_original_response(**_edit_kwargs(parts[0].kwargs()))
                except discord.HTTPException as exc:
                    log.warning("interaction reply not delivered", extra={"error": type(exc).__name__})
                continue
            await self._follow(interaction, where, parts)

    # --- messages ----------------------------------------------------------------------
    async def on_message(self, message: discord.Message) -> None:
        author = message.author
        sent_file = wanted(message.attachments) if message.guild is None else None
        if author.bot or message.webhook_id is not None or not (message.content.strip() or sent_file):
            return

        async def run(turn: _Turn) -> None:
            await self._message(message)

        text = message.content
        turn = _Turn(run, message=message)
        if self._stopped:  # after a stop's drain: straight to the backlog
            if not await self._keep([turn]):
                log.warning("discord turns left unhandled at stop", extra={"count": 1})
            return
        if self._submit(author.id, turn, self._urgent_text(text, message.guild is None)):
            await turn.done
            return
        # A flood in a server channel is dropped silently (logged by count): the member was
        # not talking to the bot, and nothing is said in public. In a DM, one notice.
        if self._noticed(author.id) and message.guild is None:
            notice = Reply(self.community.t(self._dm_inbound(author.id, text))("community.slow_down"))
            try:
                await self.sender.post(message.channel, notice, author.id)
            except DeliveryError as exc:
                log.warning("slow-down notice not delivered", extra={"error": type(exc).__name__})

    def _urgent_text(self, text: str, direct: bool) -> bool:
        """Text that skips every queue: flagged by the rule screen, or a typed /crisis in a DM."""
        return self.flagged(text) or (direct and means_crisis(_typed_command(text)))

    def _dm_inbound(self, author_id: int, text: str) -> Inbound:
        author = str(author_id)
        return Inbound.from_text(Address(PLATFORM, author), author, text)

    async def _message(self, message: discord.Message) -> None:
        author, channel = message.author, message.channel
        if message.guild is None:
            await self._dm(message.content, channel, author.id, wanted(message.attachments))
            return
        place = _message_place(message)
        await self._channel(_channel_inbound(author.id, channel.id, message.content, place), channel, author.id)

    async def _dm(
        self, text: str, channel: discord.abc.Messageable, author_id: int, sent_file: discord.Attachment | None
    ) -> None:
        """A DM, with the lesson or content file it carries, if any: live, or kept by a stop
        (whose file link may have expired since: answered as any failed download)."""
        inbound = self._dm_inbound(author_id, text)
        try:
            if sent_file is not None:
                attachment = await fetch(sent_file)
                if attachment is None and not text.strip():  # too big, or the download failed
                    await self.sender.post(channel, Reply(self.community.t(inbound)("common.not_understood")))
                    return
                inbound = replace(inbound, attachment=attachment)
        except DeliveryError as exc:
            log.warning("message reply not delivered", extra={"error": str(exc)[:80]})
            return
        except Exception:
            log.exception("discord message failed", extra={"kind": "dm"})
            return
        await self._direct(inbound, channel, author_id)

    async def _channel(self, inbound: Inbound, channel: discord.abc.Messageable, author_id: int) -> None:
        """A server message: screened (where the server chose) by the core; what follows goes
        to the member privately, and only a line that reveals nothing to the channel, when
        their DMs are closed."""
        try:
            outcome = await self.community.channel_message(inbound)
            if not outcome.private:
                return
            here = await self._private(author_id, outcome)
            for reply in here:
                await self.sender.post(channel, reply)
        except DeliveryError as exc:
            log.warning("message reply not delivered", extra={"error": str(exc)[:80]})
        except Exception:
            log.exception("discord message failed", extra={"kind": "channel"})

    async def _direct(self, inbound: Inbound, channel: discord.abc.Messageable, author_id: int) -> None:
        """A DM's answer, in the DM."""
        try:
            outcome = await self.community.private_message(inbound)
            here = await self._alert(outcome) + outcome.here
            for reply in here:
                await self.sender.post(channel, reply, author_id)
        except DeliveryError as exc:
            log.warning("message reply not delivered", extra={"error": str(exc)[:80]})
        except Exception:
            log.exception("discord message failed", extra={"kind": "dm"})

    async def reping(self) -> None:
        """Alerts nobody took within five minutes: one more ping each."""
        try:
            due = await self.community.alerts.due()
        except Exception:
            log.exception("could not read alerts due for a re-ping")
            return
        for notice in due:
            await post_alert(self.client, notice)

    def _t(self, where: Inbound) -> Callable[..., str]:
        return self.community.t(where)

    def _write_label(self, where: Inbound, replies: list[Reply]) -> str:
        """The text box button's label, looked up only when a reply shows that button."""
        if not any(reply.asks_text for reply in replies):
            return ""
        return str(self._t(where)("community.write_button"))


def _place(guild: discord.Guild, user: Any, channel_id: str, perms: discord.Permissions | None) -> Place:
    manager = bool(perms and (perms.manage_guild or perms.administrator))
    roles = frozenset(str(r.id) for r in getattr(user, "roles", []))
    return Place(str(guild.id), channel_id, manager=manager, roles=roles)


def _message_place(message: discord.Message) -> Place:
    """Where a server message was written, and the member as the message carried them (their
    roles then): what the live path uses, and what a stop keeps for the next start."""
    assert message.guild is not None
    author = message.author
    return _place(message.guild, author, str(message.channel.id), getattr(author, "guild_permissions", None))


def _channel_inbound(author_id: int, channel_id: int, text: str, place: Place) -> Inbound:
    return Inbound(
        Address(PLATFORM, f"channel:{channel_id}"), str(author_id), InboundKind.TEXT, text=text, in_group=True,
        place=place,
    )  # fmt: skip


def _edit_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    kwargs.pop("files", None)
    kwargs.setdefault("view", None)
    return kwargs


def _card_at(replies: list[Reply]) -> int | None:
    """The reply that replaces the card a button was on, if any: the first plain one that asks."""
    for n, reply in enumerate(replies):
        if reply.replaces_card and reply.urgency is Urgency.NORMAL and not reply.image and not reply.file:
            return n
    return None


def _typed_command(text: str) -> str:
    stripped = text.strip()
    if not stripped.startswith("/") or len(stripped) < 2 or stripped[1].isspace():
        return ""
    return command_name(split_command(stripped)[0])  # as Inbound.from_text reads it
