"""The clinician summary's sections, worded in the person's language.

Each section is a heading and its lines; a section with nothing to say is left out, so a
quiet month prints a short page rather than a column of "none"."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from ketacompanion.content.instruments import Instrument, Item, ItemKind
from ketacompanion.core.checkin_summary import short_name
from ketacompanion.core.journal_port import JournalEntry
from ketacompanion.core.ports import PastCheckin
from ketacompanion.core.scoring import Answer, score
from ketacompanion.core.turn import Text

# Countries that print on US Letter; everyone else gets A4.
LETTER_COUNTRIES = frozenset({"US", "CA", "MX", "PH", "CL", "CO", "VE", "GT", "CR", "PA", "DO", "PR", "SV", "BZ"})
_SCORED = ("phq9", "gad7")


@dataclass(frozen=True, slots=True)
class Section:
    heading: str
    lines: tuple[str, ...]
    table: bool = False  # lines are columns split by " | ", printed aligned


def paper_for(country: str | None) -> str:
    return "letter" if (country or "").upper() in LETTER_COUNTRIES else "a4"


def day(moment: datetime, zone: str) -> str:
    return moment.astimezone(ZoneInfo(zone)).strftime("%b %d")


def option_label(item: Item, answer: Answer) -> str | None:
    """The words the person tapped ("Yes, once or twice"), never "answer 1 of 3"."""
    for option_id in answer.options:
        found = item.option(option_id)
        if found is not None:
            return found.label
    if answer.value is not None:
        found = next((o for o in item.options if o.score == answer.value), None)
        return found.label if found else str(answer.value)
    return None


def _mean(values: Sequence[int]) -> str:
    return f"{sum(values) / len(values):.1f}"


def scale_lines(t: Text, past: Sequence[PastCheckin], start: datetime, end: datetime) -> list[str]:
    middle = start + (end - start) / 2
    lines = []
    for item_id, scale in (("mood", "checkins.history.scale_mood"), ("anxiety", "checkins.history.scale_anxiety")):
        points = [(p.record.when, p.answers[item_id].value) for p in past
                  if item_id in p.answers and p.answers[item_id].value is not None]
        if not points:
            continue
        first = [v for at, v in points if at < middle]
        second = [v for at, v in points if at >= middle]
        low, high = min(v for _, v in points), max(v for _, v in points)
        if first and second:
            lines.append(t("checkins.history.scale_line", scale=t(scale), n=len(points),
                           first=_mean(first), second=_mean(second), low=low, high=high))
        else:  # answers only in one half: a comparison would be empty
            lines.append(t("checkins.history.scale_line_one", scale=t(scale), n=len(points),
                           mean=_mean([v for _, v in points]), low=low, high=high))
    return lines


def score_rows(t: Text, instruments: Mapping[str, Instrument], past: Sequence[PastCheckin], zone: str) -> list[str]:
    rows = []
    for p in sorted(past, key=lambda p: p.record.when):
        ins = instruments.get(p.record.instrument or "")
        if ins is None or ins.id not in _SCORED or (found := score(ins, p.answers)) is None:
            continue
        rows.append(f"{day(p.record.when, zone)} | {short_name(ins)} | {found.total} of {found.max_total} | {found.band or ''}")
    return rows


def safety_lines(t: Text, instruments: Mapping[str, Instrument], past: Sequence[PastCheckin], zone: str) -> list[str]:
    answered: Counter[str] = Counter()
    yes: list[str] = []
    for p in sorted(past, key=lambda p: p.record.when):
        ins = instruments.get(p.record.instrument or "")
        for item in (ins.items if ins else ()):
            if not item.safety or (answer := p.answers.get(item.id)) is None:
                continue
            label = option_label(item, answer)
            if label is None:
                continue
            answered[label] += 1
            if answer.value:
                yes.append(f"{day(p.record.when, zone)} ({short_name(ins)}): {label}")  # type: ignore[union-attr]
    if not answered:
        return []
    head = t("checkins.history.safety_counts", counts=" · ".join(f"{k}: {v}" for k, v in answered.most_common()))
    return [head, *yes]


def choice_counts(instruments: Mapping[str, Instrument], past: Sequence[PastCheckin], item_id: str) -> list[str]:
    counts: Counter[str] = Counter()
    for p in past:
        ins = instruments.get(p.record.instrument or "")
        item = next((i for i in ins.items if i.id == item_id), None) if ins else None
        if item is not None and item.kind is ItemKind.CHOICE and (a := p.answers.get(item_id)) is not None:
            if (label := option_label(item, a)) is not None:
                counts[label] += 1
    return [f"{label}: {n}" for label, n in counts.most_common()]


def effects_and_flags(
    t: Text, instruments: Mapping[str, Instrument], past: Sequence[PastCheckin], zone: str
) -> tuple[list[str], list[str]]:
    effects: Counter[str] = Counter()
    flags: list[str] = []
    for p in sorted(past, key=lambda p: p.record.when):
        ins = instruments.get(p.record.instrument or "")
        for item in (ins.items if ins else ()):
            answer = p.answers.get(item.id)
            if answer is None or item.kind is not ItemKind.MULTI:
                continue
            for opt in (o for o in item.options if o.id in answer.options and not o.exclusive):
                effects[opt.label] += 1
                if opt.red_flag:
                    flags.append(t("checkins.history.flag", date=day(p.record.when, zone), label=opt.label))
    return [f"{label}: {n}" for label, n in effects.most_common(8)], flags[-10:]


def journal_lines(entries: Sequence[JournalEntry], zone: str) -> list[str]:
    return [f"{day(e.created_at, zone)}: {e.text}" for e in sorted(entries, key=lambda e: e.created_at)]


def sections(
    t: Text, instruments: Mapping[str, Instrument], past: Sequence[PastCheckin], sessions: Sequence[datetime],
    start: datetime, end: datetime, zone: str, journal: Sequence[JournalEntry] = (),
) -> list[Section]:
    statuses = Counter(p.record.status for p in past)
    answered = [p for p in past if p.record.status == "answered" or p.answers]
    out = [Section(t("checkins.history.heading_checkins"), (
        t("checkins.history.counts", answered=statuses["answered"], missed=statuses["missed"]),
    ))]
    in_period = [s for s in sessions if start <= s <= end]
    if in_period:
        out.append(Section(t("checkins.history.heading_sessions"), (", ".join(day(s, zone) for s in in_period),)))
    parts = [
        ("checkins.history.heading_scales", scale_lines(t, answered, start, end), False),
        ("checkins.history.heading_scores", score_rows(t, instruments, answered, zone), True),
        ("checkins.history.heading_safety", safety_lines(t, instruments, answered, zone), False),
        ("checkins.history.heading_sleep", choice_counts(instruments, answered, "sleep"), False),
    ]
    effects, flags = effects_and_flags(t, instruments, answered, zone)
    parts += [
        ("checkins.history.side_effects", effects, False),
        ("checkins.history.red_flags", flags, False),
        ("checkins.history.heading_journal", journal_lines(journal, zone), False),
    ]
    for key, lines, table in parts:
        if lines:
            if table:
                lines = [t("checkins.history.score_header"), *lines]
            out.append(Section(t(key), tuple(lines), table))
    return out
