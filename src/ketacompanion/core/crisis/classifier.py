"""A small classifier over sentence embeddings: trained and run with numpy alone.

Multinomial logistic regression on L2-normalised embeddings, three classes in the
order of ``CLASSES``. Training is full-batch Adam on the cross-entropy with an L2
penalty and class weights that balance the labels; it starts from zeros and visits
the rows in a fixed order, so the same rows give the same weights on every run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

CLASSES = ("none", "concern", "crisis")
Matrix = NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class TrainConfig:
    epochs: int = 300
    learning_rate: float = 0.01
    l2: float = 1.0


DEFAULT_CONFIG = TrainConfig()


@dataclass(frozen=True, slots=True)
class LinearModel:
    weights: Matrix  # (dim, classes)
    bias: Matrix  # (classes,)
    center: Matrix  # (dim,) the training rows' mean
    spread: Matrix  # (dim,) and their standard deviation

    def probabilities(self, x: Matrix) -> Matrix:
        """Class probabilities for each row of ``x`` (rows x classes)."""
        logits = ((x - self.center) / self.spread) @ self.weights + self.bias
        logits = logits - logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def train(x: Matrix, labels: NDArray[np.int64], config: TrainConfig = DEFAULT_CONFIG) -> LinearModel:
    """Fit the weights; ``labels`` are indices into ``CLASSES``."""
    n, dim = x.shape
    k = len(CLASSES)
    # Sentence embeddings crowd into a narrow cone; standardising spreads them out.
    center = x.mean(axis=0)
    std = x.std(axis=0)
    # A floor, so a dimension that barely varied in training is not blown up when it does.
    spread = np.maximum(std, max(float(std.mean()) * 0.5, 1e-6))
    xs = ((x - center) / spread).astype(np.float64)
    counts = np.bincount(labels, minlength=k).astype(np.float64)
    class_weight = np.where(counts > 0, n / (k * np.maximum(counts, 1)), 0.0)
    row_weight = class_weight[labels] / n
    target = np.zeros((n, k))
    target[np.arange(n), labels] = 1.0
    w, b = np.zeros((dim, k)), np.zeros(k)
    mw, vw, mb, vb = np.zeros_like(w), np.zeros_like(w), np.zeros_like(b), np.zeros_like(b)
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    for step in range(1, config.epochs + 1):
        logits = xs @ w + b
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        delta = (p - target) * row_weight[:, None]
        gw = xs.T @ delta + config.l2 * w
        gb = delta.sum(axis=0)
        mw = beta1 * mw + (1 - beta1) * gw
        vw = beta2 * vw + (1 - beta2) * gw * gw
        mb = beta1 * mb + (1 - beta1) * gb
        vb = beta2 * vb + (1 - beta2) * gb * gb
        correction1, correction2 = 1 - beta1**step, 1 - beta2**step
        w -= config.learning_rate * (mw / correction1) / (np.sqrt(vw / correction2) + eps)
        b -= config.learning_rate * (mb / correction1) / (np.sqrt(vb / correction2) + eps)
    return LinearModel(w.astype(np.float32), b.astype(np.float32), center.astype(np.float32), spread.astype(np.float32))


def family_folds(families: list[str], k: int, seed: int) -> NDArray[np.int64]:
    """A fold number for each row; every row of one family lands in the same fold.

    Families are shuffled with a fixed seed, then dealt out largest first to the
    fold with the fewest rows so far, so folds stay of similar size."""
    names = sorted(set(families))
    rng = np.random.default_rng(seed)
    order = [names[i] for i in rng.permutation(len(names))]
    size = {f: 0 for f in names}
    for f in families:
        size[f] += 1
    order.sort(key=lambda f: -size[f])  # stable: ties keep the shuffled order
    load = [0] * k
    fold_of: dict[str, int] = {}
    for f in order:
        target = min(range(k), key=lambda i: (load[i], i))
        fold_of[f] = target
        load[target] += size[f]
    return np.array([fold_of[f] for f in families], dtype=np.int64)
