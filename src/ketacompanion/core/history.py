"""``/mood`` and ``/summary``: a person's check-ins as a chart, and a one-page summary
for their clinician.

The core gathers and words the data; drawing is behind ``ChartRenderer`` so that the
core never imports a plotting library (``charts.py`` implements it, passed in by the
composition root). Button ids: ``hist:mood:<days>``, ``hist:summary:<days>``."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from ketacompanion.content.catalog import ContentHolder
from ketacompanion.content.instruments import Instrument
from ketacompanion.core.checkin_summary import short_name
from ketacompanion.core.journal_port import JournalEntry
from ketacompanion.core.model import Attachment, Reply
from ketacompanion.core.ports import PastCheckin
from ketacompanion.core.scoring import score
from ketacompanion.core.summary_page import Section, paper_for, sections
from ketacompanion.core.turn import Text, Turn, button

PERIODS = (30, 90)
MAX_NAME = 40
_SCALES = ("mood", "anxiety")
_SCORED = ("phq9", "gad7")


@dataclass(frozen=True, slots=True)
class Series:
    """One line on a chart: (moment, value) points on a 0..top axis, with shaded bands."""

    label: str
    points: tuple[tuple[datetime, int], ...]
    top: int
    bands: tuple[tuple[int, str], ...] = ()  # (lowest total, band name), increasing


@dataclass(frozen=True, slots=True)
class MoodHistory:
    title: str
    start: datetime
    end: datetime
    zone: str
    scales: tuple[Series, ...]  # mood and anxiety, 0-10
    scores: tuple[Series, ...]  # PHQ-9, GAD-7 totals
    sessions: tuple[datetime, ...]
    labels: Mapping[str, str] = field(default_factory=dict)  # "session", "empty", "date"

    @property
    def empty(self) -> bool:
        return not any(s.points for s in (*self.scales, *self.scores))


@dataclass(frozen=True, slots=True)
class ClinicianSummary:
    title: str
    lines: tuple[str, ...]  # worded in the person's language, one line each
    chart: MoodHistory
    footer: str
    sections: tuple[Section, ...] = ()  # what the page prints; ``lines`` is the same, flat
    paper: str = "a4"  # or "letter"


class ChartRenderer(Protocol):
    def mood_png(self, history: MoodHistory) -> bytes: ...

    def summary(self, summary: ClinicianSummary) -> tuple[bytes, bytes]:
        """The page as (PNG, PDF)."""
        ...


def _scale_series(t: Text, past: Sequence[PastCheckin], item_id: str) -> Series:
    points = tuple(
        (p.record.when, p.answers[item_id].value)
        for p in past
        if item_id in p.answers and p.answers[item_id].value is not None
    )
    return Series(t(f"checkins.label_{item_id}").capitalize(), points, 10)  # type: ignore[arg-type]


def _score_series(past: Sequence[PastCheckin], ins: Instrument) -> Series:
    points = []
    for p in past:
        if p.record.instrument == ins.id and (found := score(ins, p.answers)) is not None:
            points.append((p.record.when, found.total))
    scored = ins.scoring.items if ins.scoring else ()
    top = sum((ins.item(i).value_range() or (0, 0))[1] for i in scored)
    bands = tuple((b.min, b.label) for b in ins.scoring.bands) if ins.scoring else ()
    return Series(short_name(ins), tuple(points), top, bands)


def mood_history(
    t: Text, instruments: Mapping[str, Instrument], past: Sequence[PastCheckin], sessions: Sequence[datetime],
    start: datetime, end: datetime, zone: str,
) -> MoodHistory:
    answered = [p for p in past if p.record.status == "answered" or p.answers]
    days = max(1, round((end - start) / timedelta(days=1)))
    return MoodHistory(
        title=t("checkins.history.mood_title", days=days),
        start=start, end=end, zone=zone,
        scales=tuple(_scale_series(t, answered, i) for i in _SCALES),
        scores=tuple(_score_series(answered, instruments[i]) for i in _SCORED if i in instruments),
        sessions=tuple(s for s in sessions if start <= s <= end),
        labels={"session": t("checkins.history.session"), "empty": t("checkins.history.empty"), "score": t("checkins.history.score_axis")},
    )


def _day(moment: datetime, zone: str) -> str:
    return moment.astimezone(ZoneInfo(zone)).strftime("%b %d")


def _mean(values: Sequence[int]) -> str:
    return f"{sum(values) / len(values):.1f}" if values else "-"


def clinician_summary(
    t: Text, instruments: Mapping[str, Instrument], past: Sequence[PastCheckin], sessions: Sequence[datetime],
    start: datetime, end: datetime, zone: str, *, name: str | None = None, country: str | None = None,
    journal: Sequence[JournalEntry] = (),
) -> ClinicianSummary:
    chart = mood_history(t, instruments, past, sessions, start, end, zone)
    # The clinician reads this page, not the patient: no "send /checkin" on an empty panel.
    chart = replace(chart, labels={**chart.labels, "empty": t("checkins.history.summary_empty")})
    head = [t("checkins.history.period", start=_day(start, zone), end=_day(end, zone), zone=zone),
            t("checkins.history.made", date=end.astimezone(ZoneInfo(zone)).strftime("%b %d, %Y"))]
    if name:
        head.insert(0, t("checkins.history.for_name", name=name))
    parts = (Section("", tuple(head)), *sections(t, instruments, past, sessions, start, end, zone, journal))
    lines = tuple(line for part in parts for line in ((part.heading,) if part.heading else ()) + part.lines)
    return ClinicianSummary(t("checkins.history.summary_title"), lines, chart, t("checkins.history.footer"),
                            parts, paper_for(country))


class HistoryFlow:
    name = "hist"
    needs_consent = True  # its buttons act on health data: a stranger's press asks for consent
    needs_open_state = False

    def __init__(self, content: ContentHolder, renderer: ChartRenderer) -> None:
        self._content, self._renderer = content, renderer

    async def _data(self, turn: Turn, days: int) -> tuple[list[PastCheckin], list[datetime], datetime, str]:
        user = turn.require_user()
        start = turn.now - timedelta(days=days)
        past = await turn.tx.checkins.history(user.id, start)
        sessions = [s.starts_at for s in await turn.tx.schedules.sessions(user.id, start)]
        return past, sessions, start, user.timezone or "UTC"

    async def mood(self, turn: Turn, days: int = PERIODS[0]) -> list[Reply]:
        past, sessions, start, zone = await self._data(turn, days)
        data = mood_history(turn.t, self._content.current.instruments, past, sessions, start, turn.now, zone)
        other = PERIODS[1] if days == PERIODS[0] else PERIODS[0]
        caption = turn.t("checkins.history.mood_caption", days=days) + (
            "\n" + turn.t("checkins.history.empty") if data.empty else ""
        )
        choices = (button(turn.t("checkins.history.days_button", days=other), "hist", "mood", other),)

        async def draw() -> list[Reply]:
            # Off the event loop, and after the commit: drawing takes a moment of CPU.
            png = await asyncio.to_thread(self._renderer.mood_png, data)
            return [Reply(caption, choices=choices, image=Attachment(f"mood-{days}d.png", "image/png", png))]

        turn.later.append(draw)
        return []

    async def summary(self, turn: Turn, days: int = PERIODS[0]) -> list[Reply]:
        past, sessions, start, zone = await self._data(turn, days)
        user = turn.require_user()
        journal = [e for e in await turn.tx.journal.recent(user.id, since=start) if e.in_summary]
        page = clinician_summary(
            turn.t, self._content.current.instruments, past, sessions, start, turn.now, zone,
            name=await turn.tx.journal.summary_name(user.id), country=user.country, journal=journal,
        )
        stamp = turn.now.strftime("%Y%m%d")
        other = PERIODS[1] if days == PERIODS[0] else PERIODS[0]
        caption = turn.t("checkins.history.summary_caption", days=days)
        choices = (button(turn.t("checkins.history.days_button", days=other), "hist", "summary", other),)

        async def draw() -> list[Reply]:
            png, pdf = await asyncio.to_thread(self._renderer.summary, page)
            return [
                Reply(
                    caption,
                    image=Attachment(f"summary-{stamp}.png", "image/png", png),
                    file=Attachment(f"summary-{stamp}.pdf", "application/pdf", pdf),
                    choices=choices,
                )
            ]

        turn.later.append(draw)
        return []

    async def mood_command(self, turn: Turn) -> list[Reply]:
        return await self.mood(turn, _days(turn.inbound.text))

    async def summary_command(self, turn: Turn) -> list[Reply]:
        """``/summary [90]``; ``/summary name <name or initials>`` sets what the page is
        headed with, and ``/summary name`` alone takes it off."""
        word, _, rest = turn.inbound.text.strip().partition(" ")
        if word.lower() == "name":
            name = " ".join(rest.split())[:MAX_NAME] or None
            await turn.tx.journal.set_summary_name(turn.require_user().id, name, turn.now)
            key = "checkins.history.name_set" if name else "checkins.history.name_cleared"
            return [Reply(turn.t(key, name=name or ""))]
        return await self.summary(turn, _days(turn.inbound.text))

    async def on_choice(self, turn: Turn, action: str, args: list[str]) -> list[Reply]:
        days = _days(args[0] if args else "")
        if action == "summary":
            return await self.summary(turn, days)
        return await self.mood(turn, days)

    async def on_text(self, turn: Turn) -> list[Reply]:
        return await self.mood(turn)

    async def reprompt(self, turn: Turn) -> list[Reply]:
        return await self.mood(turn)


def _days(text: str) -> int:
    digits = "".join(c for c in text if c.isdigit())
    return PERIODS[1] if digits and int(digits) >= PERIODS[1] else PERIODS[0]
