"""``/learn``: topics, lessons card by card, a quiz at the end, and stored progress.

Button ids: ``learn:topics``, ``learn:topic:<topic>``, ``learn:open:<lesson>``,
``learn:resume:<lesson>``, ``learn:next|back:<lesson>:<card>``, ``learn:ans:<lesson>:<option>``
and ``learn:end:<lesson>``. The dialogue state holds only the lesson id and card number.
"""

from __future__ import annotations

from collections.abc import Mapping

from ketacompanion.content.catalog import ContentHolder
from ketacompanion.content.lessons import Lesson, Shelf
from ketacompanion.core.free_text import is_feeling, is_question
from ketacompanion.core.model import Choice, Reply
from ketacompanion.core.ports import LessonProgress, UserRecord
from ketacompanion.core.turn import Turn, button

MAX_SEARCH_RESULTS = 5


class LessonFlow:
    name = "learn"
    needs_open_state = False  # lesson buttons on old messages stay usable; stale steps are checked here

    def __init__(self, content: ContentHolder) -> None:
        self._content = content

    def _shelf(self, turn: Turn) -> Shelf:
        return self._content.current.lessons.shelf(turn.lang)

    # --- entry points ---------------------------------------------------------------------
    async def command(self, turn: Turn) -> list[Reply]:
        """``/learn`` shows the topics; ``/learn <words>`` searches the lessons."""
        await _ensure_user(turn)
        query = turn.inbound.text.strip()
        if query:
            return await self._search(turn, query[:200])
        turn.state.open(self.name, "topics")
        return await self._topics(turn)

    async def on_choice(self, turn: Turn, action: str, args: list[str]) -> list[Reply]:
        await _ensure_user(turn)
        shelf = self._shelf(turn)
        if action == "topics":
            self._browse(turn)
            return await self._topics(turn)
        if action == "topic" and args:
            if shelf.topic(args[0]) is None:
                return [Reply(turn.t("lessons.gone")), *await self._topics(turn)]
            self._browse(turn)
            return await self._topic(turn, args[0])
        lesson = shelf.lessons.get(args[0]) if args else None
        if lesson is None:
            return [Reply(turn.t("lessons.gone")), *await self._topics(turn)]
        if action == "open":
            return await self._card(turn, lesson, 0)
        if action == "resume":
            progress = (await self._progress(turn)).get(lesson.id)
            start = progress.card if progress is not None and not progress.completed else 0
            return await self._card(turn, lesson, min(start, len(lesson.cards) - 1))
        if action in ("next", "back") and len(args) == 2:
            return await self._move(turn, lesson, action, args[1])
        if action == "ans" and len(args) == 2:
            return await self._answer(turn, lesson, args[1])
        if action == "end":
            return await self._end(turn, lesson)
        return [Reply(turn.t("lessons.closed")), *await self.reprompt(turn)]

    async def on_text(self, turn: Turn) -> list[Reply]:
        # Text reaching here has passed the crisis screen. Mid-card or at the quiz the
        # lesson waits for its buttons; at the menu or after the end (a state that stays
        # open for days) a question is searched as with "/learn words". A feeling or other
        # text gets the pointer to the buttons, never a lesson picked by its words.
        text = turn.inbound.text.strip()
        if turn.state.step in ("topics", "end") and is_question(text) and not is_feeling(text):
            return await self._search(turn, text[:200])
        return [Reply(turn.t("lessons.typed")), *await self.reprompt(turn)]

    async def reprompt(self, turn: Turn) -> list[Reply]:
        lesson = self._open_lesson(turn)
        if lesson is None:
            return await self._topics(turn)
        if turn.state.step == "quiz" and lesson.meta.quiz is not None:
            return self._quiz(turn, lesson)
        card = _int(turn.state.data.get("card"))
        if turn.state.step != "card" or card is None:
            return await self._topics(turn)
        return await self._card(turn, lesson, min(card, len(lesson.cards) - 1))

    # --- menus ----------------------------------------------------------------------------
    def _browse(self, turn: Turn) -> None:
        # Menu buttons never close another flow (a check-in, say) that happens to be open.
        if turn.state.flow in (None, self.name):
            turn.state.open(self.name, "topics")

    async def _progress(self, turn: Turn) -> Mapping[str, LessonProgress]:
        if turn.user is None:
            return {}
        return await turn.tx.lessons.progress(turn.user.id)

    async def _topics(self, turn: Turn) -> list[Reply]:
        shelf = self._shelf(turn)
        progress = await self._progress(turn)
        choices: list[Choice] = []
        current = _in_progress(shelf, progress, self._open_lesson(turn))
        if current is not None:
            label = turn.t("lessons.continue", title=current.meta.title)
            choices.append(button(label, self.name, "resume", current.id))
        for topic in shelf.topics:
            lessons = shelf.in_topic(topic.id)
            if not lessons:
                continue
            read = sum(1 for x in lessons if _read(progress.get(x.id)))
            label = turn.t("lessons.topic_button", title=topic.title, read=read, total=len(lessons))
            choices.append(button(label, self.name, "topic", topic.id))
        return [Reply(turn.t("lessons.topics"), choices=tuple(choices))]

    async def _topic(self, turn: Turn, topic_id: str) -> list[Reply]:
        shelf = self._shelf(turn)
        topic = shelf.topic(topic_id)
        assert topic is not None
        progress = await self._progress(turn)
        lines = [turn.t("lessons.topic", title=topic.title)]
        choices: list[Choice] = []
        for lesson in shelf.in_topic(topic_id):
            seen = progress.get(lesson.id)
            title = lesson.meta.title
            if _updated(seen, lesson):
                note = lesson.meta.change_note
                lines.append(
                    turn.t("lessons.updated", title=title, note=note)
                    if note
                    else turn.t("lessons.updated_no_note", title=title)
                )
                label = turn.t("lessons.updated_mark", title=title)
            elif _read(seen):
                label = turn.t("lessons.read_mark", title=title)
            else:
                label = title
            choices.append(button(label, self.name, "open", lesson.id))
        choices.append(button(turn.t("lessons.menu"), self.name, "topics"))
        return [Reply("\n\n".join(lines), choices=tuple(choices))]

    async def _search(self, turn: Turn, query: str) -> list[Reply]:
        found = self._shelf(turn).search(query, MAX_SEARCH_RESULTS)
        shown = " ".join(query.split())[:60]
        if not found:
            self._browse(turn)
            topics = await self._topics(turn)
            return [Reply(turn.t("lessons.search_none", query=shown), choices=topics[0].choices)]
        choices = [button(x.meta.title, self.name, "open", x.id) for x in found]
        choices.append(button(turn.t("lessons.menu"), self.name, "topics"))
        return [Reply(turn.t("lessons.search_results", query=shown), choices=tuple(choices))]

    # --- a lesson -------------------------------------------------------------------------
    def _open_lesson(self, turn: Turn) -> Lesson | None:
        if turn.state.flow != self.name:
            return None
        lesson_id = turn.state.data.get("lesson")
        return self._shelf(turn).lessons.get(lesson_id) if isinstance(lesson_id, str) else None

    async def _card(self, turn: Turn, lesson: Lesson, index: int, replaces: bool = False) -> list[Reply]:
        user = turn.require_user()
        turn.state.open(self.name, "card", lesson=lesson.id, card=index)
        await turn.tx.lessons.save_position(user.id, lesson.id, index, lesson.version)
        card, total = lesson.cards[index], len(lesson.cards)
        text = turn.t(
            "lessons.card",
            title=lesson.meta.title,
            heading=card.heading,
            body=card.body,
            position=turn.t("lessons.position", number=index + 1, total=total),
        )
        choices: list[Choice] = []
        if index > 0:
            choices.append(button(turn.t("lessons.back"), self.name, "back", lesson.id, index))
        if index < total - 1:
            label = turn.t("lessons.next")
        else:
            label = turn.t("lessons.to_quiz" if lesson.meta.quiz else "lessons.finish")
        choices.append(button(label, self.name, "next", lesson.id, index))
        choices.append(button(turn.t("lessons.menu"), self.name, "topics"))
        return [Reply(text, choices=tuple(choices), replaces_card=replaces)]

    async def _move(self, turn: Turn, lesson: Lesson, action: str, arg: str) -> list[Reply]:
        open_lesson = self._open_lesson(turn)
        here = _int(arg)
        if open_lesson is None or open_lesson.id != lesson.id or here is None:
            return [Reply(turn.t("lessons.closed")), *await self.reprompt(turn)]
        here = min(max(here, 0), len(lesson.cards) - 1)  # the lesson may have shrunk on reload
        if action == "back":
            return await self._card(turn, lesson, max(here - 1, 0), replaces=True)
        if here + 1 < len(lesson.cards):
            return await self._card(turn, lesson, here + 1, replaces=True)
        await turn.tx.lessons.complete(turn.require_user().id, lesson.id, lesson.version)
        if lesson.meta.quiz is None:
            return await self._end(turn, lesson)
        turn.state.open(self.name, "quiz", lesson=lesson.id, card=here)
        return self._quiz(turn, lesson)

    def _quiz(self, turn: Turn, lesson: Lesson) -> list[Reply]:
        quiz = lesson.meta.quiz
        assert quiz is not None
        choices = [button(o.text, self.name, "ans", lesson.id, o.id) for o in quiz.options]
        choices.append(button(turn.t("lessons.skip_quiz"), self.name, "end", lesson.id))
        text = turn.t("lessons.quiz", title=lesson.meta.title, question=quiz.question)
        return [Reply(text, choices=tuple(choices))]

    async def _answer(self, turn: Turn, lesson: Lesson, option_id: str) -> list[Reply]:
        quiz = lesson.meta.quiz
        option = quiz.option(option_id) if quiz is not None else None
        if quiz is None or option is None:
            return [Reply(turn.t("lessons.closed")), *await self.reprompt(turn)]
        right = option.id == quiz.answer
        await turn.tx.lessons.save_quiz(turn.require_user().id, lesson.id, option.id, right)
        if right:
            feedback = turn.t("lessons.right", explanation=option.explanation)
        else:
            answer = quiz.option(quiz.answer)
            feedback = turn.t(
                "lessons.wrong", explanation=option.explanation, answer=answer.text if answer else ""
            )
        return [Reply(feedback), *await self._end(turn, lesson)]

    async def _end(self, turn: Turn, lesson: Lesson) -> list[Reply]:
        meta = lesson.meta
        turn.state.open(self.name, "end", lesson=lesson.id)
        sources = "\n".join(f"- {s.title}: {s.url}" for s in meta.sources)
        text = turn.t(
            "lessons.end",
            title=meta.title,
            sources=sources,
            reviewed_on=meta.reviewed_on.isoformat(),
            reviewed_by=meta.reviewed_by,
        )
        shelf = self._shelf(turn)
        related = [shelf.lessons[r] for r in meta.related if r in shelf.lessons]
        choices = [button(x.meta.title, self.name, "open", x.id) for x in related]
        if related:
            text += "\n\n" + turn.t("lessons.related")
        choices.append(button(turn.t("lessons.menu"), self.name, "topics"))
        return [Reply(text, choices=tuple(choices))]


async def _ensure_user(turn: Turn) -> UserRecord:
    # Lessons ask nothing about health, so they need no consent; progress needs a row.
    if turn.user is None:
        inbound = turn.inbound
        turn.user = await turn.tx.users.create(
            inbound.address.platform, inbound.user_id, inbound.address.chat_id, turn.lang
        )
    return turn.user


def _read(progress: LessonProgress | None) -> bool:
    return progress is not None and progress.completed


def _updated(progress: LessonProgress | None, lesson: Lesson) -> bool:
    return (
        _read(progress)
        and progress is not None
        and progress.read_version is not None
        and progress.read_version < lesson.version  # ISO dates sort as text
    )


def _in_progress(
    shelf: Shelf, progress: Mapping[str, LessonProgress], open_lesson: Lesson | None
) -> Lesson | None:
    started = [p for p in progress.values() if not p.completed and p.lesson_id in shelf.lessons]
    if not started:
        return None
    if open_lesson is not None and any(p.lesson_id == open_lesson.id for p in started):
        return open_lesson
    latest = max(started, key=lambda p: p.updated_at)
    return shelf.lessons[latest.lesson_id]


def _int(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit() and len(value) < 4:
        return int(value)
    return None
