"""The crisis phrase rules (content/crisis/phrases.yaml): models, phrase syntax, validation.

A phrase is written in plain words and matched as whole words, in order, on
normalised text (lowercase, no punctuation, disguises undone). Extra notation:

    kill*            a word starting with "kill" (kill, kills, killing)
    (want to|wanna)  any one of these
    [really]         optional words
    ...              up to 4 other words in between (``...8``: up to 8)
    <self>           a named list from ``lists:`` (myself, my self, ...)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from ketacompanion.content.problems import ContentError, Problem, Severity
from ketacompanion.content.yamlnodes import node_and_data
from ketacompanion.core.crisis.normalise import normalise

Level = Literal["none", "concern", "crisis"]
LEVELS: dict[str, int] = {"none": 0, "concern": 1, "crisis": 2}
DEFAULT_GAP = 4


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Rule(_Model):
    id: str
    phrases: list[str] = Field(min_length=1)
    level: Level | None = None  # overrides the category's level
    requires: list[str] = []  # fires only if a rule of one of these categories also matched
    alone_level: Level | None = None  # level when ``requires`` is unmet (default: no match)
    note: str = ""


class Category(_Model):
    id: str
    level: Level
    note: str = ""
    rules: list[Rule] = Field(min_length=1)


class Context(_Model):
    """Words near a match that change what it means ("not", "in the game", "lyrics")."""

    id: str
    kind: str
    where: Literal["before", "after", "overlap", "clause"]
    within: int = Field(default=0, ge=0, le=20)  # words allowed between context and match
    gap_words: list[str] | None = None  # if given, only these words may sit in between
    blocked_by: list[str] = []  # words between (for "clause": in its clause) that stop it
    unless: list[str] = []  # phrases anywhere in the message that stop the context altogether
    quoted: bool = False  # only when the message opens a quotation ("she said 'I...'")
    effect: Literal["lower", "none", "concern"]  # one level down, or cap at a level
    relabel: str | None = None  # category to report instead (e.g. third_person)
    applies_to: list[str] = []  # categories or rule ids it may change; empty means all
    phrases: list[str] = Field(min_length=1)
    note: str = ""


class SemanticExamples(_Model):
    """Example sentences for the optional semantic layer (whole sentences, not rules)."""

    concern: dict[str, list[str]] = {}  # category -> sentences that deserve a soft check
    everyday: list[str] = []  # look-alikes that do not (idioms, session talk, grief)


class PhraseRules(_Model):
    version: int
    misspellings: dict[str, str] = {}
    lists: dict[str, list[str]] = {}
    categories: list[Category] = Field(min_length=1)
    contexts: list[Context] = []
    examples: SemanticExamples = SemanticExamples()
    # Each phrase compiled once, whether validation or the detector asks first.
    _compiled: dict[str, CompiledPhrase] = PrivateAttr(default_factory=dict)
    # Each <list> expanded once: most rules name <self> or another list.
    _expanded: dict[str, tuple[str, Anchors | None]] = PrivateAttr(default_factory=dict)

    def compile(self, phrase: str) -> CompiledPhrase:
        found = self._compiled.get(phrase)
        if found is None:
            found = self._compiled[phrase] = compile_phrase(phrase, self.lists, self._expanded)
        return found

    def check_entry(self, entry: str) -> None:
        """A ``lists:`` entry is only ever matched inside the phrases naming its list,
        and those are compiled; the entry itself is parsed, not compiled."""
        parse_phrase(entry, self.lists, self._expanded)


# ---- phrase syntax ---------------------------------------------------------------------

_TOKEN = re.compile(r"\.\.\.(\d*)|[()\[\]|]|<[a-z_]+>|[^\s()\[\]|<>]+")
Anchors = frozenset[tuple[str, bool]]  # (word, is_prefix): one of them is in every match


class PhraseError(ValueError):
    pass


_DOUBLED = re.compile(r"([^\W\d_])\1+")


def squeeze(word: str) -> str:
    """Collapse doubled letters so that "kill", "kil" and "killl" compare equal."""
    return _DOUBLED.sub(r"\1", word)


@dataclass(frozen=True, slots=True)
class CompiledPhrase:
    regex: str  # matches " word word" inside " " + text + " "
    anchors: Anchors | None  # None: no required word, always try it
    # The regex compiled once, ending where a word ends; the detector runs this one.
    pattern: re.Pattern[str]


def compile_phrase(
    phrase: str,
    lists: dict[str, list[str]],
    expanded: dict[str, tuple[str, Anchors | None]] | None = None,
) -> CompiledPhrase:
    """Turn a phrase into a regex over squeezed, normalised text. Raises PhraseError."""
    regex, anchors = parse_phrase(phrase, lists, expanded)
    pattern = re.compile(regex + "(?= )")
    # Text is " " + words + " ", so an empty match at the start of " " is a regex that
    # matches nothing at all: it would fire on every message.
    if pattern.match(" "):
        raise PhraseError(f"{phrase!r} needs at least one word that is not optional")
    return CompiledPhrase(regex, anchors, pattern)


def parse_phrase(
    phrase: str,
    lists: dict[str, list[str]],
    expanded: dict[str, tuple[str, Anchors | None]] | None = None,
) -> tuple[str, Anchors | None]:
    """The regex source and anchor words of a phrase, not compiled. Raises PhraseError.
    Only words carry anchors, and a part without one can match nothing at all, so a
    phrase without anchors would match every message."""
    regex, anchors = _Parser(
        phrase, lists, depth=0, expanded={} if expanded is None else expanded
    ).parse()
    if anchors is None:
        raise PhraseError(f"{phrase!r} needs at least one word that is not optional")
    return regex, anchors


class _Parser:
    def __init__(
        self,
        phrase: str,
        lists: dict[str, list[str]],
        depth: int,
        expanded: dict[str, tuple[str, Anchors | None]],
    ) -> None:
        if depth > 5:
            raise PhraseError("lists refer to each other too deeply")
        bad = re.sub(r"\s+", "", _TOKEN.sub("", phrase))
        if bad:
            raise PhraseError(f"unexpected characters {bad!r} in {phrase!r}")
        self.toks = [m.group() for m in _TOKEN.finditer(phrase)]
        self.pos, self.lists, self.depth, self.phrase = 0, lists, depth, phrase
        self.expanded = expanded

    def parse(self) -> tuple[str, Anchors | None]:
        if not self.toks:
            raise PhraseError("empty phrase")
        result = self._alt()
        if self.pos != len(self.toks):
            raise PhraseError(f"unbalanced {self.toks[self.pos]!r} in {self.phrase!r}")
        return result

    def _alt(self) -> tuple[str, Anchors | None]:
        options = [self._seq()]
        while self._peek() == "|":
            self.pos += 1
            options.append(self._seq())
        if len(options) == 1:
            return options[0]
        anchors: set[tuple[str, bool]] = set()
        for _, a in options:
            if a is None:
                return "(?:" + "|".join(r for r, _ in options) + ")", None
            anchors |= a
        return "(?:" + "|".join(r for r, _ in options) + ")", frozenset(anchors)

    def _seq(self) -> tuple[str, Anchors | None]:
        parts: list[tuple[str, Anchors | None]] = []
        while self._peek() not in (None, "|", ")", "]"):
            parts.append(self._item())
        if not parts:
            raise PhraseError(f"empty alternative in {self.phrase!r}")
        required = [a for _, a in parts if a is not None]
        best = max(required, key=_anchor_strength, default=None)
        return "".join(r for r, _ in parts), best

    def _item(self) -> tuple[str, Anchors | None]:
        tok = self.toks[self.pos]
        self.pos += 1
        if tok in ("(", "["):
            inner, anchors = self._alt()
            close = ")" if tok == "(" else "]"
            if self._peek() != close:
                raise PhraseError(f"missing {close!r} in {self.phrase!r}")
            self.pos += 1
            return (f"(?:{inner})", anchors) if tok == "(" else (f"(?:{inner})?", None)
        if tok.startswith("..."):
            n = int(tok[3:]) if tok[3:] else DEFAULT_GAP
            return f"(?: [^ ]+){{0,{n}}}", None
        if tok.startswith("<"):
            name = tok[1:-1]
            if name not in self.lists:
                raise PhraseError(f"unknown list <{name}>")
            found = self.expanded.get(name)
            if found is None:
                inner = " | ".join(f"({entry})" for entry in self.lists[name])
                found = _Parser(f"({inner})", self.lists, self.depth + 1, self.expanded).parse()
                self.expanded[name] = found
            return found
        if tok in (")", "]"):
            raise PhraseError(f"unbalanced {tok!r} in {self.phrase!r}")
        return _word(tok)

    def _peek(self) -> str | None:
        return self.toks[self.pos] if self.pos < len(self.toks) else None


def _word(tok: str) -> tuple[str, Anchors]:
    prefix = tok.endswith("*")
    words = [squeeze(w) for w in normalise(tok.rstrip("*")).split()]
    if not words:
        raise PhraseError(f"{tok!r} has no letters or digits")
    if prefix and len(words) > 1:
        raise PhraseError(f"{tok!r}: a prefix must be one word")
    regex = "".join(" " + re.escape(w) for w in words) + ("[^ ]*" if prefix else "")
    anchor = max(words, key=len)
    return regex, frozenset({(anchor, prefix and anchor == words[-1])})


def _anchor_strength(anchors: Anchors) -> tuple[int, int]:
    # Prefer long, specific words: "suicide" filters better than "i" or "to".
    return (min(len(w) for w, _ in anchors), -len(anchors))


# ---- loading and validation ---------------------------------------------------------------


def load_phrases(path: Path) -> PhraseRules:
    rules, problems = _check(path)
    if rules is None or any(p.severity is Severity.ERROR for p in problems):
        raise ContentError(problems)
    return rules


def validate_phrases(path: Path) -> list[Problem]:
    return _check(path)[1]


def scan_phrases(path: Path) -> tuple[PhraseRules | None, list[Problem]]:
    """The rules (None when unreadable) and every problem, from one read of the file."""
    return _check(path)


def _check(path: Path) -> tuple[PhraseRules | None, list[Problem]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem(path, 0, f"cannot read: {exc}")]
    try:
        node, data = node_and_data(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return None, [Problem(path, mark.line + 1 if mark else 0, f"YAML error: {exc}")]
    if not isinstance(data, dict):
        return None, [Problem(path, 1, "expected a mapping with version and categories")]
    try:
        rules = PhraseRules.model_validate(data)
    except ValidationError as exc:
        return None, [
            Problem(path, _line(node, err["loc"]), f"{_dotted(err['loc'])}: {err['msg']}")
            for err in exc.errors()
        ]
    return rules, _semantic_problems(path, node, rules)


def _semantic_problems(path: Path, node: Any, rules: PhraseRules) -> list[Problem]:
    problems: list[Problem] = []
    categories = {c.id for c in rules.categories}
    rule_ids = {r.id for c in rules.categories for r in c.rules}
    seen: dict[str, tuple[Any, ...]] = {}

    def claim(ident: str, loc: tuple[Any, ...]) -> None:
        if ident in seen:
            first = _line(node, seen[ident])
            problems.append(
                Problem(path, _line(node, loc), f"duplicate id {ident!r} (first at line {first})")
            )
        else:
            seen[ident] = loc

    def phrases(items: list[str], loc: tuple[Any, ...], compiled: bool = True) -> None:
        for k, phrase in enumerate(items):
            try:
                if compiled:
                    rules.compile(phrase)
                else:
                    rules.check_entry(phrase)
            except (PhraseError, re.error) as exc:
                problems.append(Problem(path, _line(node, (*loc, k)), f"bad phrase: {exc}"))

    for name, entries in rules.lists.items():
        phrases(entries, ("lists", name), compiled=False)
    for ci, cat in enumerate(rules.categories):
        claim(cat.id, ("categories", ci, "id"))
        for ri, rule in enumerate(cat.rules):
            loc = ("categories", ci, "rules", ri)
            claim(rule.id, (*loc, "id"))
            phrases(rule.phrases, (*loc, "phrases"))
            for unknown in set(rule.requires) - categories:
                problems.append(
                    Problem(path, _line(node, (*loc, "requires")), f"unknown category {unknown!r}")
                )
    for xi, ctx in enumerate(rules.contexts):
        loc = ("contexts", xi)
        claim(ctx.id, (*loc, "id"))
        phrases(ctx.phrases, (*loc, "phrases"))
        phrases(ctx.unless, (*loc, "unless"))
        for unknown in set(ctx.applies_to) - categories - rule_ids:
            problems.append(
                Problem(
                    path, _line(node, (*loc, "applies_to")), f"unknown category or rule {unknown!r}"
                )
            )
    for name in rules.examples.concern:
        if name not in categories:
            loc = ("examples", "concern", name)
            problems.append(Problem(path, _line(node, loc), f"unknown category {name!r}"))
    for key, value in rules.misspellings.items():
        if normalise(key) != key or not normalise(value):
            problems.append(
                Problem(path, _line(node, ("misspellings", key)),
                        f"misspelling {key!r} must be lowercase words without punctuation")
            )  # fmt: skip
    return problems


def _line(node: Any, loc: tuple[Any, ...]) -> int:
    """The 1-based line of the YAML node at ``loc``, or of its nearest ancestor."""
    line = node.start_mark.line + 1 if node is not None else 0
    for key in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if k.value == key), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            child = node.value[key]
        if child is None:
            break
        node, line = child, child.start_mark.line + 1
    return line


def _dotted(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc)
