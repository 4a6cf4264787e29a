"""A one-regex test that proves a plain ASCII message can match no crisis phrase rule.

The detector only tries a rule when a word of the normalised message is one of the rule's
anchor words (or starts with it, for a prefix), so a message holding none of them screens
as nothing. Normalising costs a dozen regex passes; this asks the same question of the
raw text in one pass, over-approximating every step the normaliser takes on ASCII text:

- case: the regex runs over ``text.lower()``, as the normaliser does;
- look-alike digits and symbols ("k1ll", "$uicide"): each letter of an anchor also
  matches every character the normaliser may turn into it;
- stretched and doubled letters ("kiiill"): each letter matches a run of itself;
- apostrophes inside words ("don't"): removed first, exactly as the normaliser removes them;
- misspellings ("sewer slide"): every misspelling key is looked for as if it were an
  anchor, its words with any separator between them;
- word edges: a match must start where no letter or digit precedes it; an exact anchor
  must end where none follows (a following symbol may be a letter in disguise, so it
  does not stop a match).

What it cannot prove it does not try: text with a non-ASCII character (the Unicode
steps), spaced-out letters ("k i l l", which the normaliser joins across spaces) and
text longer than one screening window all get the full screen. ``could_match`` is True
whenever the full rule screen could find anything; False only when it cannot.

``could_match_each`` asks the same of many texts (a batch of updates read at once) in one
pass of each regex over the texts joined by newlines. A newline is a word edge to every
step above and never part of a spaced-out word, so each text's own matches are still found
there; a match that runs across a newline (a misspelling's words split between two texts)
marks every text it touches, which costs a full screen and never a miss.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Sequence

from ketacompanion.core.crisis.normalise import _APOSTROPHE, _LEET, _SPACED

_EDGE_BEFORE = "[^a-z0-9]"  # the text is searched with a space in front
_EDGE_AFTER = "(?![a-z0-9])"
_BETWEEN_WORDS = "[^a-z0-9]+"  # what lies between two words of a misspelling key
_END, _OPEN_END = "", "*"  # trie markers: an exact word ends here / a prefix ends here
_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyz0123456789 ")


def _sources() -> dict[str, str]:
    """Each character the normaliser can produce, with every ASCII character it comes from."""
    found: dict[str, set[str]] = {}
    for code, target in _LEET.items():
        found.setdefault(str(target), set()).add(chr(code))
    return {char: "".join(sorted(chars)) for char, chars in found.items()}


_SOURCES = _sources()


def _char(char: str) -> str:
    if char == " ":
        return _BETWEEN_WORDS
    chars = {char, *_SOURCES.get(char, "")}
    body = "".join(re.escape(c) for c in sorted(chars))
    one = f"[{body}]" if len(chars) > 1 else body
    # "xx*", not "x+": the regex engine skips an alternative at once when its first
    # character cannot match, but only when that is a plain character or set, not a
    # repeat. With dozens of anchors this makes a search several times faster.
    return one + one + "*"


class Prefilter:
    """Built once from the rule anchors and the misspelling keys (see the module doc)."""

    def __init__(
        self, anchors: Iterable[tuple[str, bool]], misspellings: Iterable[str], complete: bool = True
    ) -> None:
        """``complete``: every rule has anchors. A rule without any is tried on every
        message, so nothing can be proved and every text gets the full screen."""
        words = [(word, prefix) for word, prefix in anchors]
        words += [(" ".join(key.split()), False) for key in misspellings]
        # Only plain lowercase words and digits are understood here; anything else turns it off.
        plain = all(w and all(c in _PLAIN for c in w) for w, _ in words)
        self._pattern: re.Pattern[str] | None = None
        if complete and plain and words:
            trie: dict[str, dict] = {}  # type: ignore[type-arg]
            for word, prefix in words:
                node = trie
                for char in word:
                    node = node.setdefault(char, {})
                node[_OPEN_END if prefix else _END] = {}
            self._pattern = re.compile(_EDGE_BEFORE + _emit(trie))

    @property
    def usable(self) -> bool:
        return self._pattern is not None

    def could_match(self, text: str) -> bool:
        """False only when the full rule screen of ``text`` is certain to find nothing."""
        if self._pattern is None or not text.isascii():
            return True
        lowered = text.lower()
        if _SPACED.search(lowered):
            return True
        if "'" in lowered or "`" in lowered:
            lowered = _APOSTROPHE.sub("", lowered)
        return self._pattern.search(" " + lowered) is not None

    def could_match_each(self, texts: Sequence[str]) -> list[bool]:
        """``could_match`` for each of ``texts``: True wherever ``could_match`` is (and,
        rarely, where a match runs across two texts), found in one pass over them all."""
        found = [True] * len(texts)
        if self._pattern is None:
            return found
        where = [i for i, text in enumerate(texts) if text.isascii()]
        if not where:
            return found
        lowered = [texts[i].lower() for i in where]
        hit = [False] * len(where)
        # As ``could_match``: spaced-out letters are looked for before apostrophes go.
        _mark(_SPACED, lowered, hit)
        if any("'" in t or "`" in t for t in lowered):
            lowered = [_APOSTROPHE.sub("", t) if "'" in t or "`" in t else t for t in lowered]
        if not all(hit):
            _mark(self._pattern, lowered, hit)
        for k, i in enumerate(where):
            found[i] = hit[k]
        return found


def _mark(pattern: re.Pattern[str], parts: list[str], hit: list[bool]) -> None:
    """Set ``hit[k]`` for every part that a match of ``pattern`` over all the parts, joined
    by newlines, touches."""
    # Each part owns the separator before it (the first, a space) and its characters.
    starts, at = [], 0
    for part in parts:
        starts.append(at)
        at += len(part) + 1
    for match in pattern.finditer(" " + "\n".join(parts)):
        end = match.end()
        for k in range(max(bisect_right(starts, match.start()) - 1, 0), len(parts)):
            if starts[k] >= end:
                break
            hit[k] = True


def _emit(node: dict[str, dict]) -> str:  # type: ignore[type-arg]
    if _OPEN_END in node:
        return ""  # a prefix ends here: whatever follows, it is a match
    options = [_char(char) + _emit(child) for char, child in sorted(node.items()) if char != _END]
    if _END in node:
        options.append(_EDGE_AFTER)
    if len(options) == 1:
        return options[0]
    return "(?:" + "|".join(options) + ")"
