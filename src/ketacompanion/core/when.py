"""Typed times and dates: "20:00", "8pm", "2026-12-03 14:00", "Dec 3 2pm", "tomorrow 9am".

Pure functions on local wall-clock values; the caller attaches the person's timezone.
Numeric day/month forms such as "3/12" are refused: they read differently in the US
and in Europe, and a session on the wrong day is worse than asking again."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta

_MONTHS = {
    name: i + 1
    for i, names in enumerate(
        [
            ("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"),
            ("may",), ("jun", "june"), ("jul", "july"), ("aug", "august"),
            ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"), ("dec", "december"),
        ]
    )
    for name in names
}
_WEEKDAYS = {
    name: i
    for i, names in enumerate(
        [("mon", "monday"), ("tue", "tues", "tuesday"), ("wed", "wednesday"), ("thu", "thur", "thurs", "thursday"),
         ("fri", "friday"), ("sat", "saturday"), ("sun", "sunday")]
    )
    for name in names
}
_CLOCK = re.compile(r"(\d{1,2})(?:[:.h](\d{2}))?\s*(am|pm|a\.m\.|p\.m\.)?")
_CLOCK_AT_END = re.compile(r"(?:^|\s|,|t)(?:at\s+)?(\d{1,2}(?:[:.h]\d{2})?\s*(?:am|pm|a\.m\.|p\.m\.)?)$")
_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_ORDINAL = re.compile(r"(\d{1,2})(?:st|nd|rd|th)?")


def _fold(text: str) -> str:
    return " ".join(text.strip().lower().replace(",", " ").split())


def parse_clock(text: str) -> time | None:
    """A time of day: "20:00", "8pm", "8:30 pm", "20.15", "20h", "noon", "midnight"."""
    s = _fold(text).removeprefix("at ").strip()
    if s in ("noon", "midday"):
        return time(12, 0)
    if s == "midnight":
        return time(0, 0)
    m = _CLOCK.fullmatch(s)
    if m is None:
        m = re.fullmatch(r"(\d{1,2})h", s)
        if m is None:
            return None
        return time(int(m[1]), 0) if int(m[1]) < 24 else None
    hour, minute, half = int(m[1]), int(m[2] or 0), (m[3] or "").replace(".", "")
    if minute > 59:
        return None
    if half:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if half == "pm" else 0)
    elif m[2] is None and not 0 <= hour <= 23:
        return None
    if hour > 23:
        return None
    return time(hour, minute)


def hhmm(value: time) -> str:
    return f"{value.hour:02d}:{value.minute:02d}"


def _date_words(s: str, today: date) -> date | None:
    if s == "today":
        return today
    if s == "tomorrow":
        return today + timedelta(days=1)
    if s in _WEEKDAYS or (s.startswith("next ") and s[5:] in _WEEKDAYS):
        ahead = (_WEEKDAYS[s.removeprefix("next ")] - today.weekday()) % 7 or 7
        return today + timedelta(days=ahead)
    if m := _ISO_DATE.fullmatch(s):
        return _safe_date(int(m[1]), int(m[2]), int(m[3]))
    words = s.split()
    if len(words) not in (2, 3):
        return None
    year: int | None = None
    if len(words) == 3:
        if not (words[2].isdecimal() and len(words[2]) == 4):
            return None
        year = int(words[2])
        words = words[:2]
    month_word, day_word = (words[0], words[1]) if words[0] in _MONTHS else (words[1], words[0])
    day_match = _ORDINAL.fullmatch(day_word)
    if month_word not in _MONTHS or day_match is None:
        return None
    month, day = _MONTHS[month_word], int(day_match[1])
    if year is not None:
        return _safe_date(year, month, day)
    # No year: the next such date, counting today.
    found = _safe_date(today.year, month, day)
    if found is not None and found < today:
        found = _safe_date(today.year + 1, month, day)
    return found


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def parse_date(text: str, today: date) -> date | None:
    """A calendar date: "2026-12-03", "Dec 3", "3 December 2026", "tomorrow", "friday"."""
    return _date_words(_fold(text), today)


def parse_moment(text: str, today: date) -> datetime | None:
    """A local date and time (naive): the date first, then the time, as people write it."""
    s = _fold(text).replace(" at ", " ")
    if m := re.fullmatch(r"(\d{4}-\d{1,2}-\d{1,2})t(\d{1,2}:\d{2})(?::\d{2})?", s):
        s = f"{m[1]} {m[2]}"
    m = _CLOCK_AT_END.search(s)
    if m is None:
        return None
    clock = parse_clock(m[1])
    day = parse_date(s[: m.start(1)].strip(), today)
    if clock is None or day is None:
        return None
    return datetime.combine(day, clock)
