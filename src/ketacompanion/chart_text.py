"""Text as matplotlib can draw it, shared by the phone charts and the PDF summary.

matplotlib is imported inside the functions, as everywhere else in the drawing code."""

from __future__ import annotations

import functools


def printable(text: str) -> str:
    """Text as matplotlib can draw it: right-to-left scripts put in visual order (and
    Arabic letters joined), since matplotlib lays glyphs out left to right; characters the
    font has no glyph for (most emoji) become a box, rather than a warning and a blank."""
    if any(_RTL_START <= ord(c) <= _RTL_END for c in text):
        import arabic_reshaper
        from bidi import get_display

        text = "\n".join(get_display(arabic_reshaper.reshape(line)) for line in text.split("\n"))
    charmap = _charmap()
    return "".join(c if ord(c) in charmap or c in "\n\t" else "\u25a1" for c in text)


_RTL_START, _RTL_END = 0x0590, 0x08FF  # Hebrew, Arabic, Syriac, Thaana and their supplements


@functools.cache  # the font file does not change while the process runs
def _charmap() -> frozenset[int]:
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    return frozenset(FT2Font(font_manager.findfont("DejaVu Sans")).get_charmap())
