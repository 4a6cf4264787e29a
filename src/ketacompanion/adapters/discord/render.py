"""A core ``Reply`` as Discord message parts: text under 2,000 characters, buttons, files.

Every part goes out with ``AllowedMentions.none()``: replies can echo what a person wrote,
and a pasted ``@everyone`` must never ping a server. Discord buttons cannot hold ``tel:``
or ``sms:`` links, so those contacts become lines of text, which Discord apps make
tappable.
"""

from __future__ import annotations

import asyncio
import functools
import io
from dataclasses import dataclass, field
from typing import Any, Self

import discord

from ketacompanion.adapters.discord.views import ChoiceButton, WriteButton
from ketacompanion.core.model import Choice, Reply

MAX_TEXT = 2000
MAX_BUTTONS = 25  # five rows of five
LINK_SCHEMES = ("http://", "https://")
NO_MENTIONS = discord.AllowedMentions.none()


@dataclass(slots=True)
class Part:
    content: str
    view: discord.ui.View | None = None
    files: list[discord.File] = field(default_factory=list)

    def kwargs(self) -> dict[str, object]:
        out: dict[str, object] = {"content": self.content or None, "allowed_mentions": NO_MENTIONS}
        if self.view is not None:
            out["view"] = self.view
        if self.files:
            out["files"] = self.files
        return out


def split_text(text: str, limit: int = MAX_TEXT - 10) -> list[str]:
    """Pieces under ``limit`` characters, cut after a paragraph, a line or a word."""
    pieces, rest = [], text
    while len(rest) > limit:
        window = rest[:limit]
        cut = max((window.rfind(sep) + len(sep) for sep in ("\n\n", "\n", " ") if window.rfind(sep) > limit // 2), default=limit)
        pieces.append(rest[:cut])
        rest = rest[cut:]
    if rest:
        pieces.append(rest)
    return pieces


def contact_lines(text: str, choices: tuple[Choice, ...]) -> str:
    lines = []
    for choice in choices:
        url = choice.url or ""
        if url.lower().startswith(("tel:", "sms:")):
            number = url.split(":", 1)[1].split("?", 1)[0]
            if number and number not in text:
                lines.append(f"{choice.label}: {number}")
    return "\n".join(lines)


class _SentView(discord.ui.View):
    """A view that only goes out (stopped, its buttons answered by ``custom_id``): its
    components are written once, not again for every message it rides on."""

    def __init__(self) -> None:
        super().__init__(timeout=None)
        self._components: list[dict[str, Any]] | None = None

    def add_item(self, item: discord.ui.Item[Any]) -> Self:
        self._components = None
        return super().add_item(item)

    def to_components(self) -> list[dict[str, Any]]:
        if self._components is None:
            self._components = super().to_components()
        return self._components


def view_of(choices: tuple[Choice, ...], asks_text: bool = False, write_label: str = "Write") -> discord.ui.View | None:
    """The buttons for ``choices``, made once for the same buttons (menus, lesson cards):
    a stopped view is only read when sent, so one can go out many times. discord.py can
    stop a view only inside an event loop; one made outside is never shared."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _view(choices, asks_text, write_label)
    return _shared_view(choices, asks_text, write_label)


def _view(choices: tuple[Choice, ...], asks_text: bool, write_label: str) -> discord.ui.View | None:
    view = _SentView()
    count = 0
    if asks_text:
        view.add_item(WriteButton(write_label))
        count += 1
    for choice in choices:
        if count >= MAX_BUTTONS:
            break
        if choice.url is not None:
            if choice.url.lower().startswith(LINK_SCHEMES):
                view.add_item(discord.ui.Button(label=choice.label[:80], url=choice.url))
                count += 1
            continue
        if ChoiceButton.fits(choice.id):
            view.add_item(ChoiceButton(choice.id, choice.label))
            count += 1
    if not count:
        return None
    # Every button is answered by its custom_id in any process (``views.pressed``), so nothing
    # listens to the view itself. Stopped, discord.py neither keeps it nor arms a timeout
    # for it (15 minutes for each ephemeral one: a heap that grew with every answer).
    view.stop()
    return view


_shared_view = functools.lru_cache(maxsize=512)(_view)


def render(reply: Reply, write_label: str = "Write") -> list[Part]:
    """The parts of one reply, in order; buttons and files ride on the last part."""
    body = reply.text
    contacts = contact_lines(body, reply.choices)
    if contacts:
        body = f"{body.rstrip()}\n\n{contacts}" if body.strip() else contacts
    parts = [Part(piece) for piece in split_text(body) if piece.strip()] or [Part("")]
    files = [
        discord.File(io.BytesIO(item.data), filename=item.filename)
        for item in (reply.image, reply.file) if item is not None
    ]  # fmt: skip
    last = parts[-1]
    last.view = view_of(reply.choices, reply.asks_text, write_label)
    last.files = files
    if not last.content and last.view is None and not files:
        parts.pop()
    return parts
