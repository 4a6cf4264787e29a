"""Files sent in a DM become the core's ``Attachment``; whether anyone may use them is the
core's decision (an editor's lesson ``.md`` or content ``.zip``; for everyone else a file
is answered as any file is).

Only lesson and content files are downloaded, only from DMs, and only up to
``MAX_ATTACHMENT`` bytes: the size Discord announces is checked before the download and
the bytes after it, since the announcement cannot be trusted."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import PurePosixPath

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
