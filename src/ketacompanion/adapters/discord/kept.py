"""What a stop keeps of a Discord message it could not handle, so the next start can
handle it exactly as a live one: the payload of a ``pending_updates`` row (encrypted there,
since it holds what someone wrote).

Discord does not send a gateway message again, and discord.py's objects do not outlive the
process, so the row holds what the live path reads from the message:
- a DM: its author, channel and text, and the attachment the live path would download,
  as Discord described it (the link is signed and expires: fetched again at the next
  start, answered as any failed download when that fails);
- a server message: its author, server, channel and text, and the place as it was when
  written (the member's roles and whether they manage the server, as the message carried
  them): what the live path would have used.

Format ``v`` 2 names its ``kind``; a row with no ``v`` is the first format (a DM in text
alone) and still reads. A row that cannot be read parses to None.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, TypeGuard

from ketacompanion.adapters.discord.files import valid_description
from ketacompanion.core.model import Place

VERSION = 2
DM, CHANNEL = "dm", "channel"


@dataclass(frozen=True, slots=True)
class Kept:
    author: int
    channel: int
    text: str
    place: Place | None = None  # set for a server message: where, and the member's roles then
    file: dict[str, Any] | None = None  # a DM's attachment, as ``files.described`` gives it

    @property
    def guild(self) -> int | None:
        return int(self.place.community) if self.place is not None else None


def dump(kept: Kept) -> str:
    payload: dict[str, Any] = {"v": VERSION, "author": kept.author, "channel": kept.channel, "text": kept.text}
    if kept.place is None:
        payload["kind"] = DM
        if kept.file is not None:
            payload["file"] = kept.file
    else:
        payload |= {"kind": CHANNEL, "guild": int(kept.place.community), "manager": kept.place.manager,
                    "roles": sorted(kept.place.roles)}  # fmt: skip
    return json.dumps(payload)


def parse(payload: str) -> Kept | None:
    try:
        data = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    author, channel, text = data.get("author"), data.get("channel"), data.get("text")
    if not (_id(author) and _id(channel) and isinstance(text, str)):
        return None
    version, kind = data.get("v", 1), data.get("kind", DM)
    if version == 1:  # the first format: a DM in text alone
        return Kept(author, channel, text) if text.strip() and "kind" not in data else None
    if version != VERSION:
        return None
    if kind == DM:
        file = data.get("file")
        if file is not None and not valid_description(file):
            return None
        return Kept(author, channel, text, file=file) if text.strip() or file is not None else None
    if kind == CHANNEL:
        guild, manager, roles = data.get("guild"), data.get("manager"), data.get("roles")
        if not (_id(guild) and isinstance(manager, bool) and isinstance(roles, list) and text.strip()):
            return None
        if not all(isinstance(r, str) for r in roles):
            return None
        place = Place(str(guild), str(channel), manager=manager, roles=frozenset(roles))
        return Kept(author, channel, text, place=place)
    return None


def _id(value: object) -> TypeGuard[int]:
    """A Discord snowflake as JSON gives it back (a bool is not one)."""
    return type(value) is int and value > 0
