"""Reply -> Bot API messages: splitting, escaping, keyboards, contacts, media."""

from __future__ import annotations

import json

from hypothesis import assume, given, settings
from hypothesis import strategies as st
from telegram.constants import ParseMode

from ketacompanion.adapters.telegram.render import (
    MAX_CAPTION,
    MAX_TEXT,
    Kind,
    contact_lines,
    escape_html,
    keyboard,
    render,
    split_text,
    utf16_length,
)
from ketacompanion.core.model import Attachment, Choice, Reply, Urgency

from fakes.telegram_objects import render_text
from fakes.telegram_objects import utf16_length as fake_utf16_length

SPECIALS = "_*[]()~`>#+-=|{}.!<>&\\\"'"
ODD = ["\u200f", "\u200e", "\u200b", "\u200d", "\u0301", "\ufe0f", "👩‍⚕️", "🇩🇪", "𝔘", "\n", " "]
odd_text = st.lists(
    st.one_of(st.characters(codec="utf-8"), st.sampled_from(list(SPECIALS) + ODD)), max_size=300
).map("".join)


def shown(reply: Reply) -> str:
    """The words Telegram would show for all of a reply's messages, joined."""
    return "".join(render_text(m.text, m.parse_mode) for m in render(reply))


# --- splitting --------------------------------------------------------------------------------


def test_short_text_is_one_piece() -> None:
    assert split_text("hello") == ["hello"]
    assert split_text("") == []


def test_long_text_splits_at_paragraphs_first() -> None:
    first, second = "a" * 3000, "b" * 3000
    pieces = split_text(f"{first}\n\n{second}")
    assert pieces == [f"{first}\n\n", second]


def test_long_line_without_paragraphs_splits_at_line_then_word() -> None:
    lines = "\n".join(["word " * 100] * 20)  # ~10,000 characters, many lines
    pieces = split_text(lines)
    assert all(p.endswith("\n") for p in pieces[:-1])
    words = "word " * 2000
    pieces = split_text(words)
    assert all(p.endswith(" ") for p in pieces[:-1])
    assert "".join(pieces) == words


def test_unbroken_text_is_cut_hard_but_under_the_limit() -> None:
    text = "x" * 10_000
    pieces = split_text(text)
    assert [len(p) for p in pieces] == [4096, 4096, 1808]


def test_limit_counts_utf16_units_and_never_splits_an_emoji() -> None:
    text = "😀" * 3000  # 6000 UTF-16 units
    pieces = split_text(text)
    assert "".join(pieces) == text
    assert all(fake_utf16_length(p) <= MAX_TEXT for p in pieces)
    assert pieces[0] == "😀" * 2048


def test_combining_marks_stay_with_their_letter() -> None:
    text = "x" * 4095 + "e\u0301" + "y"  # the accent would land just past the limit
    pieces = split_text(text)
    assert pieces[0] == "x" * 4095
    assert pieces[1].startswith("e\u0301")


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.sampled_from(["a", " ", "\n", "😀", "\u0301", "\u200d", "é"]),
               max_size=400), st.integers(min_value=4, max_value=50))  # fmt: skip
def test_split_pieces_fit_and_rejoin(text: str, limit: int) -> None:
    pieces = split_text(text, limit)
    assert "".join(pieces) == text
    assert all(0 < utf16_length(p) <= limit for p in pieces)


# --- escaping: what Telegram shows equals what the core wrote ------------------------------


def test_html_escaping_covers_the_three_reserved_characters() -> None:
    assert escape_html("<b>5 & 6</b>") == "&lt;b&gt;5 &amp; 6&lt;/b&gt;"
    assert render_text(escape_html("&amp; stays literal"), "HTML") == "&amp; stays literal"


@settings(max_examples=300, deadline=None)
@given(odd_text)
def test_any_text_round_trips(text: str) -> None:
    reply = Reply(text)
    messages = render(reply)
    assert all(m.parse_mode == ParseMode.HTML for m in messages)
    if text.strip():
        assert shown(reply) == text
    else:
        assert messages == []  # Telegram refuses a blank message


@settings(max_examples=50, deadline=None)
@given(st.text(alphabet=st.sampled_from(list(SPECIALS) + ["a", "\n", "😀"]), min_size=1,
               max_size=200))  # fmt: skip
def test_long_text_full_of_markup_round_trips_in_pieces(seed: str) -> None:
    assume(seed.strip())
    text = seed * (5000 // len(seed) + 1)
    messages = render(Reply(text))
    assert len(messages) >= 2
    assert all(fake_utf16_length(render_text(m.text, m.parse_mode)) <= MAX_TEXT for m in messages)
    assert shown(Reply(text)) == "".join(p for p in split_text(text) if p.strip())


def test_crisis_replies_have_no_parse_mode_and_are_not_escaped() -> None:
    text = "Call 988 <now> & don't wait."
    for urgency in (Urgency.CRISIS, Urgency.CONCERN):
        (message,) = render(Reply(text, urgency=urgency))
        assert message.parse_mode is None
        assert message.text == text


# --- keyboards and contacts ------------------------------------------------------------------


def test_keyboard_has_callback_buttons_and_web_links_only() -> None:
    choices = (
        Choice("learn:open:basics", "Basics"),
        Choice("link:0", "Call 988", "tel:988"),
        Choice("link:1", "Text HOME to 741741", "sms:741741?&body=HOME"),
        Choice("link:2", "Find a helpline", "https://findahelpline.com"),
        Choice("link:3", "Channel", "tg://resolve?domain=example"),
        Choice("x" * 65, "Too long an id"),
    )
    markup = keyboard(choices)
    assert markup is not None
    rows = json.loads(json.dumps(markup.to_dict()))["inline_keyboard"]
    assert rows == [
        [{"text": "Basics", "callback_data": "learn:open:basics"}],
        [{"text": "Find a helpline", "url": "https://findahelpline.com"}],
        [{"text": "Channel", "url": "tg://resolve?domain=example"}],
    ]
    assert keyboard(()) is None
    assert keyboard((Choice("link:0", "Call", "tel:911"),)) is None


def test_callback_data_limit_is_in_bytes() -> None:
    four_byte = "😀" * 16  # 64 bytes
    assert keyboard((Choice(four_byte, "ok"),)) is not None
    assert keyboard((Choice(four_byte + "a", "too long"),)) is None


def test_phone_and_sms_contacts_become_text_lines_unless_already_there() -> None:
    choices = (
        Choice("link:0", "Call 911 (emergency)", "tel:911"),
        Choice("link:1", "Call Samaritans", "tel:116123"),
        Choice("link:2", "Text Shout", "sms:85258?&body=SHOUT"),
        Choice("link:3", "Website", "https://example.org"),
    )
    lines = contact_lines("Call 116 123 any time.", choices)
    assert lines.splitlines() == ["Call 911 (emergency): 911", "Text Shout: 85258"]


def test_crisis_reply_lists_every_number_in_its_text() -> None:
    choices = (
        Choice("crisis:danger", "I'm in danger now"),
        Choice("link:0", "Call 999 (emergency)", "tel:999"),
        Choice("link:1", "Call or text 988", "tel:988"),
    )
    reply = Reply("You can reach someone right now.", choices, urgency=Urgency.CRISIS)
    (message,) = render(reply)
    assert "999" in message.text and "988" in message.text
    assert message.parse_mode is None
    buttons = [b for row in message.markup.inline_keyboard for b in row]  # type: ignore[union-attr]
    assert [b.callback_data for b in buttons] == ["crisis:danger"]


# --- media ---------------------------------------------------------------------------------


def test_image_with_short_text_is_one_photo_with_caption_and_keyboard() -> None:
    image = Attachment("mood.png", "image/png", b"\x89PNG...")
    reply = Reply("Your <mood> chart", (Choice("chart:more", "More"),), image=image)
    (message,) = render(reply)
    assert message.kind is Kind.PHOTO and message.attachment is image
    assert render_text(message.text, message.parse_mode) == "Your <mood> chart"
    assert message.markup is not None


def test_file_with_long_text_sends_text_then_document() -> None:
    data = Attachment("export.json", "application/json", b"{}")
    reply = Reply("x " * MAX_CAPTION, (Choice("a:b", "Button"),), file=data)
    messages = render(reply)
    assert [m.kind for m in messages] == [Kind.TEXT, Kind.DOCUMENT]
    assert messages[0].markup is None and messages[1].markup is not None
    assert messages[1].text == "" and messages[1].attachment is data


def test_image_without_text_has_no_caption() -> None:
    (message,) = render(Reply("", image=Attachment("c.png", "image/png", b"png")))
    assert message.kind is Kind.PHOTO and message.text == "" and message.parse_mode is None


def test_bare_form_drops_markup_and_parse_mode() -> None:
    (message,) = render(Reply("a < b", (Choice("a:b", "B"),)))
    bare = message.bare()
    assert (bare.text, bare.parse_mode, bare.markup) == ("a < b", None, None)
