"""Normalisation undoes the ways people disguise or mangle words."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ketacompanion.core.crisis.normalise import BREAK, MAX_CHARS, normalise, tokens


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ki\u200bll my\u200dself", "kill myself"),  # zero-width space and joiner
        ("kill my\u00adself", "kill myself"),  # soft hyphen
        ("\u202ekill myself\u202c", "kill myself"),  # bidi override
        ("\ufeffhello\u2066 there\u2069", "hello there"),
        ("I WANT TO DIE", "i want to die"),
        ("ｉ ｗａｎｔ ｔｏ ｄｉｅ", "i want to die"),  # fullwidth, by NFKC
        ("k̷i̷l̷l̷ myself", "kill myself"),  # stacked combining marks
    ],
)
def test_unicode_tricks_are_undone(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("kіll", "kill"),  # Cyrillic i
        ("suісide", "suicide"),  # Cyrillic i and c
        ("Ι wаnt tо kіll mysеlf", "i want to kill myself"),  # Greek capital iota, Cyrillic a o i e
        ("ΚΙLL", "kill"),  # Greek capitals
    ],
)
def test_look_alike_letters_map_to_latin(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


def test_text_mostly_in_another_script_keeps_its_letters() -> None:
    assert normalise("Привет, как дела?") == "привет как дела"
    greek = normalise("Καλημέρα σας")
    assert greek.startswith("καλημερα ")
    assert not any("a" <= ch <= "z" for ch in greek)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("su1c1de", "suicide"),
        ("k1ll mys3lf", "kill myself"),
        ("$uicide", "suicide"),
        ("i w@nt to d1e", "i want to die"),
        ("5u1c1d3", "suicide"),
        ("k!ll", "kill"),
    ],
)
def test_leetspeak_inside_words(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


@pytest.mark.parametrize("raw", ["took 50mg at 3am", "mood 7 of 10", "2nd session", "150 95"])
def test_numbers_and_quantities_stay_numbers(raw: str) -> None:
    assert normalise(raw) == raw


def test_help_with_an_exclamation_mark_is_not_leetspeak() -> None:
    assert normalise("help!") == "help"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("k i l l  m y s e l f", "kill myself"),
        ("i want to k i l l myself", "i want to kill myself"),
        ("s.u.i.c.i.d.e", "suicide"),
        ("k-i-l-l", "kill"),
        ("i w a n n a  d i e", "i wanna die"),
        ("d_i_e", "die"),
    ],
)
def test_spaced_out_letters_are_joined(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("dieeee", "die"), ("sooo tired", "so tired"), ("nooooo", "no"), ("kill", "kill")],
)
def test_stretched_letters_shrink(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


def test_punctuation_becomes_space_and_whitespace_collapses() -> None:
    assert normalise("  hello,   world!!  (really?) \n ok ") == "hello world really ok"
    assert normalise("don't   can't  I'm") == "dont cant im"
    assert normalise("self-harm") == "self harm"


def test_emoji_for_means_become_words() -> None:
    assert normalise("💊💊 and 🔪") == "pills pills and knife"


def test_misspellings_map_words_and_short_phrases() -> None:
    fixes = {
        "kil": "kill",
        "myslef": "myself",
        "sewer slide": "suicide",
        "killmyself": "kill myself",
    }
    assert normalise("i want to kil myslef", fixes) == "i want to kill myself"
    assert normalise("thinking about sewer slide", fixes) == "thinking about suicide"
    assert normalise("killmyself now", fixes) == "kill myself now"
    assert normalise("sewer pipes", fixes) == "sewer pipes"


def test_empty_and_punctuation_only() -> None:
    assert normalise("") == ""
    assert normalise("!!! ... ???") == ""
    assert tokens("") == []


def test_clause_breaks_are_kept_in_tokens_only() -> None:
    assert tokens("I'm not ok, I want to die") == [
        "im",
        "not",
        "ok",
        BREAK,
        "i",
        "want",
        "to",
        "die",
    ]
    assert normalise("I'm not ok, I want to die") == "im not ok i want to die"


def test_input_is_capped() -> None:
    huge = "word " * (MAX_CHARS // 2)
    assert len(normalise(huge + "suicide")) <= MAX_CHARS
    assert "suicide" not in normalise(huge + "suicide")


@given(st.text(max_size=300))
def test_output_is_lowercase_single_spaced(text: str) -> None:
    out = normalise(text)
    assert out == out.strip()
    assert "  " not in out
    assert out == out.casefold() or not out.isascii()
