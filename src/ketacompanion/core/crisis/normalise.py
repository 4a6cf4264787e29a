"""Normalise free text so that phrase rules see through disguise.

People in distress write fast, misspell, stretch letters and sometimes hide words
on purpose (spaced letters, digits for letters, look-alike letters from other
scripts, invisible characters). Every step here undoes one of those.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

MAX_CHARS = 10_000  # screening cost must stay bounded whatever arrives

BREAK = "|"  # stands for a clause break in the token stream (see ``tokens``)

_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2069\ufeff]"
)
# Combining marks stacked on letters ("zalgo" text) and accents.
_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")

# Cyrillic and Greek letters that look like Latin ones (after casefolding).
_HOMOGLYPHS = str.maketrans(
    {
        "а": "a", "в": "b", "е": "e", "ё": "e", "г": "r", "һ": "h", "і": "i", "ї": "i",
        "ј": "j", "к": "k", "м": "m", "н": "h", "о": "o", "п": "n", "р": "p", "с": "c",
        "т": "t", "у": "y", "х": "x", "ѕ": "s", "ԁ": "d", "ԛ": "q", "ԝ": "w", "ӏ": "l",
        "ѵ": "v", "ь": "b", "α": "a", "β": "b", "γ": "y", "ε": "e", "η": "n", "ι": "i",
        "κ": "k", "μ": "u", "ν": "v", "ο": "o", "ρ": "p", "τ": "t", "υ": "u", "χ": "x",
        "ω": "w", "ς": "s", "ı": "i", "ɡ": "g", "ɑ": "a", "ℓ": "l",
    }
)  # fmt: skip
_NON_LATIN_LOOKALIKE = re.compile("[\u0370-\u03ff\u0400-\u04ff\u0500-\u052f]")
_LATIN = re.compile("[a-z]")

# Emoji used in place of words, mostly means (pills, knife, rope, bridge).
EMOJI_WORDS: Mapping[str, str] = {
    "💊": "pills", "🔪": "knife", "🗡": "knife", "🔫": "gun", "🪢": "rope", "🌉": "bridge",
    "🩸": "blood", "⚰": "coffin", "🪦": "grave", "☠": "skull", "💀": "skull",
    "🚆": "train", "🚂": "train", "🚄": "train", "🚇": "train", "🥃": "alcohol",
    "🍷": "alcohol", "🍺": "alcohol", "🍾": "alcohol", "🚗": "car", "🏢": "building",
}  # fmt: skip
_EMOJI = re.compile("|".join(re.escape(e) for e in EMOJI_WORDS))

# Single characters separated by one space or one dot, dash, underscore or star:
# "k i l l", "s.u.i.c.i.d.e". Two spaces still separate words ("k i l l  m e").
_SPACED = re.compile(r"(?<![\w$@])[a-z0-9$@](?:[ .\-_*·][a-z0-9$@]){2,}(?![\w$@])")
_SPACED_SEP = re.compile(r"[ .\-_*·]")

_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t",
                       "$": "s", "@": "a", "!": "i", "|": "l"})  # fmt: skip
_LEET_CHAR = re.compile(r"[0-9$@!|]")
# Words where a digit or symbol touches a letter: "k1ll", "$uicide", "d13".
_LEET_TOKEN = re.compile(r"[a-z0-9$@!|]*(?:[a-z][0-9$@!|]|[0-9$@!|][a-z])[a-z0-9$@!|]*")
# Numbers with units or ordinals stay numbers: "50mg", "3am", "2nd".
_QUANTITY = re.compile(r"\d+(?:mg|mcg|ug|ml|g|kg|lbs?|am|pm|st|nd|rd|th|x|k|h|hrs?|mins?|s|iu)")
_TRAILING_BANG = re.compile(r"[!|]+$")

_STRETCH = re.compile(r"([a-z])\1{2,}")
_APOSTROPHE = re.compile(r"(?<=\w)['’‘ʼ`´](?=\w)")
_BREAKS = re.compile(r"[.!?;:,\n\r\u2026\u2014]+|\s[-–]\s|\s+(?:but|though|although)\s+")
_NON_WORD = re.compile(r"[^\w\s|]|_")
_SPACES = re.compile(r"\s+")


def normalise(text: str, misspellings: Mapping[str, str] | None = None) -> str:
    """Lowercase, undisguised, punctuation-free text with single spaces."""
    return " ".join(t for t in tokens(text, misspellings) if t != BREAK)


def tokens(text: str, misspellings: Mapping[str, str] | None = None) -> list[str]:
    """The normalised words of ``text``, with ``BREAK`` where a clause ends.

    Clause breaks let the detector keep "I'm not ok, I want to die" apart from
    "I'm not suicidal": a negation only reaches into its own clause.
    """
    text = text[:MAX_CHARS]
    if not text.isascii():  # most messages are plain ASCII: skip the Unicode work
        text = _INVISIBLE.sub("", unicodedata.normalize("NFKC", text))
        text = _COMBINING.sub("", unicodedata.normalize("NFKD", text))
        text = unicodedata.normalize("NFKC", text)
        text = _EMOJI.sub(lambda m: f" {EMOJI_WORDS[m.group()]} ", text.casefold())
        text = _unmask_script(text)
    else:
        text = text.lower()
    text = _SPACED.sub(_join_spaced, text)
    if _LEET_CHAR.search(text):
        text = _LEET_TOKEN.sub(_unleet, text)
    text = _STRETCH.sub(r"\1", text)
    text = _APOSTROPHE.sub("", text)
    text = _BREAKS.sub(f" {BREAK} ", text)
    text = _NON_WORD.sub(" ", text)
    words = _SPACES.sub(" ", text).strip().split(" ")
    if words == [""]:
        return []
    if misspellings:
        words = _correct(words, misspellings)
    return _tidy_breaks(words)


def _unmask_script(text: str) -> str:
    """Map look-alike letters to Latin when the text is mostly Latin or mixes scripts."""
    if not _NON_LATIN_LOOKALIKE.search(text):
        return text
    latin = len(_LATIN.findall(text))
    other = len(_NON_LATIN_LOOKALIKE.findall(text))
    if latin >= other:
        return text.translate(_HOMOGLYPHS)
    # Mostly another script: only fix words that mix it with Latin letters.
    return re.sub(
        r"\w+",
        lambda m: m.group().translate(_HOMOGLYPHS) if _LATIN.search(m.group()) else m.group(),
        text,
    )


def _join_spaced(match: re.Match[str]) -> str:
    joined = _SPACED_SEP.sub("", match.group())
    # "i w a n n a" is "i" then a word: a leading "i" alone is nearly always the pronoun.
    if joined.startswith("i") and len(joined) > 3 and match.group()[1] == " ":
        return "i " + joined[1:]
    return joined


def _unleet(match: re.Match[str]) -> str:
    word = match.group()
    if _QUANTITY.fullmatch(word):
        return word
    # "help!" keeps its exclamation mark as punctuation, not as an "i".
    tail = _TRAILING_BANG.search(word)
    if tail:
        return word[: tail.start()].translate(_LEET) + tail.group()
    return word.translate(_LEET)


_PHRASE_STARTS: dict[int, tuple[Mapping[str, str], frozenset[str]]] = {}


def _correct(words: list[str], misspellings: Mapping[str, str]) -> list[str]:
    starts = _phrase_starts(misspellings)
    out: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        if word in starts:  # a multi-word key may begin here ("sewer slide")
            for size in (3, 2):
                key = " ".join(words[i : i + size])
                if size <= len(words) - i and key in misspellings:
                    out.extend(misspellings[key].split())
                    i += size
                    break
            else:
                out.extend(misspellings.get(word, word).split())
                i += 1
            continue
        out.extend(misspellings[word].split() if word in misspellings else (word,))
        i += 1
    return out


def _phrase_starts(misspellings: Mapping[str, str]) -> frozenset[str]:
    cached = _PHRASE_STARTS.get(id(misspellings))
    if cached is None or cached[0] is not misspellings:
        firsts = frozenset(k.split()[0] for k in misspellings if " " in k)
        cached = (misspellings, firsts)
        if len(_PHRASE_STARTS) > 64:
            _PHRASE_STARTS.clear()
        _PHRASE_STARTS[id(misspellings)] = cached
    return cached[1]


def _tidy_breaks(words: list[str]) -> list[str]:
    out: list[str] = []
    for w in words:
        if w == BREAK and (not out or out[-1] == BREAK):
            continue
        out.append(w)
    if out and out[-1] == BREAK:
        out.pop()
    return out
