"""The Telegram adapter: updates in, the companion's replies out. It owns no state.

Everything an update can be goes through ``on_update``, which never raises: a failure is
logged by kind (never with the text) and the next update carries on.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any

from telegram import BotCommand, BotCommandScopeAllGroupChats, BotCommandScopeDefault, Update
from telegram.error import TelegramError
from telegram.ext import Application, ContextTypes, TypeHandler

from ketacompanion.adapters.telegram.delivery import PLATFORM, TelegramSender
from ketacompanion.adapters.telegram.updates import (
    GROUP_COMMANDS,
    MAX_DOCUMENT,
    Action,
    Event,
    Peek,
    is_crisis_choice,
    is_crisis_command,
    peek,
    translate,
)
from ketacompanion.core.model import (
    Address,
    Attachment,
    Choice,
    DeliveryError,
    Inbound,
    InboundKind,
    Reply,
    Unreachable,
    means_crisis,
)
from ketacompanion.core.turn import Text

log = logging.getLogger(__name__)

Handle = Callable[[Inbound], Awaitable[list[Reply]]]
Texts = Callable[[str], Text]

COMMANDS = (
    "start", "learn", "checkin", "mood", "summary", "sessions", "schedule", "pause", "resume",
    "safetyplan", "crisis", "privacy", "export", "delete", "settings", "help",
)  # fmt: skip
COMMANDS += ("history", "journal")
# Used when the interface strings lack a key: the adapter must still be able to answer.
_DEFAULTS = {
    "common.not_understood": "I read text and buttons. Send /help to see what I can do, "
    "or /crisis if you need help now.",
    "telegram.group": "In a group I only share lessons (/learn) and crisis lines (/crisis). "
    "For anything else, continue in a private chat. If you are in danger, send /crisis.",
    "telegram.continue_privately": "Continue privately",
    "telegram.slow_down": "You are sending messages faster than I can read them, so I skipped "
    "some. Please wait for my reply. If you are in danger, send /crisis.",
    "telegram.slow_down_button": "One moment: I am still working through your earlier taps. "
    "If you are in danger, send /crisis.",
}
REFUSED_BUTTONS = 100  # button presses waiting for a "slow down" answer; older ones lapse


class TelegramAdapter:
    platform = PLATFORM

    def __init__(
        self,
        application: Application,  # type: ignore[type-arg]
        handle: Handle,
        sender: TelegramSender,
        texts: Texts,
        default_language: str = "en",
        *,
        screen: Handle,
        flagged: Callable[[str], bool] | None = None,
        flagged_each: Callable[[Sequence[str]], list[bool]] | None = None,
    ) -> None:
        """``handle`` is the companion's whole turn; ``screen`` its crisis screen alone
        (``Companion.screen_only``), for text that must not feed a flow. ``flagged`` is the
        cheap rule screen for one text, ``flagged_each`` the same for a batch's texts at once."""
        self.application, self.sender = application, sender
        self._handle, self._screen = handle, screen
        self._texts, self._default_language = texts, default_language
        self._flagged = flagged  # the cheap rule screen, for sorting updates at ingress
        self._flagged_each = flagged_each
        self._notices: set[asyncio.Task[None]] = set()
        self._refused: deque[str] = deque(maxlen=REFUSED_BUTTONS)
        self._answering: asyncio.Task[None] | None = None
        application.add_handler(TypeHandler(Update, self.on_update))
        application.add_error_handler(self._on_error)

    @property
    def username(self) -> str | None:
        try:
            return self.application.bot.username
        except RuntimeError:  # not initialised yet
            return None

    async def send(self, address: Address, reply: Reply) -> None:
        """The outbox's way in: the same pacing and retries as direct replies."""
        await self.sender.send(address, reply)

    async def register_commands(self) -> None:
        """The command menus: all commands in private chats, the group-safe ones in groups."""
        t = self._t(self._default_language)
        private = [BotCommand(name, t(f"telegram.commands.{name}")) for name in COMMANDS]
        group = [c for c in private if c.command in GROUP_COMMANDS]
        bot = self.application.bot
        try:
            await bot.set_my_commands(private, scope=BotCommandScopeDefault())
            await bot.set_my_commands(group, scope=BotCommandScopeAllGroupChats())
        except TelegramError as exc:
            # The menu is a convenience: typed commands work without it.
            log.warning("could not set the command menu", extra={"error": type(exc).__name__})

    # --- ingress ---------------------------------------------------------------------------
    def is_urgent(self, update: Update) -> bool:
        """Whether ``update`` goes ahead of every queue: ``/crisis``, a crisis button, or
        text the rule screen flags (the same rules the companion applies first)."""
        event = translate(update, self.username)
        inbound = event.inbound
        if inbound is not None and inbound.kind is InboundKind.COMMAND and means_crisis(inbound.command):
            return True
        if inbound is not None and inbound.kind is InboundKind.CHOICE:
            return is_crisis_choice(inbound.choice or "")
        text = inbound.text if inbound is not None else event.screen.text if event.screen else None
        return bool(text and text.strip() and self._flagged is not None and self._flagged(text))

    def is_urgent_raw(self, data: dict[str, Any]) -> bool:
        """``is_urgent`` read from an update's raw JSON, before any object is built: the
        triage that lets a flood's excess be dropped undecoded still sees every crisis."""
        return self.is_urgent_seen(peek(data))

    def is_urgent_seen(self, seen: Peek) -> bool:
        """``is_urgent_raw`` for an update ingress has already peeked at."""
        if seen.choice is not None:
            return is_crisis_choice(seen.choice)
        text = seen.text
        if text is None or not text.strip() or seen.kind not in ("message", "edited"):
            return False
        if seen.kind == "message" and is_crisis_command(text):
            return True
        return self._flagged is not None and self._flagged(text)

    def is_urgent_each(self, seen: Sequence[Peek]) -> list[bool]:
        """``is_urgent_seen`` for a whole getUpdates batch: the texts that are neither a
        command nor a button go through the rule screen together (one cheap regex pass
        over them all; only texts it cannot clear are screened one by one)."""
        urgent = [False] * len(seen)
        texts: list[str] = []
        where: list[int] = []
        for i, one in enumerate(seen):
            text = one.text
            if one.choice is not None:
                urgent[i] = is_crisis_choice(one.choice)
            elif text is None or one.kind not in ("message", "edited") or not text.strip():
                continue
            elif one.kind == "message" and is_crisis_command(text):
                urgent[i] = True
            else:
                texts.append(text)
                where.append(i)
        if not texts:
            return urgent
        if self._flagged_each is not None:
            flags = self._flagged_each(texts)
        elif self._flagged is not None:
            flags = [self._flagged(text) for text in texts]
        else:
            return urgent
        for i, flag in zip(where, flags, strict=True):
            urgent[i] = flag
        return urgent

    def flood_notice(self, chat_id: int) -> None:
        """Tell a flooding chat, once, that some of its messages were skipped."""
        reply = Reply(self._t(self._default_language)("telegram.slow_down"))
        task = asyncio.create_task(self._notify(Address(PLATFORM, str(chat_id)), reply))
        self._notices.add(task)
        task.add_done_callback(self._notices.discard)

    def refused_button(self, seen: Peek) -> None:
        """Stop the spinner of a button press dropped in a flood, with a short "slow down".

        One answer per press (Telegram wants each answered), sent one at a time by a single
        task from a bounded line: a flood of presses never becomes a flood of requests, and
        presses too old to be worth answering fall off the end."""
        if seen.query_id is None:
            return
        self._refused.append(seen.query_id)
        if self._answering is None or self._answering.done():
            self._answering = asyncio.create_task(self._answer_refused())

    async def _answer_refused(self) -> None:
        text = self._t(self._default_language)("telegram.slow_down_button")
        while self._refused:
            try:
                await self.sender.answer_button(self._refused.popleft(), text)
            except Exception as exc:  # the bot shutting down, say: the rest lapse
                log.info("callback answer failed", extra={"error": type(exc).__name__})
                return

    async def _notify(self, address: Address, reply: Reply) -> None:
        try:
            await self.sender.send(address, reply, once=True)  # at most one notice a flood
        except Exception as exc:
            log.warning("slow-down notice not delivered", extra={"error": type(exc).__name__})

    # --- updates ---------------------------------------------------------------------------
    async def on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        kind = "unknown"
        try:
            event = translate(update, self.username)
            kind = event.kind
            await self._on_event(event)
        except Exception:
            log.exception("telegram update failed", extra={"kind": kind})

    async def _on_event(self, event: Event) -> None:
        if event.query_id is not None:
            await self.sender.answer_button(event.query_id)
        if event.action is Action.IGNORE or event.address is None:
            return
        if event.action is Action.BLOCKED:
            await self.sender.mark_unreachable(int(event.address.chat_id))
            return
        if event.action is Action.DOCUMENT:
            inbound = await self._fetch(event)
            if inbound is not None:
                await self._deliver(event, await self._handle(inbound))
                return
        if event.action in (Action.MEDIA, Action.DOCUMENT):
            t = self._t(event.language)
            await self._deliver(event, [Reply(t("common.not_understood"))])
            return
        if event.action in (Action.GROUP, Action.SCREEN):
            await self._screen_then_offer(event)
            return
        assert event.inbound is not None
        if event.inbound.choice:
            log.info("button", extra={"kind": "choice", "command": event.inbound.choice.split(":")[0]})
        await self._deliver(event, await self._handle(event.inbound))

    async def _fetch(self, event: Event) -> Inbound | None:
        """The document's bytes on the inbound, or None (too big, or the download failed)."""
        assert event.document is not None and event.inbound is not None
        file_id, name, size = event.document
        if size > MAX_DOCUMENT:
            return None
        try:
            found = await self.application.bot.get_file(file_id)
            data = bytes(await found.download_as_bytearray())
        except Exception as exc:
            log.warning("document download failed", extra={"error": type(exc).__name__})
            return None
        if len(data) > MAX_DOCUMENT:
            return None
        return replace(event.inbound, attachment=Attachment(name, "application/octet-stream", data))

    async def _screen_then_offer(self, event: Event) -> None:
        """Crisis replies for concerning text; otherwise the group notice (GROUP) or
        nothing (SCREEN). The text never reaches a flow."""
        crisis = await self._screen(event.screen) if event.screen is not None else []
        if crisis:
            if event.screen is not None and event.screen.in_group:
                # Lines in the group, and a way to talk without the group reading along.
                first = crisis[0]
                crisis[0] = replace(first, choices=(*first.choices, self._private_button(event)))
            await self._deliver(event, crisis)
        elif event.action is Action.GROUP:
            t = self._t(event.language)
            await self._deliver(event, [Reply(t("telegram.group"), choices=(self._private_button(event),))])

    def _private_button(self, event: Event) -> Choice:
        url = f"https://t.me/{self.username}?start=group"
        return Choice("private", self._t(event.language)("telegram.continue_privately"), url)

    async def _deliver(self, event: Event, replies: list[Reply]) -> None:
        """Send replies in order. The first card-replacing reply to a button press edits the
        pressed message instead; crisis replies always arrive as new messages."""
        assert event.address is not None
        card = event.card_id
        for reply in replies:
            try:
                if card is not None and reply.replaces_card:
                    edited = await self.sender.edit(event.address, card, reply)
                    card = None  # one card per press; later replies are new messages
                    if edited:
                        continue
                await self.sender.send(event.address, reply)
            except Unreachable:
                return  # already marked; nothing more can reach them
            except DeliveryError as exc:
                # Go on with the rest: a later reply may be the one that matters.
                log.warning("reply not delivered", extra={"error": str(exc)[:80], "kind": event.kind})

    def _t(self, language: str | None) -> Text:
        lang = (language or self._default_language).replace("_", "-").split("-", 1)[0].lower()
        try:
            texts = self._texts(lang or self._default_language)
        except Exception:
            log.warning("interface strings unavailable; using the built-in ones")
            texts = None

        def t(key: str, **values: object) -> str:
            try:
                if texts is not None:
                    return texts(key, **values)
            except Exception:
                log.warning("interface string missing", extra={"kind": key})
            return _DEFAULTS.get(key, key.rsplit(".", 1)[-1])

        return t

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        # python-telegram-bot's own default would log the update; this logs the kind only.
        error = context.error
        log.error("telegram error", extra={"error": type(error).__name__ if error else "unknown"})
