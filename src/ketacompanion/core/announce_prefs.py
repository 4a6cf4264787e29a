"""The person's announcements switch, offered under /settings (on unless they turn it off)."""

from __future__ import annotations

from typing import Protocol

from ketacompanion.core.model import Reply
from ketacompanion.core.turn import Turn


class AnnouncementPrefs(Protocol):
    async def is_off(self, tx: object, user_id: int) -> bool: ...

    async def set_off(self, tx: object, user_id: int, off: bool) -> None: ...


class AnnouncementsFlow:
    name = "ann"
    needs_open_state = False

    def __init__(self, prefs: AnnouncementPrefs) -> None:
        self._prefs = prefs

    async def on_choice(self, turn: Turn, action: str, args: list[str]) -> list[Reply]:
        user = turn.user
        if user is None or not user.consented or action != "toggle":
            return [Reply(turn.t("common.closed"))]
        off = not await self._prefs.is_off(turn.tx, user.id)
        await self._prefs.set_off(turn.tx, user.id, off)
        return [Reply(turn.t("settings.announcements_off" if off else "settings.announcements_on"))]

    async def on_text(self, turn: Turn) -> list[Reply]:
        return [Reply(turn.t("common.not_understood"))]

    async def reprompt(self, turn: Turn) -> list[Reply]:
        return [Reply(turn.t("common.not_understood"))]
