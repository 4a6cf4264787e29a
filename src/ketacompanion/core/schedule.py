"""When check-ins fall due: daily and weekly recurrences in the person's own timezone,
quiet hours, and the timeline around each dosing session.

The arithmetic is APScheduler's (its cron trigger is DST-correct); this module only
decides what to ask for. All results are aware UTC datetimes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

SESSION_LENGTH = timedelta(hours=3)  # clinic time incl. monitoring: nothing is sent in it
POST_SESSION_DELAY = timedelta(hours=4)
PREP_TIME = time(18, 0)
MORNING_TIME = time(9, 0)
INTEGRATION_DAYS = 3

RECURRING = ("daily", "weekly")


@dataclass(frozen=True, slots=True)
class Slot:
    kind: str
    instrument: str | None
    due_at: datetime


def parse_hhmm(text: str) -> time:
    hours, _, minutes = text.strip().partition(":")
    value = time(int(hours), int(minutes or 0))
    return value


@lru_cache(maxsize=4096)
def _trigger(zone: str, hhmm: str, weekday: int | None) -> CronTrigger:
    at = parse_hhmm(hhmm)
    day = "*" if weekday is None else str(weekday)  # APScheduler: 0 = Monday
    return CronTrigger(day_of_week=day, hour=at.hour, minute=at.minute, timezone=ZoneInfo(zone))


@lru_cache(maxsize=65536)
def next_fire(zone: str, hhmm: str, weekday: int | None, after: datetime) -> datetime:
    """The first time strictly after ``after`` (many people share a zone and a time,
    so the answer is cached per zone, time and moment)."""
    fire = _trigger(zone, hhmm, weekday).get_next_fire_time(None, after + timedelta(seconds=1))
    if fire is None:  # a cron trigger with no end always has a next time
        raise ValueError("no next time")
    return fire.astimezone(UTC)


def in_quiet_hours(moment: datetime, zone: str, start: str | None, end: str | None) -> bool:
    if not start or not end:
        return False
    local = moment.astimezone(ZoneInfo(zone)).time()
    s, e = parse_hhmm(start), parse_hhmm(end)
    return s <= local < e if s < e else (local >= s or local < e)


def after_quiet_hours(moment: datetime, zone: str, start: str | None, end: str | None) -> datetime:
    """``moment``, or the end of the quiet hours it falls in."""
    if not in_quiet_hours(moment, zone, start, end):
        return moment
    return next_fire(zone, end, None, moment)  # type: ignore[arg-type]


def _local_at(day: datetime, zone: str, at: time) -> datetime:
    tz = ZoneInfo(zone)
    local = day.astimezone(tz)
    naive = datetime.combine(local.date(), at)
    return naive.replace(tzinfo=tz).astimezone(UTC)


def session_timeline(starts_at: datetime, zone: str) -> list[Slot]:
    """Prompts around one dosing session: preparation the evening before, a side-effect
    check a few hours after, mood and the no-driving reminder next morning, and an
    integration prompt three days later."""
    tz = ZoneInfo(zone)
    local_start = starts_at.astimezone(tz)
    day_before = local_start - timedelta(days=1)
    prep = _local_at(day_before, zone, PREP_TIME)
    if prep >= starts_at - timedelta(hours=2):  # an early-morning session: prepare sooner
        prep = starts_at - timedelta(hours=12)
    next_morning = _local_at(local_start + timedelta(days=1), zone, MORNING_TIME)
    integration = _local_at(local_start + timedelta(days=INTEGRATION_DAYS), zone, PREP_TIME)
    return [
        Slot("session_prep", None, prep),
        Slot("post_session", "post_session", starts_at + POST_SESSION_DELAY),
        Slot("next_day", "next_day", next_morning),
        Slot("integration", None, integration),
    ]


def during_session(moment: datetime, session_starts: list[datetime]) -> datetime | None:
    """The end of the session ``moment`` falls in, if any."""
    for start in session_starts:
        if start <= moment < start + SESSION_LENGTH:
            return start + SESSION_LENGTH
    return None
