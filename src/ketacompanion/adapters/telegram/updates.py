"""What a Telegram update means: something for the core, a fixed notice, or nothing.

Decisions kept here, with why:
- Edited messages are screened for crisis words and never fed to a flow: an edit re-read
  as a new answer would store a check-in twice, but words added in an edit can still say
  someone is in danger.
- Forwarded text is screened like anything the person typed: it is text they sent us.
- Media with a caption passes the caption as text, so words beside a photo are screened;
  media alone gets one "I read text and buttons" notice.
- In a group only lessons, /crisis, /help and /privacy reach the core. Other group text is
  screened first (crisis lines answer concerning words wherever they are said) and never
  reaches a flow, whose open state (a check-in, say) belongs to the private chat. Text that
  speaks to the bot then gets one notice with a button to continue privately; talk among
  people gets nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple

from telegram import Chat, ChatMember, Message, Update, User

from ketacompanion.core.model import (
    Address,
    Inbound,
    InboundKind,
    command_name,
    means_crisis,
    split_command,
)

PLATFORM = "telegram"
GROUP_COMMANDS = frozenset({"learn", "crisis", "help", "privacy"})
GROUP_CHOICE_FLOWS = frozenset({"learn", "crisis"})
GROUP_MENU_CHOICES = frozenset({f"go:{name}" for name in GROUP_COMMANDS})
_MEDIA = (
    "photo", "sticker", "voice", "video", "video_note", "audio", "document", "animation",
    "location", "venue", "contact", "poll", "dice", "game", "story", "paid_media",
)  # fmt: skip


CONTENT_FILES = (".md", ".zip")
MAX_DOCUMENT = 20 * 1024 * 1024  # what the Bot API lets a bot download


class Action(StrEnum):
    CORE = "core"  # hand ``inbound`` to the companion
    MEDIA = "media"  # say we read text and buttons
    DOCUMENT = "document"  # fetch the file (size-capped) and hand it to the companion
    GROUP = "group"  # screen ``screen``; if clean, offer to continue in a private chat
    SCREEN = "screen"  # screen ``screen``; if clean, say nothing
    BLOCKED = "blocked"  # the person blocked the bot
    IGNORE = "ignore"


@dataclass(frozen=True, slots=True)
class Event:
    action: Action
    address: Address | None = None
    inbound: Inbound | None = None
    screen: Inbound | None = None  # text for the crisis screen alone, never for a flow
    language: str | None = None
    query_id: str | None = None  # a button press to answer, whatever else happens
    card_id: int | None = None  # the bot's message whose button was pressed
    document: tuple[str, str, int] | None = None  # file id, name, size: a content file sent privately
    kind: str = "none"  # for logs: never the text

    @property
    def chat_id(self) -> int | None:
        return int(self.address.chat_id) if self.address else None


IGNORED = Event(Action.IGNORE)


class Peek(NamedTuple):
    """What ingress needs from an update's raw JSON, read without building any object."""

    chat_id: int | None  # the chat (or, without one, the person) whose queue it joins
    kind: str  # "message", "edited", "choice", "member" or "other"
    text: str | None  # the text or caption, for the crisis rule screen
    choice: str | None  # a button's data
    query_id: str | None  # a button press to answer


def peek(data: dict[str, Any]) -> Peek:
    """The chat, kind, text and button of ``data`` (decoded getUpdates or webhook JSON).
    Anything oddly shaped reads as absent: the full parse decides what it really is."""
    for field, kind in (("message", "message"), ("edited_message", "edited")):
        message = data.get(field)
        if isinstance(message, dict):
            text = message.get("text")
            if text is None:
                text = message.get("caption")
            key = _raw_id(message.get("chat")) or _raw_id(message.get("from"))
            return Peek(key, kind, text if isinstance(text, str) else None, None, None)
    query = data.get("callback_query")
    if isinstance(query, dict):
        message = query.get("message")
        key = _raw_id(message.get("chat") if isinstance(message, dict) else None)
        choice, query_id = query.get("data"), query.get("id")
        return Peek(
            key or _raw_id(query.get("from")), "choice", None,
            choice if isinstance(choice, str) else None,
            query_id if isinstance(query_id, str) and query_id else None,
        )  # fmt: skip
    member = data.get("my_chat_member")
    if isinstance(member, dict):
        return Peek(_raw_id(member.get("chat")) or _raw_id(member.get("from")), "member", None, None, None)
    return Peek(None, "other", None, None, None)


def _raw_id(part: object) -> int | None:
    value = part.get("id") if isinstance(part, dict) else None
    return value if _is_int(value) else None  # type: ignore[return-value]


def is_crisis_command(text: str) -> bool:
    """``/crisis``, ``/crisis@bot`` or ``/crisis ...``, read as ``Inbound.from_text`` reads it."""
    stripped = text.strip()
    if not stripped.startswith("/"):
        return False
    if len(stripped) < 2 or stripped[1].isspace():
        return False
    return means_crisis(command_name(split_command(stripped)[0]))


def is_crisis_choice(choice: str) -> bool:
    return choice == "go:crisis" or choice.partition(":")[0] == "crisis"


def is_group(chat: Chat) -> bool:
    return chat.type in (Chat.GROUP, Chat.SUPERGROUP)


def translate(update: Update, bot_username: str | None) -> Event:
    """The meaning of ``update``; unknown or incomplete updates come out as IGNORE."""
    if update.callback_query is not None:
        return _callback(update)
    if update.message is not None:
        return _message(update.message, bot_username)
    if update.edited_message is not None:
        return _edited(update.edited_message)
    member = update.my_chat_member
    if (
        member is not None
        and _sound_chat(member.chat)
        and member.chat.type == Chat.PRIVATE
        and getattr(member.new_chat_member, "status", None) == ChatMember.BANNED
    ):
        return Event(Action.BLOCKED, Address(PLATFORM, str(member.chat.id)), kind="blocked")
    return IGNORED


def _callback(update: Update) -> Event:
    query = update.callback_query
    assert query is not None
    message = query.message
    query_id = query.id if isinstance(query.id, str) and query.id else None
    chat, user = getattr(message, "chat", None), query.from_user
    if not (_sound_chat(chat) and _sound_user(user) and isinstance(query.data, str) and query.data):
        # Inline-mode and game buttons have no chat to answer in; still stop the spinner.
        return Event(Action.IGNORE, query_id=query_id, kind="choice")
    assert chat is not None and user is not None
    address = Address(PLATFORM, str(chat.id))
    language = _language(user.language_code)
    base = {"query_id": query_id, "language": language, "kind": "choice"}
    if chat.type == Chat.CHANNEL:
        return Event(Action.IGNORE, **base)  # type: ignore[arg-type]
    group = is_group(chat)
    if group and not _group_choice(query.data):
        return Event(Action.GROUP, address, **base)  # type: ignore[arg-type]
    inbound = Inbound.from_choice(
        address, str(user.id), query.data, language=language, in_group=group
    )
    card = message.message_id if isinstance(message, Message) and _is_int(message.message_id) else None
    return Event(Action.CORE, address, inbound, card_id=card, **base)  # type: ignore[arg-type]


def _group_choice(data: str) -> bool:
    return data in GROUP_MENU_CHOICES or data.partition(":")[0] in GROUP_CHOICE_FLOWS


def _message(message: Message, bot_username: str | None) -> Event:
    chat, user = message.chat, message.from_user
    if not _sound_chat(chat) or not _sound_user(user) or chat.type == Chat.CHANNEL:
        return IGNORED
    assert user is not None
    if user.is_bot is True:
        return IGNORED
    address = Address(PLATFORM, str(chat.id))
    language = _language(user.language_code)
    group = is_group(chat)
    text = message.text if message.text is not None else message.caption
    doc = message.document
    if not group and doc is not None and str(doc.file_name or "").lower().endswith(CONTENT_FILES):
        # Only lesson and content files are fetched (for editors); other files stay media.
        inbound = Inbound(address, str(user.id), InboundKind.TEXT, text=text or "", language=language)
        return Event(Action.DOCUMENT, address, inbound, language=language, kind="document",
                     document=(doc.file_id, str(doc.file_name), int(doc.file_size or 0)))
    if not isinstance(text, str) or not text.strip():
        if not group and any(getattr(message, name, None) for name in _MEDIA):
            return Event(Action.MEDIA, address, language=language, kind="media")
        return IGNORED  # service messages (joins, pins), and pictures shared in a group
    if not _addressed_to_us(text, bot_username):
        return IGNORED
    inbound = Inbound.from_text(address, str(user.id), text, language=language, in_group=group)
    kind = "command" if inbound.kind is InboundKind.COMMAND else "text"
    if not group or (inbound.kind is InboundKind.COMMAND and inbound.command in GROUP_COMMANDS):
        return Event(Action.CORE, address, inbound, language=language, kind=kind)
    screen = _screen_only(address, str(user.id), text, language, group)
    if kind == "text" and not _speaks_to_us(message, text, bot_username):
        # Talk among people (an admin bot sees all of it): answered only if it is concerning.
        return Event(Action.SCREEN, address, screen=screen, language=language, kind=kind)
    return Event(Action.GROUP, address, screen=screen, language=language, kind=kind)


def _edited(message: Message) -> Event:
    chat, user = message.chat, message.from_user
    if not _sound_chat(chat) or not _sound_user(user) or chat.type == Chat.CHANNEL:
        return IGNORED
    assert user is not None
    text = message.text if message.text is not None else message.caption
    if user.is_bot is True or not isinstance(text, str) or not text.strip():
        return IGNORED
    address, language = Address(PLATFORM, str(chat.id)), _language(user.language_code)
    screen = _screen_only(address, str(user.id), text, language, is_group(chat))
    return Event(Action.SCREEN, address, screen=screen, language=language, kind="edited")


def _screen_only(address: Address, user_id: str, text: str, language: str | None, group: bool) -> Inbound:
    # Always plain text, even when it starts with "/": the whole of it is screened.
    return Inbound(address, user_id, InboundKind.TEXT, text=text, language=language, in_group=group)


def _addressed_to_us(text: str, bot_username: str | None) -> bool:
    """False for ``/cmd@OtherBot``: in a group that command belongs to another bot."""
    head = text.strip().split(maxsplit=1)[0] if text.strip() else ""
    if not head.startswith("/") or "@" not in head:
        return True
    target = head.split("@", 1)[1]
    return bot_username is None or target.lower() == bot_username.lower()


def _speaks_to_us(message: Message, text: str, bot_username: str | None) -> bool:
    if bot_username is None:
        return False
    replied = message.reply_to_message
    replier = getattr(replied, "from_user", None)
    if isinstance(replier, User) and isinstance(replier.username, str):
        if replier.username.lower() == bot_username.lower():
            return True
    return f"@{bot_username.lower()}" in text.lower()


# python-telegram-bot builds objects from whatever JSON arrives without checking types, so
# the fields we rely on are checked here; Telegram itself always sends them well formed.
def _sound_chat(chat: object) -> bool:
    return isinstance(chat, Chat) and _is_int(chat.id) and isinstance(chat.type, str)


def _sound_user(user: object) -> bool:
    return isinstance(user, User) and _is_int(user.id)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _language(code: object) -> str | None:
    return code if isinstance(code, str) and 0 < len(code) <= 35 else None
