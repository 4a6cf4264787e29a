"""``/help``."""

from __future__ import annotations

from ketacompanion.core.model import Reply
from ketacompanion.core.turn import Turn


async def help_command(turn: Turn) -> list[Reply]:
    return [Reply(turn.t("help.text"))]
