"""One turn of a conversation: the inbound message, the person, their open flow."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from ketacompanion.core.model import Choice, Inbound, Reply
from ketacompanion.core.ports import DialogueState, Tx, UserRecord

Text = Callable[..., str]


@dataclass(slots=True)
class Turn:
    inbound: Inbound
    tx: Tx
    user: UserRecord | None
    state: DialogueState
    now: datetime
    lang: str
    t: Text
    deleted: bool = False
    after_commit: list[Callable[[], Any]] = field(default_factory=list)
    # Replies that take a while to make (charts) are made after the commit, so no
    # database lock is held while they are drawn.
    later: list[Callable[[], Awaitable[list[Reply]]]] = field(default_factory=list)

    def require_user(self) -> UserRecord:
        if self.user is None:
            raise RuntimeError("this step needs a known user")
        return self.user


class Flow(Protocol):
    """A multi-step conversation (onboarding, a lesson, a check-in...).

    Button ids look like ``<flow>:<action>[:<arg>...]``; the companion hands a button to
    the flow named by its prefix."""

    name: str
    needs_open_state: bool  # buttons only make sense while this flow is the open one

    async def on_choice(self, turn: Turn, action: str, args: list[str]) -> list[Reply]: ...

    async def on_text(self, turn: Turn) -> list[Reply]: ...

    async def reprompt(self, turn: Turn) -> list[Reply]:
        """The current step asked again (after a stale button or stray text)."""
        ...


def choice_id(*parts: str | int) -> str:
    value = ":".join(map(str, parts))
    # Telegram's callback_data limit is 64 bytes; 16 characters are at most 64 bytes.
    if len(value) > 16 and len(value.encode()) > 64:
        raise ValueError(f"button id too long: {value}")
    return value


def button(label: str, *parts: str | int) -> Choice:
    return Choice(choice_id(*parts), label)


def text_in(text_for: Callable[[str], Text], language: str | None, default: str, probe: str) -> Text:
    """The interface strings in ``language`` (a tag such as ``de-AT``), or in ``default``
    when that language has none yet: ``probe`` is a key the caller is about to use."""
    lang = (language or default).replace("_", "-").split("-", 1)[0].lower()
    try:
        t = text_for(lang)
        t(probe)
        return t
    except Exception:
        # Expected for languages without strings yet; the tag alone, never text.
        logging.getLogger(__name__).debug("no interface strings", extra={"language": lang[:8]})
        return text_for(default)
