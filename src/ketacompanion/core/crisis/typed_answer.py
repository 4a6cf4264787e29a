"""A typed "yes" or "no": how someone may answer the crisis card's or the soft check's
question in words instead of with its buttons."""

from __future__ import annotations

import unicodedata

# Short answers only: anything longer is a message of its own and goes to the screen and
# the flows as usual. "maybe" and "kind of" count as yes: a half yes to "are you thinking
# of ending your life?" deserves the lines, not a lesson search.
_YES = frozenset({
    "yes", "y", "yeah", "yea", "yeh", "yep", "yup", "ya", "yah", "yes i am", "i am", "yes i do", "i do",
    "yes please", "maybe", "kind of", "kinda", "sort of", "a bit", "a little", "sometimes", "i think so",
    "si", "sí", "ja", "oui", "sim", "haan", "han", "yes yes",
})
_NO = frozenset({
    "no", "n", "nope", "nah", "no no", "not really", "no im ok", "no im okay", "no im fine", "no im safe",
    "im ok", "im okay", "im fine", "im safe", "i am ok", "i am fine", "i am safe", "no i am not", "no im not",
    "im not", "no thanks", "no thank you", "nein", "non", "não", "nao", "nee", "nahi", "nahin",
})


def typed_answer(text: str) -> str | None:
    """``"yes"``, ``"no"`` or None for anything that is not a bare answer."""
    if len(text) > 40:
        return None
    folded = unicodedata.normalize("NFKC", text).casefold().replace("'", "").replace("\u2019", "")
    words = "".join(ch if (ch.isalnum() or ch.isspace()) else " " for ch in folded).split()
    plain = " ".join(words)
    if plain in _YES:
        return "yes"
    if plain in _NO:
        return "no"
    return None
