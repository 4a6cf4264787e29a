"""What typed text gets when no flow is waiting for it: a lesson card for a question, a
warm answer and an offer to note a feeling, or what the bot can do.

The crisis screen has already run on the text (companion.py) before this sees it; a
message the screen found concerning is never answered with a lesson, only with warmth.
The finder (lesson search and language guess) is passed in by the composition root."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

from ketacompanion.content.catalog import ContentHolder
from ketacompanion.core.model import Reply
from ketacompanion.core.turn import Turn, button

_QUESTION_START = frozenset(
    "what whats what's how when where why who which can could should would will is isn't am are do does did "
    "any anything tell explain".split()
)
# First-person talk about how someone is: answered with warmth, not a lesson.
_FEELING = re.compile(
    r"\b(i\s*(?:'m|am|m)?\s*(?:feel|feeling|felt)|i\s*(?:'m|am|m)\s+(?:so\s+|really\s+|very\s+|pretty\s+)?"
    r"(?:low|sad|down|awful|terrible|tired|exhausted|anxious|scared|afraid|lonely|empty|numb|lost|stressed|"
    r"overwhelmed|angry|happy|good|great|better|okay|ok|fine|hopeful|calm|worried|upset|depressed|miserable)"
    r"|feels?\s+(?:pointless|hopeless|heavy|hard|dark|empty|awful|better|good))\b",
    re.IGNORECASE,
)
_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)
# Emoji and other pictographs: a message of these alone is offered to the journal.
_SYMBOL = re.compile(r"[^\w\s!-/:-@\[-`{-~\u00a0-\u00bf\u2000-\u206f]")
SHOWN_CARD_CHARS = 700


class Hit(Protocol):
    @property
    def lesson_id(self) -> str: ...

    @property
    def card(self) -> int: ...


class LessonFinder(Protocol):
    def search(self, lang: str, text: str) -> Sequence[Hit]: ...

    def is_english(self, lang: str, text: str) -> bool: ...


def is_question(text: str) -> bool:
    words = text.strip().lower().split()
    return text.rstrip().endswith("?") or bool(words and words[0].strip(",.!") in _QUESTION_START)


def is_feeling(text: str) -> bool:
    return bool(_FEELING.search(text)) and not is_question(text)


class FreeText:
    def __init__(self, content: ContentHolder, finder: LessonFinder) -> None:
        self._content, self._finder = content, finder

    async def answer(self, turn: Turn, concerned: bool = False) -> list[Reply]:
        text = turn.inbound.text.strip()
        if concerned:
            # The crisis policy has answered already; follow it with warmth, never a lesson.
            return await self._feeling(turn, text, gentle=True)
        if not text:
            # Nothing to keep or to answer (a blank line in the terminal, an empty caption).
            return [Reply(turn.t("answers.empty"), choices=self._menu(turn))]
        if not _LETTER.search(text) and not _SYMBOL.search(text):
            # Digits and punctuation only ("7", "12:30"): most likely an answer to a
            # question that has closed, not emoji to keep.
            return [Reply(turn.t("answers.number"), choices=self._menu(turn))]
        if not _LETTER.search(text):
            return await self._feeling(turn, text, gentle=False, emoji=True)
        if not self._finder.is_english(turn.lang, text):
            # The crisis screen reads English phrases only: keep help one tap away.
            crisis = button(turn.t("common.menu_crisis"), "go", "crisis")
            note = await self._draft_button(turn, text)
            return [Reply(turn.t("answers.english_only"), choices=(*note, *self._menu(turn), crisis))]
        if is_feeling(text):
            # Warmth, not a lesson: a card picked by words could read as a verdict on them.
            return await self._feeling(turn, text, gentle=False)
        hits = self._finder.search(turn.lang, text)
        if not hits:
            return [Reply(turn.t("answers.no_lesson"), choices=self._menu(turn))]
        return [self._card(turn, hits[0])]

    def _card(self, turn: Turn, hit: Hit) -> Reply:
        lesson = self._content.current.lessons.shelf(turn.lang).lessons[hit.lesson_id]
        card = lesson.cards[hit.card]
        body = card.body if len(card.body) <= SHOWN_CARD_CHARS else card.body[:SHOWN_CARD_CHARS].rsplit(" ", 1)[0] + "…"
        source = lesson.meta.sources[0].title
        text = turn.t("answers.from_lesson", title=lesson.meta.title, heading=card.heading, body=body,
                      source=source, reviewed=lesson.meta.reviewed_on.isoformat())
        choices = (
            button(turn.t("answers.whole_lesson"), "learn", "open", lesson.id),
            button(turn.t("answers.all_lessons"), "learn", "topics"),
        )
        return Reply(text, choices=choices, meta={"lesson": lesson.id})

    async def _feeling(self, turn: Turn, text: str, gentle: bool, emoji: bool = False) -> list[Reply]:
        key = "answers.feeling_gentle" if gentle else "answers.emoji" if emoji else "answers.feeling"
        user = turn.user
        if user is None or not user.consented:
            return [Reply(turn.t(key) + "\n" + turn.t("answers.journal_needs_start"))]
        if gentle and not user.keep_notes:
            # Words the screen flagged are kept only for people who keep notes (as the
            # crisis log does): offer a check-in, and /journal to write it down themselves.
            check = button(turn.t("answers.check_in_now"), "go", "checkin")
            return [Reply(turn.t("answers.feeling_gentle_no_notes"), choices=(check,))]
        entry = await turn.tx.journal.add(user.id, text, turn.now, kept=False)
        choices = (
            button(turn.t("answers.note_it"), "journal", "keep", entry),
            button(turn.t("answers.check_in_now"), "go", "checkin"),
            button(turn.t("answers.not_now"), "journal", "drop", entry),
        )
        return [Reply(turn.t(key), choices=choices)]

    async def _draft_button(self, turn: Turn, text: str) -> tuple:  # type: ignore[type-arg]
        """A journal offer for text in any language, kept only if the person taps it."""
        if turn.user is None or not turn.user.consented:
            return ()
        entry = await turn.tx.journal.add(turn.user.id, text, turn.now, kept=False)
        return (button(turn.t("answers.note_it"), "journal", "keep", entry),)

    def _menu(self, turn: Turn) -> tuple:  # type: ignore[type-arg]
        return (
            button(turn.t("common.menu_learn"), "go", "learn"),
            button(turn.t("common.menu_checkin"), "go", "checkin"),
            button(turn.t("common.menu_help"), "go", "help"),
        )
