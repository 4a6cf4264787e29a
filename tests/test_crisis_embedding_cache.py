"""The embedding cache behind `crisis train`: it answers what it has seen, asks the
encoder only for the rest, stays private, and changes nothing in what training builds."""

from __future__ import annotations

import stat
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ketacompanion.content.crisis_model import write_model
from ketacompanion.core.crisis.classifier import TrainConfig
from ketacompanion.core.crisis.detector import NOTHING
from ketacompanion.core.crisis.modelscreen import Thresholds
from ketacompanion.core.crisis.training import embed, embed_pieces, fit
from ketacompanion.embedding_cache import CachedEncoder


class Counting:
    """A fake encoder that counts the texts it is asked for."""

    name = "test/counting"

    def __init__(self, version: str = "1") -> None:
        self.version = version
        self.asked: list[str] = []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.asked.extend(texts)
        out = np.zeros((len(texts), 64), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                out[row, zlib.crc32(word.encode()) % 64] += 1.0
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


TEXTS = ["i will end it tonight. goodbye all", "so grey lately", "pasta for dinner", "the bus was late"] * 3
LABELS = ["crisis", "concern", "none", "none"] * 3


def test_a_second_run_asks_the_encoder_for_nothing(tmp_path: Path) -> None:
    first = CachedEncoder(Counting(), tmp_path / "cache")
    a = embed(first, TEXTS)
    first.save()
    assert first.misses == 4 and first.hits == 8
    again = Counting()
    second = CachedEncoder(again, tmp_path / "cache")
    b = embed(second, TEXTS)
    assert again.asked == [] and second.hits == len(TEXTS)
    assert a.tobytes() == b.tobytes() == embed(Counting(), TEXTS).tobytes()


def test_only_new_texts_are_embedded(tmp_path: Path) -> None:
    cached = CachedEncoder(Counting(), tmp_path)
    embed(cached, TEXTS[:2])
    cached.save()
    encoder = Counting()
    embed(CachedEncoder(encoder, tmp_path), TEXTS[:3])
    assert encoder.asked == [TEXTS[2]]


def test_another_encoder_version_does_not_use_the_vectors(tmp_path: Path) -> None:
    cached = CachedEncoder(Counting("1"), tmp_path)
    embed(cached, TEXTS[:2])
    cached.save()
    other = Counting("2")
    embed(CachedEncoder(other, tmp_path), TEXTS[:2])
    assert other.asked == TEXTS[:2]


def test_an_unreadable_cache_is_started_afresh(tmp_path: Path) -> None:
    cached = CachedEncoder(Counting(), tmp_path)
    embed(cached, TEXTS[:2])
    cached.save()
    cached.path.write_bytes(cached.path.read_bytes()[:100])
    encoder = Counting()
    embed(CachedEncoder(encoder, tmp_path), TEXTS[:2])
    assert encoder.asked == TEXTS[:2]


def test_the_cache_is_private(tmp_path: Path) -> None:
    folder = tmp_path / "deep" / "cache"
    cached = CachedEncoder(Counting(), folder)
    embed(cached, TEXTS)
    cached.save()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert [p.name for p in folder.iterdir()] == [cached.path.name]  # no temporary file left behind
    assert stat.S_IMODE(cached.path.stat().st_mode) == 0o600


def test_weights_are_the_same_bytes_with_or_without_the_cache(tmp_path: Path) -> None:
    def build(encoder: object, out: Path) -> bytes:
        x = embed(encoder, TEXTS)  # type: ignore[arg-type]
        read = embed_pieces(encoder, TEXTS)  # type: ignore[arg-type]
        families = [str(i % 4) for i in range(len(TEXTS))]
        trained = fit(x, LABELS, families, ["everyday"] * len(TEXTS), [NOTHING] * len(TEXTS),
                      TrainConfig(hidden=8, epochs=20), folds=2, read=read)  # fmt: skip
        out.mkdir()
        write_model(out, trained.model, Thresholds(0.5, 0.5), {"encoder": "test/counting", "data_sha256": "-"})
        return (out / "model.npz").read_bytes()

    warm = CachedEncoder(Counting(), tmp_path / "cache")
    embed(warm, TEXTS[:5])  # half the texts cached, so the run mixes cached and fresh vectors
    warm.save()
    fresh = build(Counting(), tmp_path / "fresh")
    mixed = build(CachedEncoder(Counting(), tmp_path / "cache"), tmp_path / "mixed")
    assert fresh == mixed
