"""The detector's one-regex prefilter never turns away text the full rule screen flags.

It is what lets a flood's text be triaged cheaply at ingress, so it has to be exactly as
safe as the rules: whenever it says "cannot match", the full screen of that text must
find nothing at all (not even a match lowered to nothing by a context). Checked on every
labelled row in tests/data, on disguised copies of those rows, and on generated text made
of anchor words, misspelling keys and look-alike characters.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ketacompanion.core.crisis.detector import NOTHING, Detector, RiskLevel
from ketacompanion.core.crisis.prefilter import Prefilter

ROOT = Path(__file__).resolve().parents[1]
PHRASES = ROOT / "content" / "crisis" / "phrases.yaml"
DATA = ROOT / "tests" / "data"


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector.from_file(PHRASES)


def _rows() -> list[str]:
    texts: list[str] = []
    for path in sorted(DATA.glob("*.tsv")):
        with path.open(encoding="utf-8", newline="") as f:
            for row in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
                if row and row[0] and not row[0].startswith("#") and row[0] != "text":
                    texts.append(row[0])
    return texts


ROWS = _rows()
LEET = str.maketrans({"i": "1", "e": "3", "a": "@", "s": "$", "o": "0", "t": "7", "l": "|"})


def _disguised(text: str) -> list[str]:
    """Ways people hide words that the normaliser undoes on ASCII text."""
    return [
        text,
        text.upper(),
        text.translate(LEET),
        re.sub(r"([a-z])", r"\1\1\1", text),  # stretched
        re.sub(r"(\w)(\w)", r"\1'\2", text),  # apostrophes inside words
        text.replace(" ", "_"),
        text.replace(" ", "... "),
        re.sub(r"(\w+)", r"\1!", text),  # "help!" keeps its bang as punctuation
        " ".join(" ".join(word) for word in text.split()[:3]),  # spaced letters
    ]


def _assert_safe(detector: Detector, text: str) -> bool:
    """Whether the prefilter turned ``text`` away; fails if the rules found anything in it."""
    if detector.could_match(text):
        return False
    assert detector._screen_window(text) == NOTHING, text
    assert detector.screen(text) == NOTHING, text
    return True


def test_the_prefilter_is_on_for_the_shipped_rules(detector: Detector) -> None:
    assert detector._prefilter.usable
    assert not detector.could_match("message 123")
    assert detector.could_match("i want to kill myself")


def test_no_labelled_row_the_rules_flag_is_turned_away(detector: Detector) -> None:
    assert len(ROWS) > 1500
    flagged = [t for t in ROWS if detector._screen_window(t).level > RiskLevel.NONE]
    assert len(flagged) > 300  # the data still holds what the rules catch
    for text in flagged:
        assert detector.could_match(text), text
    for text in ROWS:
        _assert_safe(detector, text)


def test_disguised_rows_are_never_turned_away_when_the_rules_flag_them(detector: Detector) -> None:
    turned_away = 0
    flagged = 0
    for row in ROWS:
        for text in _disguised(row):
            flagged += detector.screen(text).level > RiskLevel.NONE
            turned_away += _assert_safe(detector, text)
    assert flagged > 1000 and turned_away > 0  # both branches were exercised


def _anchor_words(detector: Detector) -> list[str]:
    words = sorted({w for w, _ in detector._rule_index.anchors})
    return words + sorted(detector._misspellings)


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_generated_text_of_anchors_and_disguises_is_safe(detector: Detector, data: st.DataObject) -> None:
    words = _anchor_words(detector) + ["my", "self", "want", "to", "message", "ok", "lol", "x"]
    pieces = st.one_of(
        st.sampled_from(words),
        st.sampled_from(words).map(lambda w: w.translate(LEET)),
        st.sampled_from(words).map(lambda w: w.upper()),
        st.sampled_from(words).map(lambda w: w[:-1] if len(w) > 3 else w),
        st.text(alphabet="abcdeiklmnostuy013457$@!|'`-_.* ", max_size=6),
    )
    glue = st.sampled_from([" ", "  ", "!", "$", "'", "-", "_", ".", "|", "1", "", ", but ", "\n"])
    parts = data.draw(st.lists(st.tuples(pieces, glue), min_size=1, max_size=6))
    text = "".join(p + g for p, g in parts)
    _assert_safe(detector, text)


def test_anything_the_prefilter_cannot_read_gets_the_full_screen(detector: Detector) -> None:
    for text in ["kіll myself", "k i l l myself", "x " * 5000, "💊💊💊", "café"]:
        assert detector.could_match(text)
    off = Prefilter([("kil", False)], ["sewer-slide"])  # a key it cannot read: off
    assert not off.usable and off.could_match("hello")
    assert not Prefilter([("kil", False)], [], complete=False).usable


def _assert_batch_safe(detector: Detector, texts: list[str]) -> None:
    """The batch test passes every text the one-by-one test passes, and screening the batch
    at once gives exactly what screening each text gives."""
    each = detector._prefilter.could_match_each(texts)
    assert len(each) == len(texts)
    for text, could in zip(texts, each, strict=True):
        if detector._prefilter.could_match(text):
            assert could, text
    assert detector.screen_each(texts) == [detector.screen(t) for t in texts]


def test_the_batch_test_passes_every_row_the_one_by_one_test_passes(detector: Detector) -> None:
    texts = [t for row in ROWS for t in _disguised(row)]
    flood = [f"message {n}" for n in range(100)]
    for start in range(0, len(texts), 37):  # rows among flood texts, in batches of 100
        _assert_batch_safe(detector, flood[:63] + texts[start : start + 37])
    assert sum(detector._prefilter.could_match_each(flood)) == 0  # a flood is cleared at once


def test_crisis_text_at_any_place_of_a_batch_is_screened(detector: Detector) -> None:
    for crisis in ["i want to kill myself", "k1ll mys3lf", "k i l l myself", "I can't go on, I'm going to end it"]:
        assert detector.screen(crisis).level > RiskLevel.NONE
        for at in range(100):
            texts = [f"message {n}" for n in range(99)]
            texts.insert(at, crisis)
            found = detector.screen_each(texts)
            assert [n for n, s in enumerate(found) if s.level > RiskLevel.NONE] == [at], (crisis, at)


def test_a_match_across_two_texts_marks_both_and_hides_neither(detector: Detector) -> None:
    key = sorted(k for k in detector._misspellings if " " in k)[0]
    first, _, rest = key.partition(" ")
    texts = ["hello " + first, rest + " then kill myself", "fine"]
    each = detector._prefilter.could_match_each(texts)
    assert each[0] and each[1] and not each[2]
    _assert_batch_safe(detector, texts)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_generated_batches_are_as_safe_as_their_texts(detector: Detector, data: st.DataObject) -> None:
    words = _anchor_words(detector) + ["my", "self", "want", "to", "message", "ok", "lol", "x"]
    piece = st.one_of(
        st.sampled_from(words),
        st.sampled_from(words).map(lambda w: w.translate(LEET)),
        st.text(alphabet="abcdeiklmnostuy013457$@!|'`-_.* \n", max_size=6),
        st.sampled_from(["café", "k i l l", "💊"]),
    )
    glue = st.sampled_from([" ", "!", "'", "-", "_", ".", "", "\n"])
    text = st.lists(st.tuples(piece, glue), max_size=4).map(lambda ps: "".join(p + g for p, g in ps))
    _assert_batch_safe(detector, data.draw(st.lists(text, min_size=1, max_size=12)))


def test_a_prefilter_that_is_off_passes_every_text_of_a_batch() -> None:
    off = Prefilter([("kil", False)], ["sewer-slide"])
    assert off.could_match_each(["hello", "there"]) == [True, True]
    assert Prefilter([("kil", False)], []).could_match_each([]) == []
