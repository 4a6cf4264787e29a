"""Files sent in a DM become the core's ``Attachment``; whether anyone may use them is the
core's decision (an editor's lesson ``.md`` or content ``.zip``; for everyone else a file
is answered as any file is).

Only lesson and content files are downloaded, only from DMs, and only up to
``MAX_ATTACHMENT`` bytes: the size Discord announces is checked before the download and
the bytes after it, since the announcement cannot be trusted.

A file in a DM a stop left unhandled is kept as Discord described it (``described``) and
fetched at the next start through the same ``fetch`` (``again``): its link is signed and
expires, so that fetch can fail, and is answered as any failed download is."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import Any

import discord

from ketacompanion.core.model import Attachment

log = logging.getLogger(__name__)

CONTENT_FILES = (".md", ".zip")
MAX_ATTACHMENT = 20 * 1024 * 1024  # as on Telegram; larger files are refused unread


def wanted(attachments: Sequence[discord.Attachment]) -> discord.Attachment | None:
    """The first lesson or content file among a message's attachments."""
    return next((a for a in attachments if PurePosixPath(a.filename).name.lower().endswith(CONTENT_FILES)), None)


async def fetch(attachment: discord.Attachment) -> Attachment | None:
    """Its bytes, or None when it is too big or the download failed."""
    if attachment.size > MAX_ATTACHMENT:
        return None
    try:
        data = await attachment.read()
    except (discord.HTTPException, OSError) as exc:
        log.warning("attachment download failed", extra={"error": type(exc).__name__})
        return None
    if len(data) > MAX_ATTACHMENT:
        return None
    return Attachment(PurePosixPath(attachment.filename).name, "application/octet-stream", data)


# What ``fetch`` needs of an attachment, and all that is kept of it (never its alt text).
DESCRIBED = ("id", "filename", "size", "url", "proxy_url", "content_type")


def described(attachment: discord.Attachment) -> dict[str, Any]:
    """The attachment as Discord described it: enough to fetch it again later."""
    data = attachment.to_dict()
    return {key: data[key] for key in DESCRIBED if key in data}


def valid_description(data: object) -> bool:
    if not isinstance(data, dict) or set(data) - set(DESCRIBED):
        return False
    kinds = {"id": int, "size": int, "filename": str, "url": str, "proxy_url": str}
    if any(type(data.get(key)) is not kind for key, kind in kinds.items()):
        return False
    return data.get("content_type") is None or isinstance(data["content_type"], str)


def again(client: discord.Client, data: dict[str, Any]) -> discord.Attachment:
    """A kept description as discord.py's own attachment, downloading through the client's
    HTTP session as a live one does (discord.py offers no public way to build one)."""
    return discord.Attachment(data=data, state=client._connection)  # type: ignore[arg-type]
