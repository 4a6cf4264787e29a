"""``/sessions``: add, list and remove dosing sessions; each one plans its check-ins.

Dates are typed in the person's own timezone. A date in the past or more than a year
ahead is likely a typo, so it is confirmed first; the confirm button carries the time
itself (``sess:ok:<unix seconds>``), so nothing about it sits in the dialogue state.
Other ids: ``sess:add``, ``sess:rm:<id>``, ``sess:no``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from ketacompanion.core.model import Reply
from ketacompanion.core.schedule import session_timeline
from ketacompanion.core.schedules import local_text, need_timezone
from ketacompanion.core.turn import Turn, button
from ketacompanion.core.when import parse_moment

CONFIRM_AFTER = timedelta(days=365)
SHOW_PAST = timedelta(days=60)  # past sessions stay in the list, marked, and can be removed
MAX_PAST, MAX_LISTED = 3, 8


class SessionsFlow:
    name = "sess"
    needs_consent = True  # its buttons act on health data: a stranger's press asks for consent
    needs_open_state = False

    async def command(self, turn: Turn) -> list[Reply]:
        if (ask := need_timezone(turn)) is not None:
            return ask
        typed = turn.inbound.text.strip()
        if typed:
            return await self._typed(turn, typed)
        return await self._list(turn)

    async def on_choice(self, turn: Turn, action: str, args: list[str]) -> list[Reply]:
        if (ask := need_timezone(turn)) is not None:
            return ask
        if action == "add":
            return self._ask(turn)
        if action == "ok" and args and args[0].isdigit():
            return await self._add(turn, datetime.fromtimestamp(int(args[0]), UTC))
        if action == "rm" and args and args[0].isdigit():
            user = turn.require_user()
            removed = await turn.tx.schedules.remove_session(user.id, int(args[0]), turn.now)
            key = "checkins.sessions.removed" if removed else "checkins.sessions.not_found"
            return await self._list(turn, [Reply(turn.t(key))])
        if action == "no":
            turn.state.clear()
            return [Reply(turn.t("checkins.sessions.not_added"))]
        return await self._list(turn)

    async def on_text(self, turn: Turn) -> list[Reply]:
        return await self._typed(turn, turn.inbound.text.strip()[:80])

    async def reprompt(self, turn: Turn) -> list[Reply]:
        return self._ask(turn)

    def _ask(self, turn: Turn) -> list[Reply]:
        turn.state.open(self.name, "date")
        return [Reply(turn.t("checkins.sessions.ask"))]

    async def _typed(self, turn: Turn, text: str) -> list[Reply]:
        zone = ZoneInfo(turn.require_user().timezone or "UTC")
        local = parse_moment(text, turn.now.astimezone(zone).date())
        if local is None:
            turn.state.open(self.name, "date")
            return [Reply(turn.t("checkins.sessions.bad_date", text=text[:40]))]
        starts_at = local.replace(tzinfo=zone).astimezone(UTC)
        if starts_at <= turn.now or starts_at > turn.now + CONFIRM_AFTER:
            turn.state.clear()
            key = "checkins.sessions.confirm_past" if starts_at <= turn.now else "checkins.sessions.confirm_far"
            shown = local_text(starts_at, str(zone), turn.now)
            return [
                Reply(
                    turn.t(key, when=shown),
                    choices=(
                        button(turn.t("checkins.sessions.confirm_yes"), "sess", "ok", int(starts_at.timestamp())),
                        button(turn.t("checkins.sessions.confirm_no"), "sess", "no"),
                    ),
                )
            ]
        return await self._add(turn, starts_at)

    async def _add(self, turn: Turn, starts_at: datetime) -> list[Reply]:
        user = turn.require_user()
        zone = user.timezone or "UTC"
        await turn.tx.schedules.add_session(user.id, starts_at, zone, turn.now)
        when = local_text(starts_at, zone, turn.now)
        # The same timeline the planner stores, so the times said are the times sent.
        planned = [s for s in session_timeline(starts_at, zone) if s.due_at > turn.now]
        if starts_at <= turn.now and not planned:
            said = turn.t("checkins.sessions.added_past", when=when)
        else:
            lines = [
                f"- {local_text(s.due_at, zone, turn.now)}: {turn.t(f'checkins.sessions.plan_{s.kind}')}" for s in planned
            ]
            said = "\n".join([turn.t("checkins.sessions.added_plan", when=when, zone=zone), *lines])
        return await self._list(turn, [Reply(said)])

    async def _list(self, turn: Turn, head: list[Reply] | None = None) -> list[Reply]:
        user = turn.require_user()
        zone = user.timezone or "UTC"
        turn.state.clear()
        found = await turn.tx.schedules.sessions(user.id, turn.now - SHOW_PAST)
        past = [s for s in found if s.starts_at <= turn.now][-MAX_PAST:]
        sessions = (past + [s for s in found if s.starts_at > turn.now])[:MAX_LISTED]
        mark = turn.t("checkins.sessions.past_mark")
        if sessions:
            text = "\n".join([turn.t("checkins.sessions.list")] + [
                f"- {local_text(s.starts_at, zone, turn.now)}" + (f" {mark}" if s.starts_at <= turn.now else "") for s in sessions
            ])
        else:
            text = turn.t("checkins.sessions.none")
        choices = [button(turn.t("checkins.sessions.add_button"), "sess", "add")]
        choices += [
            button(turn.t("checkins.sessions.remove_button", when=local_text(s.starts_at, zone, turn.now)), "sess", "rm", s.id)
            for s in sessions
        ]
        return [*(head or []), Reply(text, choices=tuple(choices))]
