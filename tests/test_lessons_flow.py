"""``/learn`` through the companion: topics, cards, the quiz, progress, search, old buttons."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from ketacompanion.app import App, build_app
from ketacompanion.content.bundle import read_directory
from ketacompanion.content.lessons import Lesson, Shelf
from ketacompanion.core.clock import FakeClock
from ketacompanion.core.model import Urgency
from ketacompanion.publishing import Publisher
from ketacompanion.storage.admin_repo import AdminRepo
from ketacompanion.storage.content_repo import ContentRepo

from conftest import CONTENT, Chat, make_settings


def shelf_of(app: App) -> Shelf:
    return app.content.current.lessons.shelf("en")


def first_lesson(app: App, topic: int = 0) -> Lesson:
    shelf = shelf_of(app)
    return shelf.in_topic(shelf.topics[topic].id)[0]


def ids(chat: Chat) -> list[str]:
    return [c.id for c in chat.choices()]


def labels(chat: Chat) -> list[str]:
    return [c.label for c in chat.choices()]


async def read_through(chat: Chat, lesson: Lesson) -> None:
    """Open ``lesson`` and press Next until the quiz (or the end) shows."""
    await chat.tap(f"learn:open:{lesson.id}")
    for _ in lesson.cards:
        await chat.tap(chat.choice(f"learn:next:{lesson.id}:"))


async def app_on(content: Path, database_url: str, tmp_path: Path, clock: FakeClock) -> App:
    settings = make_settings(database_url, tmp_path).model_copy(update={"content_dir": content})
    return await build_app(settings, clock)


# --- menus ------------------------------------------------------------------------------


async def test_learn_shows_the_topics_in_order_without_consent(chat: Chat, app: App) -> None:
    replies = await chat.say("/learn")
    shelf = shelf_of(app)
    assert len(replies) == 1
    assert ids(chat) == [f"learn:topic:{t.id}" for t in shelf.topics]
    for topic, label in zip(shelf.topics, labels(chat), strict=True):
        assert label.startswith(topic.title)
        assert f"0 of {len(shelf.in_topic(topic.id))}" in label
    async with app.store.transaction() as tx:
        assert await tx.users.find("console", chat.user) is not None  # a row for progress


async def test_a_topic_lists_its_lessons_in_order(chat: Chat, app: App) -> None:
    shelf = shelf_of(app)
    topic = shelf.topics[0]
    await chat.say("/learn")
    await chat.tap(f"learn:topic:{topic.id}")
    lessons = shelf.in_topic(topic.id)
    assert ids(chat) == [f"learn:open:{x.id}" for x in lessons] + ["learn:topics"]
    assert labels(chat)[: len(lessons)] == [x.meta.title for x in lessons]
    assert [x.meta.order for x in lessons] == sorted(x.meta.order for x in lessons)


# --- a lesson ---------------------------------------------------------------------------


async def test_every_card_with_next_and_back(chat: Chat, app: App) -> None:
    lesson = first_lesson(app)
    total = len(lesson.cards)
    await chat.say("/learn")
    await chat.tap(f"learn:topic:{lesson.meta.topic}")
    await chat.tap(f"learn:open:{lesson.id}")
    for index, card in enumerate(lesson.cards):
        (reply,) = chat.last
        assert card.heading in reply.text and card.body in reply.text
        assert f"{index + 1} of {total}" in reply.text
        assert reply.replaces_card is (index > 0)
        assert ("learn:back:" in " ".join(ids(chat))) is (index > 0)
        assert "learn:topics" in ids(chat)
        if index > 0:  # Back goes one card back, then Next returns here
            await chat.tap(chat.choice(f"learn:back:{lesson.id}:{index}"))
            assert lesson.cards[index - 1].heading in chat.text()
            assert chat.last[0].replaces_card is True
            await chat.tap(chat.choice(f"learn:next:{lesson.id}:{index - 1}"))
            assert card.heading in chat.text()
        await chat.tap(chat.choice(f"learn:next:{lesson.id}:{index}"))
    quiz = lesson.meta.quiz
    assert quiz is not None
    assert quiz.question in chat.text()
    option_buttons = [f"learn:ans:{lesson.id}:{o.id}" for o in quiz.options]
    assert ids(chat) == [*option_buttons, f"learn:end:{lesson.id}"]
    assert labels(chat)[: len(quiz.options)] == [o.text for o in quiz.options]


async def test_right_answer_then_sources_and_related(chat: Chat, app: App) -> None:
    lesson = first_lesson(app)
    quiz = lesson.meta.quiz
    assert quiz is not None
    await read_through(chat, lesson)
    await chat.tap(f"learn:ans:{lesson.id}:{quiz.answer}")
    feedback, end = chat.last
    right = quiz.option(quiz.answer)
    assert right is not None and right.explanation in feedback.text
    assert feedback.text.startswith("✓") and "✗" not in feedback.text
    for source in lesson.meta.sources:
        assert f"{source.title}: {source.url}" in end.text
    assert lesson.meta.reviewed_on.isoformat() in end.text
    related = [c.id for c in end.choices]
    assert related == [f"learn:open:{r}" for r in lesson.meta.related] + ["learn:topics"]
    async with app.store.transaction() as tx:
        user = await tx.users.find("console", chat.user)
        assert user is not None
        progress = (await tx.lessons.progress(user[0].id))[lesson.id]
    assert progress.completed and progress.read_version == lesson.version
    assert progress.quiz_correct is True


async def test_wrong_answer_explains_and_gives_the_right_one(chat: Chat, app: App) -> None:
    lesson = first_lesson(app, topic=1)
    quiz = lesson.meta.quiz
    assert quiz is not None
    wrong = next(o for o in quiz.options if o.id != quiz.answer)
    right = quiz.option(quiz.answer)
    assert right is not None
    await read_through(chat, lesson)
    await chat.tap(f"learn:ans:{lesson.id}:{wrong.id}")
    feedback = chat.last[0].text
    assert wrong.explanation in feedback and right.text in feedback
    assert feedback.startswith("✗") and "✓" not in feedback
    async with app.store.transaction() as tx:
        user = await tx.users.find("console", chat.user)
        assert user is not None
        assert (await tx.lessons.progress(user[0].id))[lesson.id].quiz_correct is False


async def test_skipping_the_quiz_still_shows_the_sources(chat: Chat, app: App) -> None:
    lesson = first_lesson(app)
    await read_through(chat, lesson)
    await chat.tap(f"learn:end:{lesson.id}")
    assert all(s.url in chat.text() for s in lesson.meta.sources)


# --- progress ---------------------------------------------------------------------------


async def test_progress_survives_a_restart(
    app: App, database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    done, started = first_lesson(app, 0), first_lesson(app, 1)
    chat = Chat(app)
    await read_through(chat, done)
    clock.advance(timedelta(minutes=5))
    await chat.tap(f"learn:open:{started.id}")
    await chat.tap(f"learn:next:{started.id}:0")
    await chat.tap(f"learn:next:{started.id}:1")
    await app.close()

    again = await app_on(CONTENT, database_url, tmp_path, clock)
    try:
        chat = Chat(again)
        await chat.say("/learn")
        first = chat.choices()[0]
        assert first.id == f"learn:resume:{started.id}"
        assert started.meta.title in first.label
        topic = shelf_of(again).topics[0]
        assert f"1 of {len(shelf_of(again).in_topic(topic.id))}" in chat.choices()[1].label
        await chat.tap(f"learn:topic:{done.meta.topic}")
        read_label = labels(chat)[ids(chat).index(f"learn:open:{done.id}")]
        assert read_label != done.meta.title and done.meta.title in read_label and "✓" in read_label
        await chat.tap(first.id)
        assert started.cards[2].heading in chat.text()
        assert f"3 of {len(started.cards)}" in chat.text()
    finally:
        await again.close()


async def test_continue_is_gone_once_the_lesson_is_finished(chat: Chat, app: App) -> None:
    lesson = first_lesson(app)
    await chat.tap(f"learn:open:{lesson.id}")
    await chat.say("/learn")
    assert ids(chat)[0] == f"learn:resume:{lesson.id}"
    await read_through(chat, lesson)
    await chat.say("/learn")
    assert not any(i.startswith("learn:resume:") for i in ids(chat))


@pytest.fixture
def changed_content(tmp_path: Path) -> tuple[Path, str, str]:
    """A copy of the content where one lesson was updated later, with a change note,
    and lost its quiz."""
    root = tmp_path / "changed"
    shutil.copytree(CONTENT, root)
    lesson = root / "lessons" / "en" / "after-a-session.md"
    text = lesson.read_text(encoding="utf-8")
    head, body = text.split("\n---\n", 1)
    head = head.split("\nquiz:\n", 1)[0]
    old = next(x for x in head.splitlines() if x.startswith("updated_on:"))
    note = "The driving advice now says what to do if you feel fine."
    head = head.replace(old, f'updated_on: 2026-12-01\nchange_note: "{note}"')
    lesson.write_text(f"{head}\n---\n{body}", encoding="utf-8")
    return root, "after-a-session", note


async def test_an_updated_lesson_is_marked_with_its_change_note(
    app: App, database_url: str, tmp_path: Path, clock: FakeClock,
    changed_content: tuple[Path, str, str],
) -> None:
    root, lesson_id, note = changed_content
    lesson = shelf_of(app).lessons[lesson_id]
    chat = Chat(app)
    await read_through(chat, lesson)
    await app.close()

    again = await app_on(root, database_url, tmp_path, clock)
    try:
        # The database's live version wins at start: the edited folder goes live by publishing it.
        repo = ContentRepo(again.engine, again.clock)
        publisher = Publisher(repo, AdminRepo(again.engine, again.clock), lambda: clock.now().date())
        await publisher.publish(read_directory(root), "cli:editor", "driving advice")
        assert again.live is not None and await again.live.poll()
        chat = Chat(again)
        updated = shelf_of(again).lessons[lesson_id]
        assert updated.version > lesson.version and updated.meta.quiz is None
        await chat.tap(f"learn:topic:{updated.meta.topic}")
        assert note in chat.text() and updated.meta.title in chat.text()
        label = labels(chat)[ids(chat).index(f"learn:open:{lesson_id}")]
        assert "✓" not in label and "updated" in label
        # Read again: without a quiz the last Next goes straight to the end.
        await read_through(chat, updated)
        assert all(s.url in chat.text() for s in updated.meta.sources)
        await chat.tap(f"learn:topic:{updated.meta.topic}")
        assert note not in chat.text()
        assert "✓" in labels(chat)[ids(chat).index(f"learn:open:{lesson_id}")]
    finally:
        await again.close()


# --- search -----------------------------------------------------------------------------


async def test_search_finds_lessons_by_their_words(chat: Chat, app: App) -> None:
    await chat.say("/learn Driving?")
    assert ids(chat)[0] == "learn:open:after-a-session"
    assert ids(chat)[-1] == "learn:topics"
    await chat.say("/learn bladder")
    assert ids(chat)[0] == "learn:open:bladder-and-long-term-risks"


async def test_search_with_no_match_shows_the_topics(chat: Chat, app: App) -> None:
    await chat.say("/learn xylophone")
    assert "xylophone" in chat.text()
    assert ids(chat) == [f"learn:topic:{t.id}" for t in shelf_of(app).topics]


# --- old buttons and typed text -----------------------------------------------------------


async def test_next_for_a_lesson_that_is_not_open_offers_the_current_card(chat: Chat, app: App) -> None:
    first, second = first_lesson(app, 0), first_lesson(app, 1)
    await chat.tap(f"learn:open:{first.id}")
    await chat.tap(f"learn:open:{second.id}")
    await chat.tap(f"learn:next:{second.id}:0")
    await chat.tap(f"learn:next:{first.id}:0")
    closed, card = chat.last
    assert "closed" in closed.text.lower() or "left" in closed.text.lower()
    assert second.cards[1].heading in card.text and not card.replaces_card
    assert first.cards[1].heading not in chat.text()
    # Next from the current card still works after that.
    await chat.tap(chat.choice(f"learn:next:{second.id}:1"))
    assert second.cards[2].heading in chat.text()


async def test_a_lesson_button_always_opens_its_lesson(chat: Chat, app: App) -> None:
    first, second = first_lesson(app, 0), first_lesson(app, 1)
    await chat.tap(f"learn:open:{second.id}")
    await chat.tap(f"learn:open:{first.id}")
    assert first.cards[0].heading in chat.text()
    await chat.tap("learn:open:no-such-lesson")
    assert ids(chat) == [f"learn:resume:{first.id}"] + [
        f"learn:topic:{t.id}" for t in shelf_of(app).topics
    ]


async def test_typed_text_mid_lesson_gets_the_lesson_buttons_again(chat: Chat, app: App) -> None:
    lesson = first_lesson(app)
    await chat.tap(f"learn:open:{lesson.id}")
    await chat.tap(f"learn:next:{lesson.id}:0")
    before = ids(chat)
    await chat.say("what does this mean?")
    assert lesson.cards[1].heading in chat.last[-1].text
    assert ids(chat) == before
    assert "/learn" in chat.last[0].text  # it says how to search instead


async def test_typed_text_at_the_quiz_asks_the_question_again(chat: Chat, app: App) -> None:
    lesson = first_lesson(app)
    await read_through(chat, lesson)
    before = ids(chat)
    await chat.say("b")
    assert ids(chat) == before


async def test_crisis_text_mid_lesson_gets_the_crisis_reply_not_the_lesson(chat: Chat, app: App) -> None:
    lesson = first_lesson(app)
    await chat.tap(f"learn:open:{lesson.id}")
    await chat.say("I want to kill myself")
    assert any(r.urgency is Urgency.CRISIS for r in chat.last)
    assert not any(i.startswith("learn:") for i in ids(chat))


async def test_a_question_typed_while_a_lesson_is_open_searches_the_lessons(chat: Chat) -> None:
    # The lesson stays the open flow long after it was read: a typed question must find
    # lessons, not "You are reading a lesson: use the buttons".
    await chat.onboard()
    await chat.say("/learn")
    replies = await chat.say("Can I drive after a session?")
    assert "use the buttons" not in chat.text()
    assert any(c.id.startswith("learn:open:") for r in replies for c in r.choices)


async def test_other_text_while_a_lesson_is_open_still_points_to_the_buttons(chat: Chat) -> None:
    await chat.onboard()
    await chat.say("/learn")
    await chat.say("blah")
    assert "use the buttons" in chat.text()


async def test_a_question_typed_after_finishing_a_lesson_searches_the_lessons(chat: Chat, app: App) -> None:
    lesson = first_lesson(app)
    await read_through(chat, lesson)
    if any(c.id.startswith("learn:ans:") for c in chat.choices()):
        await chat.tap(next(c.id for c in chat.choices() if c.id.startswith("learn:ans:")))
    if any(c.id.startswith("learn:end:") for c in chat.choices()):
        await chat.tap(next(c.id for c in chat.choices() if c.id.startswith("learn:end:")))
    await chat.say("Can I drive after a session?")
    assert "use the buttons" not in chat.text()
