"""A core ``Reply`` as the Bot API calls that show it.

Normal replies use the HTML parse mode, with every character of the core's plain text
escaped: HTML reserves only ``<``, ``>`` and ``&``, where MarkdownV2 reserves eighteen.
Crisis and concern replies use no parse mode at all, so no parser can refuse them.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import ParseMode

from ketacompanion.core.model import Attachment, Choice, Reply, Urgency

MAX_TEXT = 4096  # UTF-16 code units, counted after entity parsing
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64  # bytes
LINK_SCHEMES = ("http://", "https://", "tg://")  # the only links Telegram accepts on a button
_JOINERS = {"\u200d", "\ufe0e", "\ufe0f"}  # keep emoji sequences and their variants whole
_SEPARATORS = ("\n\n", "\n", " ")  # paragraph, line, word


class Kind(StrEnum):
    TEXT = "text"
    PHOTO = "photo"
    DOCUMENT = "document"


@dataclass(frozen=True, slots=True)
class Message:
    """One Bot API send: ``text`` is ready for ``parse_mode``; ``plain`` is what it shows."""

    kind: Kind
    text: str
    plain: str
    parse_mode: str | None = None
    markup: InlineKeyboardMarkup | None = None
    attachment: Attachment | None = None

    def bare(self) -> Message:
        """The same words with no parse mode and no buttons: the last resort for a send."""
        return Message(Kind.TEXT, self.plain, self.plain)


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def escape_html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def is_urgent(reply: Reply) -> bool:
    return reply.urgency in (Urgency.CRISIS, Urgency.CONCERN)


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Pieces of at most ``limit`` UTF-16 units whose concatenation is ``text``.

    Cuts after a paragraph break, else a line break, else a space, preferring a cut in the
    second half of the window so pieces stay large; never inside a surrogate pair or a
    combining sequence.
    """
    pieces: list[str] = []
    rest = text
    while utf16_length(rest) > limit:
        cut = _cut(rest, limit)
        pieces.append(rest[:cut])
        rest = rest[cut:]
    if rest:
        pieces.append(rest)
    return pieces


def _fit(text: str, limit: int) -> int:
    """The most leading code points of ``text`` that fit in ``limit`` UTF-16 units."""
    used = 0
    for index, char in enumerate(text):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > limit:
            return index
    return len(text)


def _cut(text: str, limit: int) -> int:
    window = text[: max(1, _fit(text, limit))]
    found = {sep: window.rfind(sep) for sep in _SEPARATORS}
    for separator in _SEPARATORS:
        if found[separator] >= len(window) // 2:
            return found[separator] + len(separator)
    boundaries = [at + len(sep) for sep, at in found.items() if at > 0]
    if boundaries:  # a short piece is better than a word cut in two
        return max(boundaries)
    return _hard_cut(text, len(window))


def _hard_cut(text: str, at: int) -> int:
    cut = at
    while cut > 0 and _binds(text, cut):
        cut -= 1
    return cut if cut > 0 else at


def _binds(text: str, at: int) -> bool:
    """True when cutting before ``text[at]`` would split a character from its marks."""
    nxt, prev = text[at], text[at - 1]
    return unicodedata.combining(nxt) > 0 or nxt in _JOINERS or prev == "\u200d"


def contact_lines(text: str, choices: tuple[Choice, ...]) -> str:
    """Phone and SMS contacts as lines of text: Telegram refuses tel: and sms: buttons,
    while its apps make numbers in a message tappable. Numbers already in ``text`` are
    not repeated."""
    numbers = [(choice, number) for choice in choices if (number := _dial_number(choice.url))]
    if not numbers:
        return ""  # most replies: no need to read the text digit by digit
    digits_in_text = _digit_runs(text)
    lines: list[str] = []
    for choice, number in numbers:
        if number in digits_in_text:
            continue
        digits_in_text.add(number)
        lines.append(f"{choice.label}: {number}")
    return "\n".join(lines)


def _dial_number(url: str | None) -> str | None:
    if not url or not url.lower().startswith(("tel:", "sms:")):
        return None
    target = url.split(":", 1)[1].split("?", 1)[0]
    number = "".join(ch for ch in target if ch.isdigit() or ch == "+")
    return number or None


def _digit_runs(text: str) -> set[str]:
    """Every phone-number-looking run in ``text``, with its spaces and dashes removed."""
    runs: set[str] = set()
    current = ""
    for char in text + "\n":
        if char.isdigit() or (char == "+" and not current):
            current += char
        elif char in " -" and current and current[-1].isdigit():
            continue
        else:
            if current:
                runs.add(current)
            current = ""
    return runs


def keyboard(choices: tuple[Choice, ...]) -> InlineKeyboardMarkup | None:
    """One button per row: callback buttons carry the choice id; web and tg links stay links."""
    rows: list[list[InlineKeyboardButton]] = []
    for choice in choices:
        if choice.url is not None:
            if choice.url.lower().startswith(LINK_SCHEMES):
                rows.append([InlineKeyboardButton(choice.label, url=choice.url)])
            continue
        if 0 < len(choice.id.encode("utf-8")) <= MAX_CALLBACK_DATA:
            rows.append([InlineKeyboardButton(choice.label, callback_data=choice.id)])
    return InlineKeyboardMarkup(rows) if rows else None


def render(reply: Reply) -> list[Message]:
    """The messages for one reply, in order; the keyboard rides on the last one."""
    urgent = is_urgent(reply)
    mode = None if urgent else ParseMode.HTML
    body = reply.text
    contacts = contact_lines(body, reply.choices)
    if contacts:
        body = f"{body.rstrip()}\n\n{contacts}" if body.strip() else contacts
    markup = keyboard(reply.choices)
    media = [(Kind.PHOTO, reply.image), (Kind.DOCUMENT, reply.file)]
    attachments = [(kind, item) for kind, item in media if item is not None]
    has_text = bool(body.strip())

    def ready(text: str) -> str:
        return text if mode is None else escape_html(text)

    if len(attachments) == 1 and (not has_text or utf16_length(body) <= MAX_CAPTION):
        kind, item = attachments[0]
        caption = body if has_text else ""
        return [Message(kind, ready(caption), caption, mode if caption else None, markup, item)]
    out: list[Message] = []
    pieces = [p for p in split_text(body) if p.strip()] if has_text else []
    for piece in pieces:
        out.append(Message(Kind.TEXT, ready(piece), piece, mode))
    for kind, item in attachments:
        out.append(Message(kind, "", "", None, None, item))
    if out and markup is not None:
        last = out[-1]
        out[-1] = Message(last.kind, last.text, last.plain, last.parse_mode, markup, last.attachment)
    return out
