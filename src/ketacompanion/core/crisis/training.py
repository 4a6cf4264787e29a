"""Train the crisis classifier and choose its thresholds by cross-validation over families.

Folds split by family (one idea with its paraphrases, augmentations and translations),
never by row, so a paraphrase of a training sentence never scores a fold. The
thresholds are chosen on the out-of-fold scores of rules and model together: the
lowest crisis threshold that keeps the crisis card on at most ``CARD_TARGET`` of the
everyday rows, then the lowest concern threshold that keeps them flagged on at
most ``FLAG_TARGET``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ketacompanion.core.crisis.classifier import (
    CLASSES,
    DEFAULT_CONFIG,
    LinearModel,
    Matrix,
    TrainConfig,
    family_folds,
    train,
)
from ketacompanion.core.crisis.detector import NOTHING, RiskLevel, Screening
from ketacompanion.core.crisis.layered import combine
from ketacompanion.core.crisis.modelscreen import Encoder, Scores, Thresholds, level_of, pieces

SEED = 20261201
FOLDS = 5
CARD_TARGET = 0.01
FLAG_TARGET = 0.05
_GRID = [round(float(x), 2) for x in np.arange(0.10, 0.995, 0.01)]
_CRISIS, _CONCERN = CLASSES.index("crisis"), CLASSES.index("concern")


def embed(encoder: Encoder, texts: Sequence[str], batch: int = 32,
          progress: Callable[[int], None] | None = None) -> Matrix:  # fmt: skip
    """One vector per text: the first window (every training row fits in one)."""
    first = [(pieces(t) or [""])[0] for t in texts]
    out = []
    for start in range(0, len(first), batch):
        out.append(np.asarray(encoder.encode(first[start : start + batch]), dtype=np.float32))
        if progress is not None:
            progress(min(len(first), start + batch))
    return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)


def label_indices(labels: Sequence[str]) -> NDArray[np.int64]:
    return np.array([CLASSES.index(label) for label in labels], dtype=np.int64)


def out_of_fold(x: Matrix, labels: NDArray[np.int64], families: list[str],
                config: TrainConfig = DEFAULT_CONFIG, folds: int = FOLDS, seed: int = SEED) -> Matrix:  # fmt: skip
    """Each row's probabilities from a model that never saw its family."""
    fold = family_folds(families, folds, seed)
    oof = np.zeros((len(labels), len(CLASSES)), dtype=np.float32)
    for k in range(folds):
        held = fold == k
        if held.all() or not held.any():
            continue
        model = train(x[~held], labels[~held], config)
        oof[held] = model.probabilities(x[held])
    return oof


def scores_of(probabilities: Matrix) -> list[Scores]:
    return [Scores(float(p[_CRISIS]), float(p[_CRISIS] + p[_CONCERN])) for p in probabilities]


def screenings(scores: Sequence[Scores | None], rules: Sequence[Screening], thresholds: Thresholds) -> list[Screening]:
    """What the layered screen answers for each row, given the model's scores."""
    out = []
    for found, rule in zip(scores, rules, strict=True):
        model = NOTHING
        if found is not None:
            level = level_of(found, thresholds)
            model = Screening(level, "model", (f"model.{level.label}",)) if level else NOTHING
        out.append(combine(rule, model))
    return out


def choose_thresholds(scores: Sequence[Scores], rules: Sequence[Screening], labels: Sequence[str],
                      slices: Sequence[str], card: float = CARD_TARGET, flag: float = FLAG_TARGET) -> Thresholds:  # fmt: skip
    """Held to the everyday rows (slice ``everyday``, else every row labelled none): the
    look-alikes (idioms, lyrics, recovery stories) are reported, not targeted, since the
    rules alone already card more of them than the target allows."""
    negatives = [i for i, (label, s) in enumerate(zip(labels, slices, strict=True)) if label == "none" and s == "everyday"]
    negatives = negatives or [i for i, label in enumerate(labels) if label == "none"]
    if not negatives:
        raise ValueError("choosing thresholds needs rows labelled none")
    neg_scores = [scores[i] for i in negatives]
    neg_rules = [rules[i] for i in negatives]

    def rates(t: Thresholds) -> tuple[float, float]:
        got = screenings(neg_scores, neg_rules, t)
        cards = sum(s.level is RiskLevel.CRISIS for s in got)
        flags = sum(s.level >= RiskLevel.CONCERN for s in got)
        return cards / len(got), flags / len(got)

    crisis = next((t for t in _GRID if rates(Thresholds(t, t))[0] <= card), _GRID[-1])
    concern = next((t for t in _GRID if rates(Thresholds(crisis, t))[1] <= flag), _GRID[-1])
    return Thresholds(crisis, concern)


@dataclass(frozen=True, slots=True)
class Trained:
    model: LinearModel
    thresholds: Thresholds
    oof_scores: list[Scores]
    oof_screenings: list[Screening]


def fit(x: Matrix, labels: Sequence[str], families: list[str], slices: Sequence[str], rules: Sequence[Screening],
        config: TrainConfig = DEFAULT_CONFIG, folds: int = FOLDS, seed: int = SEED) -> Trained:  # fmt: skip
    y = label_indices(labels)
    oof = scores_of(out_of_fold(x, y, families, config, folds, seed))
    thresholds = choose_thresholds(oof, rules, labels, slices)
    return Trained(train(x, y, config), thresholds, oof, screenings(oof, rules, thresholds))
