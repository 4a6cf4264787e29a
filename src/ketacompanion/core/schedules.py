"""``/schedule``, ``/pause`` and ``/resume``: when check-ins come, in the person's timezone.

Every change is saved and replanned in the same transaction (``tx.schedules.save``), so
the delivery engine picks up the new times at its next wake-up. Button ids:
``sched:daily``, ``sched:dt:<HHMM>``, ``sched:weekly``, ``sched:wd:<day|off>``,
``sched:wt:<day>:<HHMM>``, ``sched:quiet``, ``sched:q:<HHMM>:<HHMM>|none``, ``sched:off``,
``sched:pause``, ``sched:pause:<days>|forever``, ``sched:resume``."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from ketacompanion.core.model import Choice, Reply
from ketacompanion.core.ports import CheckinRecord, ScheduleSettings
from ketacompanion.core.schedule import parse_hhmm
from ketacompanion.core.turn import Turn, button
from ketacompanion.core.when import hhmm, parse_clock, parse_date

DAILY_TIMES = ("08:00", "12:00", "18:00", "20:00", "21:00")
WEEKLY_TIMES = ("09:00", "12:00", "18:00", "20:00")
QUIET_HOURS = (("22:00", "07:00"), ("23:00", "08:00"), ("21:00", "09:00"))
PAUSE_DAYS = (1, 3, 7)
# "Until I resume": far enough never to arrive, near enough for date arithmetic.
INDEFINITE = datetime(2999, 1, 1, tzinfo=UTC)


def need_timezone(turn: Turn) -> list[Reply] | None:
    """Onboarding sets the timezone; if it is somehow missing, send the person there."""
    if turn.require_user().timezone:
        return None
    return [Reply(turn.t("checkins.schedule.need_timezone"), choices=(button(turn.t("settings.change_timezone"), "set", "timezone"),))]


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """Paused through the days before ``day``: check-ins start again on that date."""
    return datetime.combine(day, time(0, 0), tzinfo=zone).astimezone(UTC)


def local_text(moment: datetime, zone: str, now: datetime | None = None) -> str:
    """"Thu Dec 03, 14:00"; with ``now``, the year too when it is not this one ("Sat
    Jan 01 2028, 10:00"), so a date typed far ahead or behind shows how it was read."""
    local = moment.astimezone(ZoneInfo(zone))
    if now is not None and local.year != now.astimezone(ZoneInfo(zone)).year:
        return local.strftime("%a %b %d %Y, %H:%M")
    return local.strftime("%a %b %d, %H:%M")


def _inside(at: str, start: str | None, end: str | None) -> bool:
    """Whether the local time ``at`` falls in the quiet hours (which may span midnight)."""
    if not start or not end:
        return False
    a, s, e = parse_hhmm(at), parse_hhmm(start), parse_hhmm(end)
    return s <= a < e if s < e else (a >= s or a < e)


def _compact(value: str) -> str:
    return value.replace(":", "")


def _from_compact(value: str) -> str | None:
    if not re.fullmatch(r"\d{4}", value):
        return None
    clock = parse_clock(f"{value[:2]}:{value[2:]}")
    return hhmm(clock) if clock else None


class ScheduleFlow:
    name = "sched"
    needs_consent = True  # its buttons act on health data: a stranger's press asks for consent
    needs_open_state = False

    # --- commands -------------------------------------------------------------------------
    async def command(self, turn: Turn) -> list[Reply]:
        if (ask := need_timezone(turn)) is not None:
            return ask
        arg = turn.inbound.text.strip().lower()
        if arg == "off":
            return await self._off(turn)
        if arg:
            clock = parse_clock(arg)
            if clock is None:
                return [Reply(turn.t("checkins.schedule.bad_time", text=arg[:20])), *self._daily_menu(turn)]
            return await self._set(turn, daily_time=hhmm(clock))
        return await self._show(turn)

    async def pause_command(self, turn: Turn) -> list[Reply]:
        if (ask := need_timezone(turn)) is not None:
            return ask
        if turn.inbound.text.strip():
            return await self._pause_typed(turn, turn.inbound.text)
        return self._pause_menu(turn)

    async def resume_command(self, turn: Turn) -> list[Reply]:
        if (ask := need_timezone(turn)) is not None:
            return ask
        return await self._resume(turn)

    # --- buttons and typed answers ----------------------------------------------------------
    async def on_choice(self, turn: Turn, action: str, args: list[str]) -> list[Reply]:
        if (ask := need_timezone(turn)) is not None:
            return ask
        if action == "daily":
            return self._daily_menu(turn)
        if action == "dt" and args and (at := _from_compact(args[0])):
            return await self._set(turn, daily_time=at)
        if action == "weekly":
            return self._weekly_menu(turn)
        if action == "wd" and args and args[0] == "off":
            return await self._set(turn, weekly_day=None, weekly_time=None)
        if action == "wd" and args and args[0] in "0123456" and len(args[0]) == 1:
            return self._weekly_time_menu(turn, int(args[0]))
        if action == "wt" and len(args) == 2 and args[0] in "0123456" and (at := _from_compact(args[1])):
            return await self._set(turn, weekly_day=int(args[0]), weekly_time=at)
        if action == "quiet":
            return self._quiet_menu(turn)
        if action == "q" and args == ["none"]:
            return await self._set(turn, quiet_start=None, quiet_end=None)
        if action == "q" and len(args) == 2 and (start := _from_compact(args[0])) and (end := _from_compact(args[1])):
            return await self._set(turn, quiet_start=start, quiet_end=end)
        if action == "off":
            return await self._off(turn)
        if action == "pause" and not args:
            return self._pause_menu(turn)
        if action == "pause" and args == ["forever"]:
            return await self._pause(turn, INDEFINITE)
        if action == "pause" and args and args[0].isdigit() and int(args[0]) in PAUSE_DAYS:
            zone = ZoneInfo(turn.require_user().timezone or "UTC")
            return await self._pause(turn, _local_midnight(turn.now.astimezone(zone).date() + timedelta(days=int(args[0])), zone))
        if action == "resume":
            return await self._resume(turn)
        return await self._show(turn)

    async def on_text(self, turn: Turn) -> list[Reply]:
        text, step = turn.inbound.text.strip()[:60], turn.state.step
        if step == "pause":
            return await self._pause_typed(turn, text)
        if step == "quiet":
            parts = [p for p in re.split(r"\s*(?:-|–|to|until)\s*", text.lower()) if p]
            times = [parse_clock(p) for p in parts]
            if len(times) == 2 and all(times) and times[0] != times[1]:
                return await self._set(turn, quiet_start=hhmm(times[0]), quiet_end=hhmm(times[1]))  # type: ignore[arg-type]
            return [Reply(turn.t("checkins.schedule.bad_quiet", text=text[:20])), *self._quiet_menu(turn)]
        clock = parse_clock(text)
        if clock is None:
            return [Reply(turn.t("checkins.schedule.bad_time", text=text[:20])), *await self.reprompt(turn)]
        if step == "weekly" and isinstance(day := turn.state.data.get("day"), int):
            return await self._set(turn, weekly_day=day, weekly_time=hhmm(clock))
        return await self._set(turn, daily_time=hhmm(clock))

    async def reprompt(self, turn: Turn) -> list[Reply]:
        if turn.state.step == "weekly" and isinstance(day := turn.state.data.get("day"), int):
            return self._weekly_time_menu(turn, day)
        if turn.state.step == "quiet":
            return self._quiet_menu(turn)
        if turn.state.step == "pause":
            return self._pause_menu(turn)
        return self._daily_menu(turn)

    # --- screens ---------------------------------------------------------------------------
    def _day_names(self, turn: Turn) -> list[str]:
        return turn.t("checkins.schedule.day_names").split(",")

    async def _show(self, turn: Turn, head: list[Reply] | None = None) -> list[Reply]:
        user = turn.require_user()
        zone = user.timezone or "UTC"
        current = await turn.tx.schedules.get(user.id)
        upcoming = await turn.tx.schedules.upcoming(user.id, turn.now, limit=1)
        turn.state.clear()
        return [*(head or []), Reply(self._describe(turn, current, upcoming, zone), choices=self._menu(turn))]

    def _describe(self, turn: Turn, s: ScheduleSettings, upcoming: list[CheckinRecord], zone: str) -> str:
        t, off = turn.t, turn.t("checkins.schedule.off_word")
        weekly = off
        if s.weekly_time and s.weekly_day is not None:
            weekly = t("checkins.schedule.weekly_at", day=self._day_names(turn)[s.weekly_day].strip(), time=s.weekly_time)
        quiet = t("checkins.schedule.quiet_range", start=s.quiet_start, end=s.quiet_end) if s.quiet_start else off
        lines = [
            t("checkins.schedule.show", zone=zone, daily=s.daily_time or off, weekly=weekly, quiet=quiet),
        ]
        if s.paused_until and s.paused_until > turn.now:
            lines.append(
                t("checkins.schedule.paused_forever") if s.paused_until >= INDEFINITE
                else t("checkins.schedule.paused_until", when=s.paused_until.astimezone(ZoneInfo(zone)).strftime("%a %b %d"))
            )
        if upcoming:
            lines.append(t("checkins.schedule.next", when=local_text(upcoming[0].due_at, zone)))
        elif not s.daily_time and not s.weekly_time:
            lines.append(t("checkins.schedule.none_set"))
        return "\n".join(lines)

    def _menu(self, turn: Turn) -> tuple[Choice, ...]:
        t = turn.t
        return (
            button(t("checkins.schedule.daily_button"), "sched", "daily"),
            button(t("checkins.schedule.weekly_button"), "sched", "weekly"),
            button(t("checkins.schedule.quiet_button"), "sched", "quiet"),
            button(t("checkins.schedule.pause_button"), "sched", "pause"),
            button(t("checkins.schedule.off_button"), "sched", "off"),
        )

    def _daily_menu(self, turn: Turn) -> list[Reply]:
        turn.state.open(self.name, "daily")
        choices = [button(at, "sched", "dt", _compact(at)) for at in DAILY_TIMES]
        return [Reply(turn.t("checkins.schedule.ask_daily"), choices=tuple(choices))]

    def _weekly_menu(self, turn: Turn) -> list[Reply]:
        names = self._day_names(turn)
        choices = [button(names[d].strip(), "sched", "wd", d) for d in range(7)]
        choices.append(button(turn.t("checkins.schedule.weekly_off_button"), "sched", "wd", "off"))
        return [Reply(turn.t("checkins.schedule.ask_weekly_day"), choices=tuple(choices))]

    def _weekly_time_menu(self, turn: Turn, day: int) -> list[Reply]:
        turn.state.open(self.name, "weekly", day=day)
        choices = [button(at, "sched", "wt", day, _compact(at)) for at in WEEKLY_TIMES]
        return [Reply(turn.t("checkins.schedule.ask_weekly_time", day=self._day_names(turn)[day].strip()), choices=tuple(choices))]

    def _quiet_menu(self, turn: Turn) -> list[Reply]:
        turn.state.open(self.name, "quiet")
        choices = [
            button(turn.t("checkins.schedule.quiet_range", start=s, end=e), "sched", "q", _compact(s), _compact(e))
            for s, e in QUIET_HOURS
        ]
        choices.append(button(turn.t("checkins.schedule.quiet_none_button"), "sched", "q", "none"))
        return [Reply(turn.t("checkins.schedule.ask_quiet"), choices=tuple(choices))]

    def _pause_menu(self, turn: Turn) -> list[Reply]:
        turn.state.open(self.name, "pause")
        choices = [button(turn.t("checkins.schedule.pause_days", n=n), "sched", "pause", n) for n in PAUSE_DAYS]
        choices.append(button(turn.t("checkins.schedule.pause_forever_button"), "sched", "pause", "forever"))
        return [Reply(turn.t("checkins.schedule.ask_pause"), choices=tuple(choices))]

    # --- changes ---------------------------------------------------------------------------
    async def _set(self, turn: Turn, **changes: object) -> list[Reply]:
        user = turn.require_user()
        current = await turn.tx.schedules.get(user.id)
        wanted = replace(current, **changes)  # type: ignore[arg-type]
        await turn.tx.schedules.save(user.id, wanted, turn.now)
        said = [Reply(turn.t("checkins.schedule.saved"))]
        for at in (wanted.daily_time, wanted.weekly_time if wanted.weekly_day is not None else None):
            if at and _inside(at, wanted.quiet_start, wanted.quiet_end):
                # Said plainly: the check-in waits for the end of the quiet hours.
                said.append(Reply(turn.t(
                    "checkins.schedule.in_quiet", time=at, start=wanted.quiet_start, end=wanted.quiet_end
                )))
        return await self._show(turn, said)

    async def _off(self, turn: Turn) -> list[Reply]:
        user = turn.require_user()
        current = await turn.tx.schedules.get(user.id)
        await turn.tx.schedules.save(
            user.id, replace(current, daily_time=None, weekly_day=None, weekly_time=None), turn.now
        )
        turn.state.clear()
        return [Reply(turn.t("checkins.schedule.turned_off"))]

    async def _pause(self, turn: Turn, until: datetime) -> list[Reply]:
        user = turn.require_user()
        current = await turn.tx.schedules.get(user.id)
        await turn.tx.schedules.save(user.id, replace(current, paused_until=until), turn.now)
        turn.state.clear()
        if until >= INDEFINITE:
            return [Reply(turn.t("checkins.schedule.paused_forever_done"))]
        day = until.astimezone(ZoneInfo(user.timezone or "UTC")).strftime("%a %b %d")
        return [Reply(turn.t("checkins.schedule.paused_done", when=day))]

    async def _pause_typed(self, turn: Turn, text: str) -> list[Reply]:
        zone = ZoneInfo(turn.require_user().timezone or "UTC")
        day = parse_date(text, turn.now.astimezone(zone).date())
        if day is None:
            return [Reply(turn.t("checkins.schedule.bad_date", text=text.strip()[:20])), *self._pause_menu(turn)]
        until = _local_midnight(day, zone)
        if until <= turn.now:
            return [Reply(turn.t("checkins.schedule.pause_past")), *self._pause_menu(turn)]
        return await self._pause(turn, until)

    async def _resume(self, turn: Turn) -> list[Reply]:
        user = turn.require_user()
        current = await turn.tx.schedules.get(user.id)
        await turn.tx.schedules.save(user.id, replace(current, paused_until=None), turn.now)
        return await self._show(turn, [Reply(turn.t("checkins.schedule.resumed"))])
