"""``/privacy``, ``/export`` and ``/delete``: what is kept, a copy of it, and erasing it."""

from __future__ import annotations

import json
from typing import Any

from ketacompanion.core.model import Attachment, Reply
from ketacompanion.core.ports import Store
from ketacompanion.core.turn import Turn, button

_PLATFORM_NAMES = {"telegram": "Telegram", "discord": "Discord", "console": "terminal chat"}
# What a status in the export means where the word alone could mislead.
STATUS_NOTES = {
    "sent_unconfirmed": (
        "The message was sent but the connection failed before the platform confirmed it, "
        "so it may have reached you (at most twice); it was not sent again after that."
    ),
}


def privacy_text(t: Any, platform: str) -> str:
    note_key = f"privacy.platform_note_{platform}"
    try:
        note = t(note_key)
    except KeyError:
        note = ""
    return t("privacy.text", platform=_PLATFORM_NAMES.get(platform, platform), platform_note=note)


async def privacy(turn: Turn) -> list[Reply]:
    return [Reply(privacy_text(turn.t, turn.inbound.address.platform))]


async def export(turn: Turn) -> list[Reply]:
    if turn.user is None:
        return [Reply(turn.t("delete.nothing"))]
    data = await turn.tx.users.export(turn.user.id)
    document: dict[str, Any] = {
        "format": "ketacompanion-export/1",
        "exported_at": turn.now.isoformat(),
        "tables": data,
    }
    present = {row.get("status") for rows in data.values() for row in rows}
    notes = {status: note for status, note in STATUS_NOTES.items() if status in present}
    if notes:
        document["status_notes"] = notes
    payload = json.dumps(document, ensure_ascii=False, indent=2, default=str).encode("utf-8")
    stamp = turn.now.strftime("%Y%m%d-%H%M%S")
    attachment = Attachment(f"ketacompanion-export-{stamp}.json", "application/json", payload)
    return [Reply(turn.t("export.done"), file=attachment)]


class DeleteFlow:
    """Asks once, then erases every row about the person and scrubs the files."""

    name = "delete"
    needs_open_state = True

    def __init__(self, store: Store) -> None:
        self._store = store

    async def begin(self, turn: Turn) -> list[Reply]:
        if turn.user is None:
            return [Reply(turn.t("delete.nothing"))]
        turn.state.open(self.name, "confirm")
        return await self.reprompt(turn)

    async def reprompt(self, turn: Turn) -> list[Reply]:
        return [
            Reply(
                turn.t("delete.confirm"),
                choices=(
                    button(turn.t("delete.confirm_yes"), "delete", "yes"),
                    button(turn.t("common.cancel"), "delete", "no"),
                ),
            )
        ]

    async def on_choice(self, turn: Turn, action: str, args: list[str]) -> list[Reply]:
        if action == "yes" and turn.user is not None:
            await turn.tx.users.delete(turn.user.id)
            turn.deleted = True
            turn.after_commit.append(self._store.purge_traces)
            # ``erased`` tells an adapter that keeps files (the terminal chat) to remove them.
            return [Reply(turn.t("delete.done"), meta={"erased": "1"})]
        turn.state.clear()
        return [Reply(turn.t("delete.cancelled"))]

    async def on_text(self, turn: Turn) -> list[Reply]:
        return await self.reprompt(turn)
