"""The few lines shown after a check-in: each number next to the last one, in plain words.

Scores are reported with their published band name and a reminder that a score is
not a diagnosis. Nothing here judges a change as good or bad."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from ketacompanion.content.instruments import Instrument, ItemKind
from ketacompanion.core.ports import PastCheckin
from ketacompanion.core.scoring import Answer, Score, describe_change, score
from ketacompanion.core.turn import Text


def when_words(t: Text, then: datetime, now: datetime, zone: str) -> str:
    """"earlier today", "yesterday", "3 days ago", "last week", "5 weeks ago"."""
    tz = ZoneInfo(zone)
    days = (now.astimezone(tz).date() - then.astimezone(tz).date()).days
    if days <= 0:
        return t("checkins.when_today")
    if days == 1:
        return t("checkins.when_yesterday")
    if days < 7:
        return t("checkins.when_days", n=days)
    if days < 14:
        return t("checkins.when_last_week")
    return t("checkins.when_weeks", n=days // 7)


def short_name(ins: Instrument) -> str:
    """ "PHQ-9" from "PHQ-9: mood over the last 2 weeks"."""
    return ins.title.split(":", 1)[0].strip()


def _label(t: Text, item_id: str) -> str:
    try:
        return t(f"checkins.label_{item_id}")
    except KeyError:
        return item_id.replace("_", " ")


def _previous_value(history: Sequence[PastCheckin], item_id: str, exclude: int) -> PastCheckin | None:
    for past in reversed(history):
        answer = past.answers.get(item_id)
        if past.record.id != exclude and answer is not None and answer.value is not None:
            return past
    return None


def _previous_score(
    history: Sequence[PastCheckin], ins: Instrument, exclude: int
) -> tuple[PastCheckin, Score] | None:
    for past in reversed(history):
        if past.record.id == exclude or past.record.instrument != ins.id:
            continue
        found = score(ins, past.answers)
        if found is not None:
            return past, found
    return None


def summary_lines(
    t: Text,
    ins: Instrument,
    checkin_id: int,
    answers: Mapping[str, Answer],
    history: Sequence[PastCheckin],
    now: datetime,
    zone: str,
) -> list[str]:
    """``history`` is oldest first and may include this check-in; it is skipped."""
    lines: list[str] = []
    for item in ins.items:
        answer = answers.get(item.id)
        if item.kind is not ItemKind.SCALE or item.safety or answer is None or answer.value is None:
            continue
        past = _previous_value(history, item.id, checkin_id)
        before = past.answers[item.id].value if past else None
        when = when_words(t, past.record.when, now, zone) if past else ""
        lines.append(describe_change(_label(t, item.id), answer.value, before, when, out_of=item.max))
    total = score(ins, answers)
    if total is not None:
        name = short_name(ins)
        previous = _previous_score(history, ins, checkin_id)
        when = when_words(t, previous[0].record.when, now, zone) if previous else ""
        change = describe_change(
            t("checkins.score_label", name=name), total.total, previous[1].total if previous else None,
            when, out_of=total.max_total,
        )
        lines.append(t("checkins.band", change=change, band=total.band) if total.band else change)
        lines.append(t("checkins.not_diagnosis"))
    elif ins.scoring is not None:
        lines.append(t("checkins.no_total", name=short_name(ins)))
    return lines
