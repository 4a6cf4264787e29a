"""All content loaded and validated together, and a holder that swaps it in one step."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from ketacompanion.content.crisis_model import validate_model
from ketacompanion.content.enrolment import Enrolments, load_enrolment, validate_enrolment
from ketacompanion.content.helplines import Helplines, load_helplines, validate_helplines
from ketacompanion.content.instruments import Instrument, load_instruments, validate_instruments
from ketacompanion.content.lessons import LessonLibrary, scan_lessons
from ketacompanion.content.messages import Messages, load_messages, validate_messages
from ketacompanion.content.phrases import PhraseRules, scan_phrases
from ketacompanion.content.problems import ContentError, Problem, errors
from ketacompanion.core.crisis.detector import Detector


@dataclass(frozen=True, slots=True)
class Content:
    root: Path
    messages: Messages
    helplines: Helplines
    lessons: LessonLibrary
    instruments: dict[str, Instrument]
    detector: Detector
    enrolment: Enrolments


def _check(root: Path, today: date) -> tuple[LessonLibrary, PhraseRules | None, list[Problem]]:
    # Lessons are read once and kept: their reading grades are the slow part of a load.
    lessons, problems = scan_lessons(root / "lessons")
    problems += validate_messages(root / "messages")[1]
    problems += validate_helplines(root / "crisis" / "helplines.yaml", today)
    problems += validate_instruments(root / "checkins")
    phrases, phrase_problems = scan_phrases(root / "crisis" / "phrases.yaml")
    problems += phrase_problems
    problems += validate_enrolment(root / "enrolment.yaml", root / "messages")
    problems += validate_model(root / "crisis")
    return lessons, phrases, problems


def validate_content(root: Path, today: date) -> list[Problem]:
    """Every problem in every content file under ``root`` (errors and warnings)."""
    return _check(root, today)[2]


def load_content(root: Path, today: date) -> Content:
    lessons, phrases, problems = _check(root, today)
    problems = errors(problems)
    if problems or phrases is None:
        raise ContentError(problems)
    return Content(
        root=root,
        messages=load_messages(root / "messages"),
        helplines=load_helplines(root / "crisis" / "helplines.yaml"),
        lessons=lessons,
        instruments=load_instruments(root / "checkins"),
        detector=Detector(phrases),
        enrolment=load_enrolment(root / "enrolment.yaml", root / "messages"),
    )


class ContentScreener:
    """Screens with the live content's detector, so a reload swaps the rules too."""

    def __init__(self, holder: ContentHolder) -> None:
        self._holder = holder

    def screen(self, text: str) -> object:
        return self._holder.current.detector.screen(text)


class ContentHolder:
    """The live content. A reload validates a whole new set first and swaps the
    reference only when it is clean, so readers never see a half-loaded set.

    Inside ``pinned()`` (one message's turn) ``current`` stays the set that was live
    when the turn began, so a swap mid-turn never mixes two sets in one answer.

    The last few versions stay at hand (``at``): a check-in prompted from version N is
    reminded, asked and scored from N even after N+1 went live."""

    KEEP = 4  # versions kept in memory besides the live one

    def __init__(self, content: Content, version: int | None = None) -> None:
        self._current = content
        self._pin: ContextVar[Content | None] = ContextVar(f"content_pin_{id(self)}", default=None)
        self._versions: dict[int, int | None] = {id(content): version}  # by id(): Content holds dicts
        self._kept: dict[int, Content] = {version: content} if version is not None else {}

    @property
    def version(self) -> int | None:
        """The version number of ``current`` (None for a set read from a folder)."""
        return self._versions.get(id(self.current))

    def at(self, version: int | None) -> Content | None:
        """The set of ``version`` if this process still holds it."""
        return self._kept.get(version) if version is not None else None

    @contextmanager
    def pinned_to(self, content: Content) -> Iterator[Content]:
        """``current`` is ``content`` inside: one check-in worded from the set it began on."""
        token = self._pin.set(content)
        try:
            yield content
        finally:
            self._pin.reset(token)

    @property
    def current(self) -> Content:
        return self._pin.get() or self._current

    @contextmanager
    def pinned(self) -> Iterator[Content]:
        token = self._pin.set(self._pin.get() or self._current)
        try:
            yield self.current
        finally:
            self._pin.reset(token)

    def swap(self, content: Content, version: int | None = None) -> Content:
        previous, self._current = self._current, content
        if version is not None:
            self._kept[version] = content
            for old in sorted(self._kept)[: -self.KEEP - 1]:
                del self._kept[old]
        self._versions = {id(c): n for n, c in self._kept.items()} | {id(content): version}
        return previous

    def mark(self, version: int) -> None:
        """The set being served is ``version`` (it was seeded from, or matches, the folder)."""
        self.swap(self._current, version)
