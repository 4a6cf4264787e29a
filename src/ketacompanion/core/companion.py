"""The one entry point: an inbound message in, replies out.

Order matters: the crisis screen runs first, on the raw text, before any storage
is touched, so that a database failure can never stop crisis information."""

from __future__ import annotations

import difflib
import logging
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from typing import Protocol

from ketacompanion.core.crisis.pending import PendingEscalations, UnrecordedTx
from ketacompanion.core.model import NEAR, Inbound, InboundKind, Reply, Urgency, means_crisis
from ketacompanion.core.ports import Clock, DialogueState, Store, StoreBusy, StoreUnavailable
from ketacompanion.core.turn import Flow, Text, Turn

log = logging.getLogger(__name__)

MAX_TEXT = 4000  # longer messages are screened whole but handled truncated
# How long a flagged message waits for a busy database before its crisis reply goes out
# without it (the escalation is then written as soon as the database is free).
CRISIS_PATIENCE_MS = 250


class Screening(Protocol):
    @property
    def level(self) -> int: ...  # 0 none, 1 concern, 2 crisis

    @property
    def category(self) -> str | None: ...


class Screener(Protocol):
    def screen(self, text: str) -> Screening: ...


class CrisisResponder(Protocol):
    async def respond(self, turn: Turn, screening: Screening) -> list[Reply]:
        """Replies for a flagged message, inside the turn's transaction."""
        ...

    async def command(self, inbound: Inbound) -> list[Reply]:
        """``/crisis``: works before consent and with the database down."""
        ...

    def fallback(self, inbound: Inbound) -> list[Reply]:
        """Crisis lines built without content or storage."""
        ...


CommandHandler = Callable[[Turn], Awaitable[list[Reply]]]
# Text no flow is waiting for; ``concerned`` when the crisis screen flagged it softly.
FreeTextAnswer = Callable[[Turn, bool], Awaitable[list[Reply]]]


@dataclass(frozen=True, slots=True)
class Command:
    handler: CommandHandler
    needs_consent: bool = False
    private_only: bool = False  # health questions are never asked in a group
    # Hidden commands (admin) answer exactly as unknown ones to whoever may not see them,
    # and to everyone in a group: a group never learns who holds a role.
    visible: Callable[[Turn], Awaitable[bool]] | None = None
    needs_timezone: bool = False  # check-ins and times: not before the timezone is set


class SetupGate(Protocol):
    """Onboarding's part in routing: set-up cannot end without a timezone."""

    def needs_timezone(self, turn: Turn) -> bool: ...

    async def setup_prompt(self, turn: Turn) -> list[Reply]: ...

    async def ask_again(self, turn: Turn) -> list[Reply]: ...


class Companion:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        text: Callable[[str], Text],
        screener: Screener,
        crisis: CrisisResponder,
        commands: Mapping[str, Command],
        flows: Mapping[str, Flow],
        consent_prompt: Callable[[Turn], Awaitable[list[Reply]]],
        home: Callable[[Turn], list[Reply]],
        default_language: str = "en",
        pending: PendingEscalations | None = None,
        snapshot: Callable[[], AbstractContextManager[object]] = nullcontext,
        documents: Callable[[Turn], Awaitable[list[Reply] | None]] | None = None,
        free_text: FreeTextAnswer | None = None,
        setup: SetupGate | None = None,
    ) -> None:
        self._setup = setup
        self._store, self._clock, self._text = store, clock, text
        self._screener, self._crisis = screener, crisis
        self._commands, self._flows = dict(commands), dict(flows)
        self._consent_prompt, self._home = consent_prompt, home
        self._default_language = default_language
        self._free_text = free_text
        self.pending = pending
        self._snapshot = snapshot  # one content set for the whole turn, even across a reload
        self._documents = documents  # a file sent in chat; None from it means "as before"

    @property
    def crisis(self) -> CrisisResponder:
        return self._crisis

    async def handle(self, inbound: Inbound) -> list[Reply]:
        with self._snapshot():
            return await self._handle(inbound)

    async def screen_only(self, inbound: Inbound) -> list[Reply]:
        """Screen text that must not feed a flow (a group message, an edited message):
        crisis replies when it is concerning, nothing otherwise."""
        with self._snapshot():
            return await self._screen_only(inbound)

    async def _handle(self, inbound: Inbound) -> list[Reply]:
        screening = await self._screen(inbound)
        if (inbound.kind is InboundKind.COMMAND and self._is_crisis_command(inbound.command)) or (
            inbound.kind is InboundKind.CHOICE and inbound.choice == "go:crisis"
        ):
            return await self._crisis_command(inbound)
        crisis: list[Reply] = []
        flagged = screening is not None and screening.level > 0
        try:
            async with self._store.transaction(patience_ms=CRISIS_PATIENCE_MS if flagged else None) as tx:
                turn = await self._open_turn(tx, inbound)
                before = turn.state.snapshot()
                if screening is not None and screening.level > 0:
                    crisis = await self._crisis.respond(turn, screening)
                # A concern the policy answered at crisis urgency (a method question after
                # distress, a softer message soon after the card) is handled as a crisis.
                escalated = _is_crisis(screening) or any(r.urgency is Urgency.CRISIS for r in crisis)
                if not escalated:
                    replies = await self._route(turn, concerned=screening is not None and screening.level > 0)
                elif await self._keeps_flagged_text(turn):
                    # The open step takes free text (a note, a safety plan entry): keep
                    # what was written as well as showing the crisis card first.
                    replies = await self._route(turn)
                else:
                    replies = []
                if turn.user is not None and not turn.deleted and turn.state.snapshot() != before:
                    await tx.users.save_dialogue(turn.user.id, turn.state)
        except StoreBusy as exc:
            if flagged and not crisis and self.pending is not None:
                return await self._unrecorded_crisis(inbound, screening)  # type: ignore[arg-type]
            log.warning("store unavailable", extra={"error": str(exc)})
            return self._failed(inbound, screening, crisis, "common.busy")
        except StoreUnavailable as exc:
            log.warning("store unavailable", extra={"error": str(exc)})
            return self._failed(inbound, screening, crisis, "common.busy")
        except Exception:
            log.exception("turn failed", extra={"kind": inbound.kind.value, "command": inbound.command})
            return self._failed(inbound, screening, crisis, "common.error")
        for hook in turn.after_commit:
            try:
                await hook()
            except Exception:
                log.exception("after-commit step failed")
        for make in turn.later:
            try:
                replies += await make()
            except Exception:
                log.exception("a reply made after the commit failed")
                replies.append(Reply(turn.t("common.error")))
        return crisis + replies

    async def _unrecorded_crisis(self, inbound: Inbound, screening: Screening) -> list[Reply]:
        """The database is busy: the crisis reply now, its escalation written later."""
        assert self.pending is not None
        user = None
        try:
            user = await self._store.peek_user(inbound.address.platform, inbound.user_id)
        except Exception:
            log.warning("crisis reply without stored settings")
        now = self._clock.now()
        lang = (user.language if user else None) or _base_language(inbound.language) or self._default_language
        tx = UnrecordedTx(self.pending, inbound.address.platform, inbound.user_id, now)
        turn = Turn(inbound, tx, user, DialogueState(), now, lang, self._text(lang))  # type: ignore[arg-type]
        crisis = await self._crisis.respond(turn, screening)
        for hook in turn.after_commit:
            try:
                await hook()
            except Exception:
                log.exception("after-commit step failed")
        log.warning("crisis reply sent while the store was busy; escalation queued", extra={"count": len(self.pending)})
        return self._failed(inbound, screening, crisis, "common.busy")

    async def _screen_only(self, inbound: Inbound) -> list[Reply]:
        screening = await self._screen(inbound)
        if screening is None or screening.level <= 0:
            return []
        try:
            async with self._store.transaction() as tx:
                turn = await self._open_turn(tx, inbound)
                replies = await self._crisis.respond(turn, screening)
        except Exception:
            log.exception("screen-only turn failed; sending the built-in lines")
            return self._crisis.fallback(inbound)
        for hook in turn.after_commit:
            try:
                await hook()
            except Exception:
                log.exception("after-commit step failed")
        return replies

    async def _keeps_flagged_text(self, turn: Turn) -> bool:
        if turn.inbound.kind is not InboundKind.TEXT:
            return False
        flow = self._flows.get(turn.state.flow or "")
        keeps = getattr(flow, "keeps_flagged_text", None)
        return bool(keeps is not None and await keeps(turn))

    async def _screen(self, inbound: Inbound) -> Screening | None:
        text = inbound.text if inbound.kind is not InboundKind.CHOICE else ""
        if not text.strip():
            return None
        try:
            off_loop = getattr(self._screener, "screen_async", None)  # a model runs off the event loop
            if off_loop is not None:
                return await off_loop(text)  # type: ignore[no-any-return]
            return self._screener.screen(text)
        except Exception:
            # The screen itself failed: treat the message as possibly serious.
            log.exception("crisis screen failed")
            return _Unscreened()

    async def _crisis_command(self, inbound: Inbound) -> list[Reply]:
        try:
            return await self._crisis.command(inbound)
        except Exception:
            log.exception("crisis command failed; sending the built-in lines")
            return self._crisis.fallback(inbound)

    def _failed(self, inbound: Inbound, screening: Screening | None, crisis: list[Reply], key: str) -> list[Reply]:
        lang = inbound.language or self._default_language
        if screening is not None and screening.level > 0 and not any(
            r.urgency is Urgency.CRISIS for r in crisis
        ):
            crisis = self._crisis.fallback(inbound)
        try:
            notice = self._text(lang)(key)
        except Exception:
            log.warning("interface strings unavailable; using the built-in notice")
            notice = "Something went wrong. Please try again in a moment. If you are in danger, send /crisis."
        return crisis + [Reply(notice)]

    async def _open_turn(self, tx: object, inbound: Inbound) -> Turn:
        found = await tx.users.find(inbound.address.platform, inbound.user_id)  # type: ignore[attr-defined]
        user, state = found if found else (None, DialogueState())
        if user is not None and user.unreachable_at is not None:
            # They wrote again, so they can be reached: resume what blocking had stopped.
            user.unreachable_at = None
            await tx.users.update(user.id, unreachable_at=None)  # type: ignore[attr-defined]
            await tx.schedules.replan(user.id, self._clock.now())  # type: ignore[attr-defined]
        lang = (user.language if user else None) or _base_language(inbound.language) or self._default_language
        return Turn(inbound, tx, user, state, self._clock.now(), lang, self._text(lang))  # type: ignore[arg-type]

    async def _route(self, turn: Turn, concerned: bool = False) -> list[Reply]:
        inbound = turn.inbound
        notice: list[Reply] = []
        if len(inbound.text) > MAX_TEXT:
            # Screened whole above; the flows get the first part, and the person is told.
            turn.inbound = replace(inbound, text=inbound.text[:MAX_TEXT])
            notice = [Reply(turn.t("common.too_long", limit=f"{MAX_TEXT:,}"))]
        if inbound.attachment is not None and self._documents is not None:
            handled = await self._documents(turn)
            if handled is not None:
                return notice + handled
            if not inbound.text.strip():  # a file from someone who may not publish: as any file
                return [Reply(turn.t("common.not_understood"))]
        if inbound.kind is InboundKind.COMMAND:
            return notice + await self._run_command(turn)
        if inbound.kind is InboundKind.CHOICE:
            return await self._run_choice(turn)
        if not inbound.in_group and inbound.attachment is None:
            # "yes" typed just after "are you thinking of ending your life?" answers that,
            # whatever flow is open (the flow stays open for the next message).
            typed = getattr(self._crisis, "answer_typed", None)
            answered = await typed(turn) if typed is not None else None
            if answered is not None:
                return notice + answered
        flow = self._flows.get(turn.state.flow or "")
        if flow is not None:
            return notice + await flow.on_text(turn)
        if self._free_text is not None and not turn.inbound.in_group and inbound.attachment is None:
            return notice + await self._free_text(turn, concerned)
        return notice + [Reply(turn.t("common.not_understood"))]

    def _is_crisis_command(self, name: str) -> bool:
        """``/crisis``, or a slip for it ("/crsis", "/crisi"): the lines, not a question back."""
        return name == "crisis" or (name not in self._commands and means_crisis(name))

    def _near(self, name: str) -> str | None:
        """A command everyone can see that ``name`` is probably a slip for ("session" for
        "sessions"); hidden commands are never offered."""
        shown = [n for n, c in self._commands.items() if c.visible is None]
        found = difflib.get_close_matches(name[:32], shown, n=1, cutoff=NEAR)
        return found[0] if found else None

    async def _run_command(self, turn: Turn) -> list[Reply]:
        name = turn.inbound.command
        command = self._commands.get(name)
        if command is not None and command.visible is not None and (
            turn.inbound.in_group or not await command.visible(turn)
        ):
            command = None  # hidden commands exist only in private chats, and only for some
        if command is None:
            near = self._near(name)
            if near is not None:
                return [Reply(turn.t("common.unknown_command_near", command=name[:32], near=near))]
            return [Reply(turn.t("common.unknown_command", command=name[:32]))]
        if command.private_only and turn.inbound.in_group:
            return [Reply(turn.t("common.group_only_dm"))]
        if command.needs_consent and (turn.user is None or not turn.user.consented):
            return await self._consent_prompt(turn)
        if command.needs_timezone and self._setup is not None and self._setup.needs_timezone(turn):
            return await self._setup.setup_prompt(turn)
        replies = await command.handler(turn)
        if (
            self._setup is not None and name != "start" and turn.state.flow in (None, "start")
            and self._setup.needs_timezone(turn)
        ):
            # Answered; the timezone question comes back so set-up does not end without it.
            replies += await self._setup.ask_again(turn)
        return replies

    async def _run_choice(self, turn: Turn) -> list[Reply]:
        name, _, rest = turn.inbound.choice.partition(":")
        action, *args = rest.split(":") if rest else [""]
        if name == "go" and action in self._commands:  # a menu button standing for a command
            turn.inbound = replace(turn.inbound, kind=InboundKind.COMMAND, command=action, choice="")
            return await self._run_command(turn)
        flow = self._flows.get(name)
        visible = getattr(flow, "visible", None)
        if flow is None or (visible is not None and not await visible(turn)):
            return [Reply(turn.t("common.closed")), *await self._reprompt(turn)]
        if flow.needs_open_state and turn.state.flow != name:
            return [Reply(turn.t("common.closed")), *await self._reprompt(turn)]
        if getattr(flow, "needs_consent", False) and (turn.user is None or not turn.user.consented):
            # A button from someone unknown (a forwarded message, a deleted account).
            return await self._consent_prompt(turn)
        return await flow.on_choice(turn, action, args)

    async def _reprompt(self, turn: Turn) -> list[Reply]:
        flow = self._flows.get(turn.state.flow or "")
        if flow is None:
            return self._home(turn)
        return await flow.reprompt(turn)


class _Unscreened:
    level = 1
    category = "unscreened"
    reasons = ("screen_failed",)


def _is_crisis(screening: Screening | None) -> bool:
    # A crisis reply replaces the normal answer; the open flow waits for the person.
    return screening is not None and screening.level >= 2


def _base_language(tag: str | None) -> str | None:
    if not tag:
        return None
    return tag.replace("_", "-").split("-", 1)[0].lower() or None
