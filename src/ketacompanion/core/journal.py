"""``/journal``: notes a person keeps, shown exactly as written, optionally in the
clinician summary. Button ids: ``journal:keep|drop|share|unshare:<entry id>``.

``/journal <text>`` adds an entry; ``/journal`` alone lists the recent ones."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from ketacompanion.core.model import Reply
from ketacompanion.core.turn import Turn, button

LISTED = 5


class JournalFlow:
    name = "journal"
    needs_open_state = False  # the buttons carry the entry id, checked against its owner

    async def command(self, turn: Turn) -> list[Reply]:
        user = turn.require_user()
        text = turn.inbound.text.strip()
        if text:
            entry = await turn.tx.journal.add(user.id, text, turn.now, kept=True)
            return [Reply(turn.t("journal.saved"), choices=(self._share_button(turn, entry, False),))]
        entries = await turn.tx.journal.recent(user.id, limit=LISTED)
        if not entries:
            return [Reply(turn.t("journal.empty"))]
        zone = user.timezone or "UTC"
        replies = [Reply(turn.t("journal.recent", count=len(entries)))]
        for e in entries:
            shown = turn.t("journal.entry", date=local_date_label(e.created_at, zone), text=e.text)
            if e.in_summary:
                shown += "\n" + turn.t("journal.in_summary")
            replies.append(Reply(shown, choices=(self._share_button(turn, e.id, e.in_summary),)))
        return replies

    def _share_button(self, turn: Turn, entry: int, shared: bool):  # type: ignore[no-untyped-def]
        if shared:
            return button(turn.t("journal.unshare"), self.name, "unshare", entry)
        return button(turn.t("journal.share"), self.name, "share", entry)

    async def on_choice(self, turn: Turn, action: str, args: list[str]) -> list[Reply]:
        user = turn.user
        if user is None or not user.consented or not args or not args[0].isdigit():
            return [Reply(turn.t("common.closed"))]
        entry = int(args[0])
        repo = turn.tx.journal
        if action == "keep" and await repo.keep(user.id, entry):
            return [Reply(turn.t("journal.saved"), choices=(self._share_button(turn, entry, False),))]
        if action == "drop":
            found = await repo.get(user.id, entry)
            if found is not None and not found.kept:  # "Not now" never removes a kept entry
                await repo.drop(user.id, entry)
            return [Reply(turn.t("journal.dropped"))]
        if action in ("share", "unshare") and await repo.set_in_summary(user.id, entry, action == "share"):
            key = "journal.shared" if action == "share" else "journal.unshared"
            return [Reply(turn.t(key), choices=(self._share_button(turn, entry, action == "share"),))]
        return [Reply(turn.t("journal.gone"))]

    async def on_text(self, turn: Turn) -> list[Reply]:
        turn.state.clear()
        return [Reply(turn.t("journal.empty"))]

    async def reprompt(self, turn: Turn) -> list[Reply]:
        return await self.command(turn)


def local_date_label(moment: datetime, zone: str) -> str:
    return moment.astimezone(ZoneInfo(zone)).strftime("%a %b %d, %H:%M")
