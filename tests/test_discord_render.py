"""Replies as Discord parts: under 2,000 characters, no mentions, buttons and links."""

from __future__ import annotations

import discord

from ketacompanion.adapters.discord.render import MAX_TEXT, render, split_text
from ketacompanion.core.model import Attachment, Choice, Reply


def test_long_text_is_split_under_the_limit_and_loses_nothing() -> None:
    text = ("word " * 900 + "\n\n") * 3 + "😀" * 2500
    pieces = split_text(text)
    assert "".join(pieces) == text
    assert all(len(p) < MAX_TEXT for p in pieces)


def test_no_part_can_ping_anyone() -> None:
    parts = render(Reply("@everyone look at <@123> and <@&456>"))
    assert all(p.kwargs()["allowed_mentions"].to_dict() == {"parse": []} for p in parts)
    assert parts[0].content.startswith("@everyone")  # the words are kept, only the ping is not


def test_buttons_links_and_phone_numbers() -> None:
    reply = Reply(
        "Lines:", choices=(Choice("crisis:ok", "I'm OK"), Choice("link:0", "Call 988", "tel:988"),
                           Choice("link:1", "Website", "https://988lifeline.org")),
        file=Attachment("export.json", "application/json", b"{}"),
    )  # fmt: skip
    (part,) = render(reply)
    assert "Call 988: 988" in part.content  # Discord buttons cannot dial: the number is text
    assert part.view is not None
    items = part.view.children
    assert [getattr(i, "custom_id", None) for i in items] == ["kc:crisis:ok", None]
    assert isinstance(items[1], discord.ui.Button) and items[1].url == "https://988lifeline.org"
    assert [f.filename for f in part.files] == ["export.json"]


def test_too_long_choice_ids_are_left_out_rather_than_refused() -> None:
    (part,) = render(Reply("x", choices=(Choice("a" * 200, "too long"), Choice("ok:1", "fine"))))
    assert part.view is not None and [i.custom_id for i in part.view.children] == ["kc:ok:1"]  # type: ignore[attr-defined]


async def test_a_view_goes_out_stopped_and_is_made_once_for_the_same_buttons() -> None:
    # Stopped, discord.py neither stores the view nor arms a timeout for it; the buttons
    # still answer, routed by custom_id.
    choices = (Choice("learn:topics", "Topics"), Choice("go:help", "Help"))
    (first,) = render(Reply("menu", choices=choices))
    (again,) = render(Reply("menu again", choices=choices))
    assert first.view is not None and first.view.is_finished()
    assert again.view is first.view
    (other,) = render(Reply("menu", choices=choices[:1]))
    assert other.view is not first.view and [i.custom_id for i in other.view.children] == ["kc:learn:topics"]


async def test_a_shared_view_writes_its_components_once() -> None:
    choices = (Choice("learn:topics", "Topics"), Choice("go:help", "Help"))
    (part,) = render(Reply("menu", choices=choices))
    assert part.view is not None
    components = part.view.to_components()
    assert [c["custom_id"] for row in components for c in row["components"]] == ["kc:learn:topics", "kc:go:help"]
    assert part.view.to_components() is components
