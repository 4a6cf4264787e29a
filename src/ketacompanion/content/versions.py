"""Checking a content set given as bytes, and saying what changed between two sets.

The same validator as ``content validate`` runs on the set written to a scratch
folder; problems name files relative to the set (``lessons/en/x.md:12: ...``).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from ketacompanion.content.bundle import Files, check_files, write_files
from ketacompanion.content.catalog import validate_content
from ketacompanion.content.problems import Problem, Severity

HELPLINES = "crisis/helplines.yaml"


@dataclass(frozen=True, slots=True)
class Checked:
    """What validation found: every problem as ``file:line: message``, errors first."""

    errors: list[str]
    warnings: list[str]
    lessons: int

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> dict[str, Any]:
        return {"errors": len(self.errors), "warnings": len(self.warnings), "lessons": self.lessons}


@dataclass(frozen=True, slots=True)
class Changes:
    lessons_added: list[str] = field(default_factory=list)
    lessons_changed: list[str] = field(default_factory=list)
    lessons_removed: list[str] = field(default_factory=list)
    helplines_changed: list[str] = field(default_factory=list)  # country codes
    instruments_changed: list[str] = field(default_factory=list)
    other_changed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[str]]:
        return {
            "lessons_added": self.lessons_added, "lessons_changed": self.lessons_changed,
            "lessons_removed": self.lessons_removed, "helplines_changed": self.helplines_changed,
            "instruments_changed": self.instruments_changed, "other_changed": self.other_changed,
        }  # fmt: skip

    @property
    def empty(self) -> bool:
        return not any(self.as_dict().values())

    def lines(self) -> list[str]:
        labels = {
            "lessons_added": "lessons added", "lessons_changed": "lessons changed",
            "lessons_removed": "lessons removed", "helplines_changed": "crisis lines changed",
            "instruments_changed": "check-ins changed", "other_changed": "other files changed",
        }  # fmt: skip
        out = [f"{labels[k]}: {', '.join(v)}" for k, v in self.as_dict().items() if v]
        return out or ["no changes"]


def check_set(files: Files, today: date, live: Files | None = None) -> Checked:
    """Validate the whole set; ``live`` adds the checks that compare with what is live."""
    errors = check_files(files)
    warnings: list[str] = []
    if not errors:
        with tempfile.TemporaryDirectory(prefix="ketacompanion-check-") as scratch:
            root = Path(scratch)
            write_files(files, root)
            for problem in validate_content(root, today):
                text = str(_relative(problem, root))
                (errors if problem.severity is Severity.ERROR else warnings).append(text)
    if live is not None:
        errors += _lost_countries(live, files)
    lessons = sum(1 for p in files if _lesson_name(p) is not None)
    return Checked(errors, warnings, lessons)


def _relative(problem: Problem, root: Path) -> Problem:
    try:
        path = problem.path.resolve().relative_to(root.resolve())
    except ValueError:
        path = problem.path
    return Problem(path, problem.line, problem.message, problem.severity)


def _lesson_name(path: str) -> str | None:
    parts = PurePosixPath(path).parts
    if len(parts) == 3 and parts[0] == "lessons" and parts[2].endswith(".md"):
        return f"{parts[1]}/{parts[2][:-3]}"
    return None


def _countries(data: bytes | None) -> dict[str, Any]:
    if data is None:
        return {}
    try:
        parsed = yaml.safe_load(data.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError):
        return {}
    entries = parsed.get("countries") if isinstance(parsed, dict) else None
    if not isinstance(entries, list):
        return {}
    return {str(e.get("code")): e for e in entries if isinstance(e, dict) and e.get("code")}


def _lost_countries(live: Files, new: Files) -> list[str]:
    # Someone enrolled in a country the new file drops would lose their crisis lines.
    before, after = _countries(live.get(HELPLINES)), _countries(new.get(HELPLINES))
    problems = []
    for code in sorted(before):
        if code not in after:
            problems.append(
                f"{HELPLINES}:1: the lines for {code} are missing; the live version has them, and "
                f"people in {code} would be left without crisis lines"
            )
        elif before[code].get("lines") and not after[code].get("lines"):
            problems.append(f"{HELPLINES}:1: {code} has no lines left; the live version lists {len(before[code]['lines'])}")
    return problems


def changes_between(old: Files | None, new: Files) -> Changes:
    old = old or {}
    result = Changes()
    for path in sorted(set(old) | set(new)):
        before, after = old.get(path), new.get(path)
        if before == after:
            continue
        lesson = _lesson_name(path)
        if lesson is not None:
            target = (
                result.lessons_added if before is None
                else result.lessons_removed if after is None
                else result.lessons_changed
            )  # fmt: skip
            target.append(lesson)
        elif path == HELPLINES:
            a, b = _countries(before), _countries(after)
            codes = sorted(c for c in set(a) | set(b) if a.get(c) != b.get(c))
            result.helplines_changed.extend(codes or ["(file layout)"])
        elif path.startswith("checkins/"):
            result.instruments_changed.append(PurePosixPath(path).stem)
        else:
            result.other_changed.append(path)
    return result
