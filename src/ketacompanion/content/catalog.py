"""All content loaded and validated together, and a holder that swaps it in one step."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from ketacompanion.content.helplines import Helplines, load_helplines, validate_helplines
from ketacompanion.content.messages import Messages, load_messages, validate_messages
from ketacompanion.content.problems import ContentError, Problem, errors


@dataclass(frozen=True, slots=True)
class Content:
    root: Path
    messages: Messages
    helplines: Helplines


def validate_content(root: Path, today: date) -> list[Problem]:
    """Every problem in every content file under ``root`` (errors and warnings)."""
    problems: list[Problem] = []
    problems += validate_messages(root / "messages")[1]
    problems += validate_helplines(root / "crisis" / "helplines.yaml", today)
    return problems


def load_content(root: Path, today: date) -> Content:
    problems = errors(validate_content(root, today))
    if problems:
        raise ContentError(problems)
    return Content(
        root=root,
        messages=load_messages(root / "messages"),
        helplines=load_helplines(root / "crisis" / "helplines.yaml"),
    )


class ContentHolder:
    """The live content. A reload validates a whole new set first and swaps the
    reference only when it is clean, so readers never see a half-loaded set."""

    def __init__(self, content: Content) -> None:
        self._current = content

    @property
    def current(self) -> Content:
        return self._current

    def swap(self, content: Content) -> Content:
        previous, self._current = self._current, content
        return previous
