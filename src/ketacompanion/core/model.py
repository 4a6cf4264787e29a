"""The vocabulary every adapter speaks: addresses, inbound messages and replies."""

from __future__ import annotations

import difflib
import unicodedata
from dataclasses import dataclass, field
from enum import StrEnum


class Urgency(StrEnum):
    NORMAL = "normal"
    CONCERN = "concern"
    CRISIS = "crisis"

    @property
    def rank(self) -> int:
        return _URGENCY_RANK[self]


_URGENCY_RANK = {Urgency.NORMAL: 0, Urgency.CONCERN: 1, Urgency.CRISIS: 2}


@dataclass(frozen=True, slots=True)
class Address:
    """Where a conversation happens: a platform and a chat on it."""

    platform: str
    chat_id: str


@dataclass(frozen=True, slots=True)
class Place:
    """Where in a community (a Discord server) something happened, and what the adapter
    knows of the person there. Rules about what may be shown where live in
    ``core.community``; the adapter only reports these facts."""

    community: str  # the server's id
    channel: str
    manager: bool = False  # may change the server's settings (Manage Server)
    roles: frozenset[str] = frozenset()  # the member's role ids in the server
    bot_can_post: bool = True  # in ``channel``: set by the adapter for /setup's checks


class InboundKind(StrEnum):
    TEXT = "text"
    COMMAND = "command"
    CHOICE = "choice"


@dataclass(frozen=True, slots=True)
class Inbound:
    """One thing a person did: wrote text, sent a command, or pressed a button.

    ``user_id`` is the person's id on the platform; ``address`` is where to answer.
    """

    address: Address
    user_id: str
    kind: InboundKind
    text: str = ""
    command: str = ""
    choice: str = ""
    language: str | None = None
    in_group: bool = False
    place: Place | None = None  # set for anything said or pressed inside a community
    attachment: Attachment | None = None  # a file the person sent; adapters cap its size

    @classmethod
    def from_text(cls, address: Address, user_id: str, text: str, **kw: object) -> Inbound:
        """Build from typed text, recognising ``/command args``."""
        stripped = text.strip()
        if stripped.startswith("/") and len(stripped) > 1 and not stripped[1].isspace():
            head, rest = split_command(stripped)
            name = command_name(head)
            return cls(address, user_id, InboundKind.COMMAND, text=rest.strip(), command=name, **kw)  # type: ignore[arg-type]
        return cls(address, user_id, InboundKind.TEXT, text=text, **kw)  # type: ignore[arg-type]

    @classmethod
    def from_choice(cls, address: Address, user_id: str, choice: str, **kw: object) -> Inbound:
        return cls(address, user_id, InboundKind.CHOICE, choice=choice, **kw)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Choice:
    """A button. ``url`` makes it a link (a ``tel:`` or ``sms:`` link for crisis lines)."""

    id: str
    label: str
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file or picture made in memory; adapters upload it or write it to disk."""

    filename: str
    mime: str
    data: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class Reply:
    """One message to send. Text is plain: adapters escape it for their markup.

    ``replaces_card`` lets an adapter that can edit messages update the last card
    in place instead of sending a new one.
    """

    text: str
    choices: tuple[Choice, ...] = ()
    image: Attachment | None = None
    file: Attachment | None = None
    urgency: Urgency = Urgency.NORMAL
    replaces_card: bool = False
    scheduled: bool = False
    asks_text: bool = False  # the open step waits for free text: a text box may be offered
    meta: dict[str, str] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A reply bound for an address, as the scheduler and the outbox hand it on."""

    address: Address
    reply: Reply


class DeliveryError(Exception):
    """A send failed in a way that may pass: the outbox retries it later."""


class OutcomeUnknown(DeliveryError):
    """The request may have reached the platform (a timeout or a connection dropped after
    it was written): sending again could deliver a second copy."""


class Unreachable(DeliveryError):
    """The person blocked the bot or closed their messages: stop sending to them."""


def split_command(stripped: str) -> tuple[str, str]:
    """``/name rest`` into the head and the rest, split at the first whitespace of any kind."""
    for i, ch in enumerate(stripped[1:], start=1):
        if ch.isspace():
            return stripped[1:i], stripped[i + 1:]
    return stripped[1:], ""


# How alike a mistyped command must be to a real one to be taken for it ("hlep", "crsis").
NEAR = 0.75


def means_crisis(name: str) -> bool:
    """``crisis``, or a slip for it ("crsis", "cris"): no other command is that close, and
    someone typing in a hurry should get the lines, not a question back."""
    return name == "crisis" or difflib.SequenceMatcher(None, name[:32], "crisis").ratio() >= NEAR


def command_name(head: str) -> str:
    """The command as meant: no ``@bot``, no invisible or control characters (pasted
    text carries zero-width spaces), no trailing punctuation ("/crisis!"), any case."""
    name = head.split("@", 1)[0]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    return name.rstrip(".,!?;:").lower()
