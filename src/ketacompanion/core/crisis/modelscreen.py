"""The model layer: a sentence encoder and a small classifier judge a message by meaning.

The encoder sits behind the ``Encoder`` port, so tests can inject a fake and the core
never imports a model package. A message is read whole (in overlapping windows when
long), and when it has several sentences also sentence by sentence and in pairs of
adjacent sentences; the highest piece counts, so a sentence buried among everyday ones
is not averaged away by the text around it. A sentence whose last clause turns on "but"
("all good, went to the cinema, but I want to die") is also read from that "but" on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ketacompanion.core.crisis.classifier import CLASSES, Matrix, MlpModel
from ketacompanion.core.crisis.detector import NOTHING, RiskLevel, Screening

WINDOW = 600  # characters: every training row fits in one window
STEP = 400  # windows overlap by 200 characters, so a sentence cut by one edge is whole in the next
MAX_PIECES = 12  # about 5,000 characters, beyond the longest chat message; the rules read on
TAIL_PIECES = 4  # of those, the last ones of a longer text, so its end is read too
TAIL_SENTENCES = 8  # and as many of the sentences
MAX_SENTENCES = 24  # sentence pieces read beyond the windows, and as many adjacent pairs
MIN_SENTENCE = 8  # characters: shorter fragments ("ok.", "lol") join their neighbour
MIN_CLAUSE = 12  # characters: shorter clauses join the one before

# Sentence ends, line breaks and dashes between clauses.
_SENTENCE_END = re.compile(r"(?<=[.!?\u2026;])\s+|\s*\n+\s*|\s+[-\u2013\u2014]\s+")
# Clause joints in the supported languages: a comma, or a space before "but" or "and".
_JOINS = "but|and|pero|y|aber|und|mais|et|mas|e|ma|maar|en|lekin|par|aur"
_CLAUSE_CUT = re.compile(rf",\s+|\s+(?=(?:{_JOINS})\s)", re.IGNORECASE)
# Only a last clause opened by "but" is read alone. Every last clause (or every clause)
# carded fewer crisis rows out of fold (67% to 58% and 50%): everyday clauses scored
# high enough to lift the crisis threshold. The turn after "but" lifted nothing.
_TURN = re.compile(r"(?:but|pero|aber|mais|mas|ma|maar|lekin|par)\s", re.IGNORECASE)

_CRISIS, _CONCERN, _NONE = CLASSES.index("crisis"), CLASSES.index("concern"), CLASSES.index("none")
# The crisis score weighs crisis against none alone: p(crisis) / (p(crisis) + p(none) + this).
# A goodbye the model half reads as concern (crisis 0.6, concern 0.4) scores 0.98, not
# 0.6: out of fold that carded 63% of crisis rows against 58%, at the same 1% of everyday
# rows. The small term keeps a piece read as surely concern, where p(crisis) and p(none)
# are both near zero, from being carded on the ratio of two crumbs.
CRISIS_AGAINST_NONE_FLOOR = 0.01
_LETTER = re.compile(r"[^\W\d_]")
_REPEATS = re.compile(r"(.)\1+")
JUNK_FROM = 9  # characters: a word this long made of one or two characters, or of no letter, is noise


class Encoder(Protocol):
    """Turns texts into L2-normalised vectors, one row per text."""

    name: str

    def encode(self, texts: Sequence[str]) -> Matrix: ...


@dataclass(frozen=True, slots=True)
class Thresholds:
    crisis: float  # the crisis score (``piece_scores``) at or above this: the crisis card
    concern: float  # p(concern) + p(crisis) at or above this: the soft check


@dataclass(frozen=True, slots=True)
class Scores:
    crisis: float  # highest crisis score over the pieces (``piece_scores``)
    flag: float  # highest p(concern) + p(crisis) over the pieces


def pieces(text: str) -> list[str]:
    """The windows the model reads: the whole text when short, else overlapping slices
    cut at spaces. Past ``MAX_PIECES`` windows, the first ones and the last ``TAIL_PIECES``:
    what people write last is read too, at bounded cost (the rules still read it all)."""
    text = " ".join(text.split())
    if not text:
        return []
    if len(text) <= WINDOW:
        return [text]
    head = _windows(text, 0, MAX_PIECES)
    if len(head) < MAX_PIECES or head[-1][1] >= len(text):
        return [text[a:b].strip() for a, b in head if text[a:b].strip()]
    tail = _windows(text, _tail_start(text), TAIL_PIECES)
    kept = head[: MAX_PIECES - len(tail)] + tail
    return [p for p in (text[a:b].strip() for a, b in kept) if p]


def _windows(text: str, start: int, most: int) -> list[tuple[int, int]]:
    """Up to ``most`` (start, end) spans from ``start``, ``WINDOW`` long, ``STEP`` apart."""
    out: list[tuple[int, int]] = []
    while start < len(text) and len(out) < most:
        end = min(len(text), start + WINDOW)
        if end < len(text):
            cut = text.rfind(" ", start + WINDOW // 2, end)
            end = cut if cut > 0 else end
        out.append((start, end))
        if end >= len(text):
            break
        nxt = text.find(" ", start + STEP)
        start = nxt + 1 if 0 < nxt < end else start + STEP
    return out


def _tail_start(text: str) -> int:
    """Where the last ``TAIL_PIECES`` windows begin, at a word."""
    start = max(0, len(text) - (WINDOW + STEP * (TAIL_PIECES - 1)))
    space = text.find(" ", start)
    return space + 1 if 0 <= space < len(text) - 1 else start


def sentences(text: str) -> list[str]:
    """The message's sentences, very short fragments joined to the one before."""
    return _joined((" ".join(part.split()) for part in _SENTENCE_END.split(text.strip())), MIN_SENTENCE)


def clauses(sentence: str) -> list[str]:
    """The sentence cut at commas and before "but" and "and", clauses shorter than
    ``MIN_CLAUSE`` joined to the one before."""
    return _joined((part.strip() for part in _CLAUSE_CUT.split(sentence)), MIN_CLAUSE)


def _joined(parts: Iterable[str], shortest: int) -> list[str]:
    """The non-empty parts, one shorter than ``shortest`` joined to its neighbour."""
    out: list[str] = []
    for part in parts:
        if not part:
            continue
        if out and (len(part) < shortest or len(out[-1]) < shortest):
            out[-1] = f"{out[-1]} {part}"
        else:
            out.append(part)
    return out


def turns(said: Sequence[str]) -> list[str]:
    """Each sentence's last clause when it opens with "but" (and the sentence has others)."""
    out = []
    for sentence in said:
        cut = clauses(sentence)
        if len(cut) >= 2 and _TURN.match(cut[-1]):
            out.append(cut[-1])
    return out


@dataclass(frozen=True, slots=True)
class Reading:
    pieces: list[str]  # read for both scores
    turns: list[str]  # last clauses opened by "but", read for the crisis score alone


def reading(text: str) -> Reading:
    """What the screen reads: the windows, then each sentence and each pair of adjacent
    sentences when there are several, and apart each last clause opened by "but" (at most
    ``MAX_SENTENCES`` of each, so any size of message costs bounded work). The turns
    count for the crisis score only: their flag scores lifted the concern threshold and
    moved crisis rows of the development sets off the soft check."""
    windows = pieces(text)
    if not windows:
        return Reading([], [])
    span = WINDOW * MAX_PIECES
    if len(text) <= span:
        said = sentences(text)[:MAX_SENTENCES]
    else:  # the first sentences and the last ones, as the windows read the start and the end
        tail = sentences(text[-WINDOW * TAIL_PIECES :])[1:][-TAIL_SENTENCES:]  # the first may be cut
        said = sentences(text[:span])[: MAX_SENTENCES - len(tail)] + tail
    extra: list[str] = []
    if len(said) >= 2:
        pairs = [f"{a} {b}" for a, b in zip(said, said[1:], strict=False)] if len(said) > 2 else []
        extra = [p for p in dict.fromkeys([*said, *pairs]) if p not in set(windows)]
    seen = {*windows, *extra}
    return Reading(windows + extra, [c for c in dict.fromkeys(turns(said)) if c not in seen][:MAX_SENTENCES])


def screen_pieces(text: str) -> list[str]:
    """The pieces read for both scores (``reading``)."""
    return reading(text).pieces


def _noise(token: str) -> bool:
    if len(token) < JUNK_FROM:
        return False
    kinds = len(set(token.casefold()))
    # Two characters alternating ("hahahaha") is noise; one stretched ("noooooo") is a word.
    alternating = kinds == 2 and len(_REPEATS.sub(r"\1", token)) >= JUNK_FROM
    return kinds == 1 or alternating or _LETTER.search(token) is None


def without_noise(piece: str) -> str:
    """The piece without runs that carry no words ("xxxxxxxx", "hahahahaha", a line of
    emoji, digits or dots): the encoder has never seen such input and scores it at random,
    up to the crisis card. Stretched words ("noooo", "keeeeep") stay. The rules still read
    the whole text."""
    tokens = piece.split()
    if not any(_noise(t) for t in tokens):
        return piece
    return " ".join(t for t in tokens if not _noise(t))


def _readable(texts: Sequence[str]) -> list[str]:
    return [kept for kept in dict.fromkeys(without_noise(p) for p in texts) if kept]


def piece_scores(p: Matrix) -> tuple[Matrix, Matrix]:
    """Each piece's crisis score, p(crisis) against p(none), and its flag score,
    p(concern) + p(crisis), from the class probabilities (pieces x classes)."""
    crisis = p[:, _CRISIS] / (p[:, _CRISIS] + p[:, _NONE] + CRISIS_AGAINST_NONE_FLOOR)
    return crisis, p[:, _CRISIS] + p[:, _CONCERN]


def level_of(scores: Scores, thresholds: Thresholds) -> RiskLevel:
    if scores.crisis >= thresholds.crisis:
        return RiskLevel.CRISIS
    if scores.flag >= thresholds.concern:
        return RiskLevel.CONCERN
    return RiskLevel.NONE


class ModelScreen:
    def __init__(self, encoder: Encoder, model: MlpModel, thresholds: Thresholds) -> None:
        self.encoder, self.model, self.thresholds = encoder, model, thresholds

    def scores(self, text: str) -> Scores | None:
        return self.scores_many([text])[0]

    def scores_many(self, texts: Sequence[str]) -> list[Scores | None]:
        """Each text's scores, all their pieces read in one encoder call: much of the
        encoder's cost is paid once per call, so several messages together cost far less
        than a call each."""
        reads = [reading(t) for t in texts]
        parts = [_readable(r.pieces) for r in reads]
        turned = [[t for t in _readable(r.turns) if t not in set(ps)] for r, ps in zip(reads, parts, strict=True)]
        flat = [p for ps, ts in zip(parts, turned, strict=True) for p in (*ps, *ts)]
        if not flat:
            return [None] * len(parts)
        crisis, flag = piece_scores(self.model.probabilities(np.asarray(self.encoder.encode(flat), dtype=np.float32)))
        out: list[Scores | None] = []
        start = 0
        for ps, ts in zip(parts, turned, strict=True):
            middle, end = start + len(ps), start + len(ps) + len(ts)
            out.append(Scores(float(crisis[start:end].max()), float(flag[start:middle].max())) if ps else None)
            start = end
        return out

    def screen(self, text: str) -> Screening:
        return self.screen_many([text])[0]

    def screen_many(self, texts: Sequence[str]) -> list[Screening]:
        return [self._judge(found) for found in self.scores_many(texts)]

    def _judge(self, found: Scores | None) -> Screening:
        if found is None:
            return NOTHING
        level = level_of(found, self.thresholds)
        if level is RiskLevel.NONE:
            return NOTHING
        return Screening(level, "model", (f"model.{level.label}",))
