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
"""

from __future__ import annotations

import re
from collections.abc import Iterable

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
    return f"[{body}]+" if len(chars) > 1 else f"{body}+"


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


def _emit(node: dict[str, dict]) -> str:  # type: ignore[type-arg]
    if _OPEN_END in node:
        return ""  # a prefix ends here: whatever follows, it is a match
    options = [_char(char) + _emit(child) for char, child in sorted(node.items()) if char != _END]
    if _END in node:
        options.append(_EDGE_AFTER)
    if len(options) == 1:
        return options[0]
    return "(?:" + "|".join(options) + ")"
