"""``ketacompanion crisis train``: embed the training rows, cross-validate by family,
and write down what was built, from what, and how well it did out of fold."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ketacompanion.content.crisis_model import TrainingRow, data_hash
from ketacompanion.core.crisis.classifier import Matrix, TrainConfig
from ketacompanion.core.crisis.evaluation import (
    GroupStats,
    LabelledRow,
    Report,
    evaluate_screenings,
)
from ketacompanion.core.crisis.modelscreen import CRISIS_AGAINST_NONE_FLOOR, Encoder
from ketacompanion.core.crisis.training import CARD_TARGET, FLAG_TARGET, FOLDS, SEED, Trained, embed


def run_embedding(encoder: Encoder, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> Matrix:
    last = [0]

    def every_500(done: int) -> None:
        if progress is not None and (done - last[0] >= 500 or done == len(texts)):
            last[0] = done
            progress(done)

    return embed(encoder, texts, progress=every_500)


def labelled(rows: Sequence[TrainingRow]) -> list[LabelledRow]:
    return [LabelledRow(r.text, r.label, r.slice, r.family, r.lang) for r in rows]


def _figures(stats: GroupStats) -> dict[str, float | int | None]:
    def r(x: float | None) -> float | None:
        return None if x is None else round(x, 4)

    return {"rows": stats.count, "recall": r(stats.recall), "flagged": r(stats.flagged_share),
            "none_card": r(stats.false_alarm_crisis), "none_flagged": r(stats.false_alarm_flagged)}  # fmt: skip


def summary(report: Report) -> dict[str, Any]:
    return {
        "labels": {k: _figures(v) for k, v in sorted(report.labels.items())},
        "languages": {k: _figures(v) for k, v in sorted(report.languages.items())},
        "everyday_slice": _figures(report.slices["everyday"]) if "everyday" in report.slices else None,
        "confusion": report.confusion,
    }


def record(crisis_dir: Path, rows: Sequence[TrainingRow], trained: Trained, encoder: Encoder) -> tuple[dict[str, Any], Report]:
    report = evaluate_screenings(labelled(rows), trained.oof_screenings)
    meta = {
        "encoder": encoder.name,
        "encoder_version": getattr(encoder, "version", "unknown"),
        "data_sha256": data_hash(crisis_dir),
        "rows": len(rows),
        "families": len({r.family for r in rows}),
        "seed": SEED,
        "folds": FOLDS,
        "split": "by family",
        "scored_on": "the highest of the windows, sentences and adjacent sentence pairs (and, for the crisis score, last clauses opened by but), as the screen reads",
        "crisis_score": f"p(crisis) / (p(crisis) + p(none) + {CRISIS_AGAINST_NONE_FLOOR})",
        "train_config": dataclasses.asdict(TrainConfig()),
        "targets": {"none_card": CARD_TARGET, "none_flagged": FLAG_TARGET, "on": "rows of slice everyday"},
        "thresholds_chosen": {"crisis": trained.thresholds.crisis, "concern": trained.thresholds.concern},
        "cross_validated": {"summary": summary(report), "slices": {k: _figures(v) for k, v in sorted(report.slices.items())}},
    }
    return meta, report
