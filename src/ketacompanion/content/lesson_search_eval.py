"""Top-1 and top-3 hit rates of the lesson search on a labelled question set.

The set is a TSV of ``question`` and ``expected`` (lesson ids, comma-separated; any one
counts; ``-`` when no lesson answers it, and then a hit means the search found nothing)."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from ketacompanion.content.lesson_search import LessonSearch


@dataclass(frozen=True, slots=True)
class Question:
    text: str
    expected: frozenset[str]  # empty: no lesson answers it


@dataclass(slots=True)
class SearchReport:
    questions: int = 0
    top1: int = 0
    top3: int = 0
    misses: list[dict[str, object]] = field(default_factory=list)

    def rates(self) -> dict[str, object]:
        n = self.questions or 1
        return {"questions": self.questions, "top1": round(self.top1 / n, 3), "top3": round(self.top3 / n, 3)}


def read_questions(path: Path) -> list[Question]:
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]
    rows = list(csv.DictReader(lines, delimiter="\t"))
    out = []
    for row in rows:
        if not row.get("question") or row.get("expected") is None:
            raise ValueError(f"a row needs a question and expected lessons: {row}")
        ids = frozenset(i.strip() for i in row["expected"].split(",") if i.strip() and i.strip() != "-")
        out.append(Question(row["question"], ids))
    return out


def evaluate(search: LessonSearch, questions: list[Question]) -> SearchReport:
    report = SearchReport()
    for q in questions:
        found = [h.lesson_id for h in search.search(q.text, limit=3)]
        report.questions += 1
        if not q.expected:
            hit1 = hit3 = not found
        else:
            hit1 = bool(found) and found[0] in q.expected
            hit3 = any(f in q.expected for f in found)
        report.top1 += hit1
        report.top3 += hit3
        if not hit1:
            report.misses.append({"question": q.text, "expected": sorted(q.expected), "found": found})
    return report
