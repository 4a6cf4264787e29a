"""Screen one free-text message for suicide and self-harm risk, by phrase rules.

Pure and fast: no I/O in ``screen``. Rules are compiled once; each message is
normalised, only rules sharing a word with it are tried, and contexts (negation,
idioms, gaming, lyrics, session talk, third person) may then lower what matched.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

from ketacompanion.content.phrases import LEVELS, PhraseRules, load_phrases, squeeze
from ketacompanion.core.crisis.normalise import BREAK, normalise, tokens
from ketacompanion.core.crisis.prefilter import Prefilter


class RiskLevel(IntEnum):
    NONE = 0
    CONCERN = 1
    CRISIS = 2

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Screening:
    level: RiskLevel
    category: str | None
    reasons: tuple[str, ...]


NOTHING = Screening(RiskLevel.NONE, None, ())
WINDOW = 8_000  # below the normaliser's cap
OVERLAP = 400  # a phrase cut by one window's edge is whole in the next
MAX_SCREENED = 200_000  # far beyond any platform's message limit


@dataclass(frozen=True, slots=True)
class _Rule:
    id: str
    category: str
    level: int
    requires: frozenset[str]
    alone_level: int | None


@dataclass(frozen=True, slots=True)
class _Context:
    id: str
    kind: str
    where: str
    within: int
    gap_words: frozenset[str] | None
    blocked_by: frozenset[str]
    effect: str
    relabel: str | None
    applies_to: frozenset[str]
    quoted: bool


# An opening quotation mark: a double or curly quote, or a single quote starting a word
# after a space or a colon (an apostrophe sits inside or at the end of a word).
_OPENING_QUOTE = re.compile(r"[\"“”„«»‘]|(?:^|[\s:(])'(?=\w)")


@dataclass(slots=True)
class _Hit:
    owner: int  # index into rules or contexts
    start: int  # first token
    end: int  # one past the last token


class _Index:
    """Compiled phrases, tried only when the message holds one of their anchor words."""

    def __init__(self) -> None:
        self.exact: dict[str, list[int]] = defaultdict(list)
        self.prefix: dict[str, list[int]] = defaultdict(list)
        self.always: list[int] = []
        self.patterns: list[tuple[int, re.Pattern[str]]] = []
        self.anchors: set[tuple[str, bool]] = set()

    def add(self, owner: int, phrase: str, rules: PhraseRules) -> None:
        compiled = rules.compile(phrase)
        slot = len(self.patterns)
        self.patterns.append((owner, compiled.pattern))
        if compiled.anchors is None:
            self.always.append(slot)
            return
        self.anchors |= compiled.anchors
        for word, is_prefix in compiled.anchors:
            (self.prefix if is_prefix else self.exact)[word].append(slot)

    def finish(self) -> None:
        self.prefix_sizes = sorted({len(p) for p in self.prefix})
        self._memo: dict[str, tuple[int, ...]] = {}

    def _slots_for(self, word: str) -> tuple[int, ...]:
        found = list(self.exact.get(word, ()))
        for size in self.prefix_sizes:
            if size > len(word):
                break
            found.extend(self.prefix.get(word[:size], ()))
        if len(self._memo) > 50_000:  # words repeat; bound the memory all the same
            self._memo.clear()
        self._memo[word] = result = tuple(found)
        return result

    def hits(self, words: set[str], text: str, starts: list[int]) -> list[_Hit]:
        slots = set(self.always)
        for word in words:
            found = self._memo.get(word)
            if found is None:
                found = self._slots_for(word)
            slots.update(found)
        out: list[_Hit] = []
        for slot in slots:
            owner, pattern = self.patterns[slot]
            for m in pattern.finditer(text):
                first = bisect_right(starts, m.start() + 1) - 1
                last = bisect_right(starts, m.end() - 1) - 1
                out.append(_Hit(owner, first, last + 1))
        return out


class Detector:
    def __init__(self, rules: PhraseRules) -> None:
        self._misspellings = dict(rules.misspellings)
        self._order = {c.id: i for i, c in enumerate(rules.categories)}  # most severe first
        self._rules: list[_Rule] = []
        self._rule_index = _Index()
        for cat in rules.categories:
            for r in cat.rules:
                alone = LEVELS[r.alone_level] if r.alone_level else None
                level = LEVELS[r.level or cat.level]
                self._rules.append(_Rule(r.id, cat.id, level, frozenset(r.requires), alone))
                for phrase in r.phrases:
                    self._rule_index.add(len(self._rules) - 1, phrase, rules)
        self._contexts: list[_Context] = []
        self._context_index = _Index()
        self._unless_index = _Index()  # phrases that stop a context anywhere in the message
        for c in rules.contexts:
            gap = frozenset(_squeezed(c.gap_words)) if c.gap_words is not None else None
            self._contexts.append(
                _Context(c.id, c.kind, c.where, c.within, gap, frozenset(_squeezed(c.blocked_by)),
                         c.effect, c.relabel, frozenset(c.applies_to), c.quoted)
            )  # fmt: skip
            for phrase in c.phrases:
                self._context_index.add(len(self._contexts) - 1, phrase, rules)
            for phrase in c.unless:
                self._unless_index.add(len(self._contexts) - 1, phrase, rules)
        self._rule_index.finish()
        self._context_index.finish()
        self._unless_index.finish()
        # No rule matches without one of its anchor words: a message proved to hold none
        # screens as nothing without being normalised (a rule with no anchor disables it).
        self._prefilter = Prefilter(
            self._rule_index.anchors, self._misspellings, complete=not self._rule_index.always
        )

    @classmethod
    def from_file(cls, path: Path) -> Detector:
        return cls(load_phrases(path))

    def could_match(self, text: str) -> bool:
        """False only when ``screen(text)`` is certain to find nothing (a cheap test)."""
        return len(text) > WINDOW or self._prefilter.could_match(text)

    def screen_each(self, texts: Sequence[str]) -> list[Screening]:
        """``screen`` for each of ``texts``, the cheap test run once over them all: a batch
        of updates read at once costs one regex pass, and only texts that pass are screened."""
        maybe = self._prefilter.could_match_each(texts)
        return [
            self.screen(text) if could or len(text) > WINDOW else NOTHING
            for text, could in zip(texts, maybe, strict=True)
        ]

    def screen(self, text: str) -> Screening:
        if len(text) <= WINDOW:
            if not self._prefilter.could_match(text):
                return NOTHING
            return self._screen_window(text)
        # A long message is read in overlapping windows (the normaliser caps what it
        # reads), so words at the end count as much as words at the start.
        best = NOTHING
        for start in range(0, min(len(text), MAX_SCREENED), WINDOW - OVERLAP):
            found = self._screen_window(text[start : start + WINDOW])
            if found.level > best.level:
                best = found
            if best.level is RiskLevel.CRISIS:
                break
        return best

    def _screen_window(self, text: str) -> Screening:
        toks = tokens(text, self._misspellings)
        clause: list[int] = []
        current = 0
        for tok in toks:
            if tok == BREAK:
                current += 1
            else:
                clause.append(current)
        if not clause:
            return NOTHING
        words = squeeze(" ".join(t for t in toks if t != BREAK)).split(" ")
        starts, pos = [], 1
        for w in words:
            starts.append(pos)
            pos += len(w) + 1
        joined = " " + " ".join(words) + " "
        vocabulary = set(words)
        hits = _outermost(self._rule_index.hits(vocabulary, joined, starts), self._rules)
        if not hits:
            return NOTHING
        contexts = self._context_index.hits(vocabulary, joined, starts)
        if contexts:
            # A recovery story that also says "again" or "tonight" is not only a story.
            stopped = {h.owner for h in self._unless_index.hits(vocabulary, joined, starts)}
            quoted = _OPENING_QUOTE.search(text) is not None
            contexts = [
                c
                for c in contexts
                if c.owner not in stopped and (quoted or not self._contexts[c.owner].quoted)
            ]
        judged = [self._contexts_on(hit, contexts, words, clause) for hit, _ in hits]
        # Only matches no context touched can satisfy another rule's "requires":
        # "goodbye for now" must not turn a mention of pills into a crisis.
        support = {
            self._rules[hit.owner].category
            for (hit, _), (effects, _) in zip(hits, judged, strict=True)
            if not effects and not self._rules[hit.owner].requires
        }
        return self._decide(hits, judged, support)

    def _contexts_on(
        self, hit: _Hit, contexts: list[_Hit], words: list[str], clause: list[int]
    ) -> tuple[list[_Context], str | None]:
        rule = self._rules[hit.owner]
        effects: list[_Context] = []
        relabel = None
        for ctx_hit in contexts:
            ctx = self._contexts[ctx_hit.owner]
            if ctx.applies_to and not ({rule.category, rule.id} & ctx.applies_to):
                continue
            if _reaches(ctx, ctx_hit, hit, words, clause):
                effects.append(ctx)
                relabel = relabel or ctx.relabel
        return effects, relabel

    def _decide(
        self,
        hits: list[tuple[_Hit, int]],
        judged: list[tuple[list[_Context], str | None]],
        support: set[str],
    ) -> Screening:
        best: tuple[int, int] | None = None  # (level, -category order)
        found: list[tuple[int, str, str, list[str]]] = []
        for (hit, base), (effects, relabel) in zip(hits, judged, strict=True):
            rule = self._rules[hit.owner]
            if rule.requires and not rule.requires & support:
                if rule.alone_level is None:
                    continue
                base = rule.alone_level
            level, category, notes = base, rule.category, []
            for ctx in effects:
                capped = {"lower": base - 1, "none": 0, "concern": min(base, 1)}[ctx.effect]
                if capped < base:
                    level = min(level, max(capped, 0))
                    notes.append(f"lowered:{ctx.kind}")
                    if relabel:
                        category = relabel
            found.append((level, category, rule.id, notes))
            key = (level, -self._order.get(category, len(self._order)))
            best = key if best is None or key > best else best
        if best is None:
            return NOTHING
        top = best[0]
        winners = [f for f in found if f[0] == top]
        winners.sort(key=lambda f: self._order.get(f[1], len(self._order)))
        reasons: list[str] = []
        for _, _, rule_id, notes in winners:
            for reason in (rule_id, *notes):
                if reason not in reasons:
                    reasons.append(reason)
        category = winners[0][1] if top > 0 else None
        return Screening(RiskLevel(top), category, tuple(reasons))


def _outermost(hits: list[_Hit], rules: list[_Rule]) -> list[tuple[_Hit, int]]:
    """Drop a match lying inside a longer one of at least its level.

    "not going to kill myself" must be judged as a whole: the inner "kill myself"
    would otherwise escape the negation in front of "going".
    """
    out: list[tuple[_Hit, int]] = []
    for h in hits:
        level = rules[h.owner].level
        inside = any(
            o is not h
            and o.start <= h.start
            and h.end <= o.end
            and (o.end - o.start) > (h.end - h.start)
            and rules[o.owner].level >= level
            for o in hits
        )
        if not inside:
            out.append((h, level))
    return out


def _reaches(ctx: _Context, c: _Hit, hit: _Hit, words: list[str], clause: list[int]) -> bool:
    if ctx.where == "overlap":
        return c.start < hit.end and hit.start < c.end
    if ctx.where == "clause":
        own = (clause[hit.start], clause[hit.end - 1])
        same = clause[c.start] in own
        distance = max(c.start - hit.end, hit.start - c.end, 0)
        if not same or (ctx.within != 0 and distance > ctx.within):
            return False
        # "what are the signs of suicide" is a topic question, "what are my signs of..." is not.
        return not any(words[i] in ctx.blocked_by for i in range(len(words)) if clause[i] in own)
    if ctx.where == "before":
        between = words[c.end : hit.start]
        same = c.end <= hit.start and clause[c.end - 1] == clause[hit.start]
    else:
        between = words[hit.end : c.start]
        same = c.start >= hit.end and clause[c.start] == clause[hit.end - 1]
    if not same or len(between) > ctx.within:
        return False
    if ctx.gap_words is not None and any(w not in ctx.gap_words for w in between):
        return False
    return not any(w in ctx.blocked_by for w in between)


def _squeezed(words: list[str]) -> list[str]:
    return [squeeze(w) for phrase in words for w in normalise(phrase).split()]
