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
    Matrix,
    MlpModel,
    TrainConfig,
    family_folds,
    train,
)
from ketacompanion.core.crisis.detector import NOTHING, RiskLevel, Screening
from ketacompanion.core.crisis.layered import combine
from ketacompanion.core.crisis.modelscreen import (
    Encoder,
    Scores,
    Thresholds,
    level_of,
    piece_scores,
    pieces,
    reading,
)

SEED = 20261201
FOLDS = 5
CARD_TARGET = 0.01
FLAG_TARGET = 0.05
# Steps of 0.001: crisis rows crowd the top of the range (a quarter score 0.99 or more),
# so steps of 0.01 there gave away 1 to 4 points of the card out of fold.
_GRID = [round(0.1 + i / 1000, 3) for i in range(900)]


def embed(encoder: Encoder, texts: Sequence[str], batch: int = 1,
          progress: Callable[[int], None] | None = None) -> Matrix:  # fmt: skip
    """One vector per text: the first window (every training row fits in one).

    One text per call by default: the encoder's vectors move in the seventh digit with
    the batch a text comes in, and a run that takes some vectors from the embedding cache
    must give the same weights, byte for byte, as one that computes them all."""
    first = [(pieces(t) or [""])[0] for t in texts]
    out = []
    for start in range(0, len(first), batch):
        out.append(np.asarray(encoder.encode(first[start : start + batch]), dtype=np.float32))
        if progress is not None:
            progress(min(len(first), start + batch))
    return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)


@dataclass(frozen=True, slots=True)
class Pieces:
    """Every piece the screen reads of each row (``reading``), embedded."""

    x: Matrix  # (pieces, dim)
    owner: NDArray[np.int64]  # the row each piece belongs to
    turn: NDArray[np.bool_] | None = None  # pieces read for the crisis score alone (none: no such piece)


def embed_pieces(encoder: Encoder, texts: Sequence[str], batch: int = 1,
                 progress: Callable[[int], None] | None = None) -> Pieces:  # fmt: skip
    """The pieces of each row as the screen reads them, so the cross-validated figures
    score rows the way the bot does (the highest piece counts)."""
    reads = [reading(t) for t in texts]
    parts = [(r.pieces or [""], r.turns) for r in reads]
    owner = np.array([i for i, (p, t) in enumerate(parts) for _ in (*p, *t)], dtype=np.int64)
    turn = np.array([kind for p, t in parts for kind in (*[False] * len(p), *[True] * len(t))], dtype=np.bool_)
    flat = [piece for p, t in parts for piece in (*p, *t)]
    x = embed(encoder, flat, batch, None)
    if progress is not None:
        progress(len(texts))
    return Pieces(x, owner, turn)


def highest(probabilities: Matrix, owner: NDArray[np.int64], rows: int,
            turn: NDArray[np.bool_] | None = None) -> list[Scores]:  # fmt: skip
    """Each row's scores: the highest crisis and flag scores (``piece_scores``) over its
    pieces, the flag score leaving out the turns (``turn``), as the screen does."""
    crisis = np.full(rows, -1.0)
    flag = np.full(rows, -1.0)
    piece_crisis, piece_flag = piece_scores(probabilities)
    both = np.ones(len(owner), dtype=np.bool_) if turn is None else ~turn
    np.maximum.at(crisis, owner, piece_crisis)
    np.maximum.at(flag, owner[both], piece_flag[both])
    return [Scores(float(c), float(f)) for c, f in zip(crisis, flag, strict=True)]


def label_indices(labels: Sequence[str]) -> NDArray[np.int64]:
    return np.array([CLASSES.index(label) for label in labels], dtype=np.int64)


def out_of_fold(x: Matrix, labels: NDArray[np.int64], families: list[str], config: TrainConfig = DEFAULT_CONFIG,
                folds: int = FOLDS, seed: int = SEED, read: Pieces | None = None) -> list[Scores]:  # fmt: skip
    """Each row's scores from a model that never saw its family: trained on the rows
    (whole), scored on the pieces the screen reads (``read``; else the rows whole)."""
    read = read or Pieces(x, np.arange(len(labels), dtype=np.int64))
    fold = family_folds(families, folds, seed)
    oof = np.zeros((len(read.owner), len(CLASSES)), dtype=np.float32)
    for k in range(folds):
        held = fold == k
        if held.all() or not held.any():
            continue
        model = train(x[~held], labels[~held], config)
        mine = held[read.owner]
        oof[mine] = model.probabilities(read.x[mine])
    return highest(oof, read.owner, len(labels), read.turn)


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

    crisis = _lowest(lambda t: rates(Thresholds(t, t))[0] <= card)
    concern = _lowest(lambda t: rates(Thresholds(crisis, t))[1] <= flag)
    return Thresholds(crisis, concern)


def _lowest(holds: Callable[[float], bool]) -> float:
    """The lowest step of the grid where ``holds``, else the top step. The rates only fall
    as a threshold rises, so a bisection finds it."""
    low, high = 0, len(_GRID) - 1
    while low < high:
        middle = (low + high) // 2
        if holds(_GRID[middle]):
            high = middle
        else:
            low = middle + 1
    return _GRID[low]


@dataclass(frozen=True, slots=True)
class Trained:
    model: MlpModel
    thresholds: Thresholds
    oof_scores: list[Scores]
    oof_screenings: list[Screening]


def fit(x: Matrix, labels: Sequence[str], families: list[str], slices: Sequence[str], rules: Sequence[Screening],
        config: TrainConfig = DEFAULT_CONFIG, folds: int = FOLDS, seed: int = SEED,
        read: Pieces | None = None) -> Trained:  # fmt: skip
    y = label_indices(labels)
    oof = out_of_fold(x, y, families, config, folds, seed, read)
    thresholds = choose_thresholds(oof, rules, labels, slices)
    return Trained(train(x, y, config), thresholds, oof, screenings(oof, rules, thresholds))
