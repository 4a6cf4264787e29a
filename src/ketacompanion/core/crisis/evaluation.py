"""Measure a detector on labelled messages: recall, precision and false alarms by label and slice.

Labels: ``crisis`` rows count as found when shown the crisis card (level CRISIS),
``concern`` rows when flagged at all (level >= CONCERN). ``none`` rows give two
false-alarm rates: shown the crisis card, and flagged at all. Concern rows shown
the crisis card are counted too: safe, but a card too many erodes trust in it.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ketacompanion.core.crisis.detector import RiskLevel, Screening

LABELS = ("crisis", "concern", "none")


class Screens(Protocol):
    def screen(self, text: str) -> Screening: ...


@dataclass(frozen=True, slots=True)
class LabelledRow:
    text: str
    label: str
    slice: str
    family: str = ""  # one idea with its paraphrases; folds split by it
    lang: str = ""


def read_labelled(path: Path) -> list[LabelledRow]:
    """Rows from a CSV or TSV file (by extension) with columns text, label, slice."""
    delimiter = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    rows: list[LabelledRow] = []
    with path.open(encoding="utf-8", newline="") as handle:
        # TSV texts keep their quotes as typed; CSV uses ordinary quoting.
        quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
        reader = csv.DictReader(handle, delimiter=delimiter, quoting=quoting)
        missing = {"text", "label"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        for number, record in enumerate(reader, start=2):
            label = (record.get("label") or "").strip().lower()
            if label not in LABELS:
                raise ValueError(f"{path}:{number}: label must be one of {LABELS}, not {label!r}")
            text = record.get("text") or ""
            slice_ = (record.get("slice") or "").strip() or "unsliced"
            family = (record.get("family") or "").strip()
            lang = (record.get("lang") or "").strip()
            rows.append(LabelledRow(text, label, slice_, family, lang))
    return rows


def _hit(label: str, level: RiskLevel) -> bool:
    return level is RiskLevel.CRISIS if label == "crisis" else level >= RiskLevel.CONCERN


@dataclass(slots=True)
class GroupStats:
    """Figures for a group of rows (one label or one slice)."""

    count: int = 0
    positives: int = 0  # crisis and concern rows
    found: int = 0  # positives at their target level
    flagged: int = 0  # rows at level >= CONCERN
    flagged_true: int = 0  # flagged rows whose label is not none
    negatives: int = 0  # none rows
    negatives_crisis: int = 0  # none rows shown the crisis card
    negatives_flagged: int = 0  # none rows at level >= CONCERN
    concern: int = 0  # concern rows
    concern_escalated: int = 0  # concern rows shown the crisis card (safe side, but noisy)
    positives_flagged: int = 0  # crisis and concern rows at level >= CONCERN

    def add(self, label: str, level: RiskLevel) -> None:
        self.count += 1
        if level >= RiskLevel.CONCERN:
            self.flagged += 1
            self.flagged_true += label != "none"
        if label == "none":
            self.negatives += 1
            self.negatives_crisis += level is RiskLevel.CRISIS
            self.negatives_flagged += level >= RiskLevel.CONCERN
        else:
            self.positives += 1
            self.found += _hit(label, level)
            self.positives_flagged += level >= RiskLevel.CONCERN
        if label == "concern":
            self.concern += 1
            self.concern_escalated += level is RiskLevel.CRISIS

    @property
    def recall(self) -> float | None:
        return self.found / self.positives if self.positives else None

    @property
    def flagged_share(self) -> float | None:
        """Of the rows labelled crisis or concern, the share flagged at all."""
        return self.positives_flagged / self.positives if self.positives else None

    @property
    def precision(self) -> float | None:
        return self.flagged_true / self.flagged if self.flagged else None

    @property
    def false_alarm_crisis(self) -> float | None:
        return self.negatives_crisis / self.negatives if self.negatives else None

    @property
    def false_alarm_flagged(self) -> float | None:
        return self.negatives_flagged / self.negatives if self.negatives else None

    @property
    def concern_shown_crisis(self) -> float | None:
        return self.concern_escalated / self.concern if self.concern else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "concern_shown_crisis": self.concern_shown_crisis,
            "recall": self.recall,
            "flagged": self.flagged_share,
            "precision": self.precision,
            "none_shown_crisis": self.false_alarm_crisis,
            "none_flagged": self.false_alarm_flagged,
        }


@dataclass(frozen=True, slots=True)
class Mistake:
    text: str
    label: str
    slice: str
    level: str
    category: str | None
    reasons: tuple[str, ...]


@dataclass(slots=True)
class Report:
    labels: dict[str, GroupStats] = field(default_factory=dict)
    slices: dict[str, GroupStats] = field(default_factory=dict)
    total: GroupStats = field(default_factory=GroupStats)
    languages: dict[str, GroupStats] = field(default_factory=dict)
    predicted: dict[str, list[int]] = field(default_factory=dict)  # level -> [right, all]
    confusion: dict[str, dict[str, int]] = field(default_factory=dict)  # label -> level -> rows
    mistakes: list[Mistake] = field(default_factory=list)

    def label_precision(self, label: str) -> float | None:
        """Of the rows screened at this label's level, the share that carry the label."""
        right, seen = self.predicted.get(label, [0, 0])
        return right / seen if seen else None

    def to_dict(self) -> dict[str, Any]:
        labels = {}
        for name, stats in self.labels.items():
            entry = stats.to_dict()
            entry["precision"] = self.label_precision(name)
            labels[name] = entry
        return {
            "rows": self.total.count,
            "total": self.total.to_dict(),
            "labels": labels,
            "slices": {name: stats.to_dict() for name, stats in sorted(self.slices.items())},
            "languages": {name: stats.to_dict() for name, stats in sorted(self.languages.items())},
            "confusion": self.confusion,
            "mistakes": [
                {"text": m.text, "label": m.label, "slice": m.slice, "level": m.level,
                 "category": m.category, "reasons": list(m.reasons)}
                for m in self.mistakes
            ],
        }  # fmt: skip

    def format_table(self) -> str:
        head = (
            f"{'group':<22}{'n':>5}{'recall':>9}{'flagged':>9}{'precision':>11}"
            f"{'none->crisis':>14}{'none->flag':>12}{'concern->crisis':>17}"
        )
        lines = [head, "-" * len(head)]

        def row(name: str, stats: GroupStats, precision: float | None) -> str:
            return (
                f"{name:<22}{stats.count:>5}{_pct(stats.recall):>9}{_pct(stats.flagged_share):>9}{_pct(precision):>11}"
                f"{_pct(stats.false_alarm_crisis):>14}{_pct(stats.false_alarm_flagged):>12}"
                f"{_pct(stats.concern_shown_crisis):>17}"
            )

        for name in LABELS:
            if name in self.labels:
                lines.append(row(f"label:{name}", self.labels[name], self.label_precision(name)))
        lines.append(row("all", self.total, self.total.precision))
        if len(self.languages) > 1 or (self.languages and "" not in self.languages):
            lines.append("")
            for name, stats in sorted(self.languages.items()):
                lines.append(row(f"lang:{name or '-'}", stats, stats.precision))
        lines.append("")
        for name, stats in sorted(self.slices.items()):
            lines.append(row(f"slice:{name}", stats, stats.precision))
        lines += ["", "label \\ screened as     none  concern  crisis"]
        for name in LABELS:
            if name in self.confusion:
                got = self.confusion[name]
                lines.append(f"{name:<22}{got.get('none', 0):>6}{got.get('concern', 0):>9}{got.get('crisis', 0):>8}")
        return "\n".join(lines)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def evaluate(rows: Iterable[LabelledRow], detector: Screens) -> Report:
    listed = list(rows)
    return evaluate_screenings(listed, [detector.screen(row.text) for row in listed])


def evaluate_screenings(rows: list[LabelledRow], screenings: list[Screening]) -> Report:
    """The report for screenings already made, one per row (cross-validation uses this)."""
    report = Report()
    for row, screening in zip(rows, screenings, strict=True):
        level = screening.level
        report.total.add(row.label, level)
        report.labels.setdefault(row.label, GroupStats()).add(row.label, level)
        report.slices.setdefault(row.slice, GroupStats()).add(row.label, level)
        report.languages.setdefault(row.lang, GroupStats()).add(row.label, level)
        cell = report.confusion.setdefault(row.label, {})
        cell[level.label] = cell.get(level.label, 0) + 1
        tally = report.predicted.setdefault(level.label, [0, 0])
        tally[1] += 1
        tally[0] += level.label == row.label
        wrong = (row.label == "none" and level > RiskLevel.NONE) or (
            row.label != "none" and not _hit(row.label, level)
        )
        if wrong:
            report.mistakes.append(
                Mistake(
                    row.text,
                    row.label,
                    row.slice,
                    level.label,
                    screening.category,
                    screening.reasons,
                )
            )
    return report


def check_lines(lines: Iterable[str], detector: Screens) -> Iterator[dict[str, Any]]:
    """Screen each non-blank line, for ``crisis check`` style output."""
    for line in lines:
        text = line.rstrip("\r\n")
        if not text.strip():
            continue
        s = detector.screen(text)
        yield {
            "text": text,
            "level": s.level.label,
            "category": s.category,
            "reasons": list(s.reasons),
        }
