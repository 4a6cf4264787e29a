"""The shipped lessons, and one broken fixture per validation error, each at its line."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest

from ketacompanion.content.catalog import load_content
from ketacompanion.content.lessons import (
    LessonLibrary,
    count_words,
    load_lessons,
    scan_lessons,
    validate_lessons,
)
from ketacompanion.content.problems import ContentError, Severity

CONTENT = Path(__file__).resolve().parents[1] / "content"
TODAY = date(2026, 11, 23)

TOPICS = """\
- id: basics
  title: The basics
- id: safety
  title: Safety
"""

ALPHA = """\
---
id: alpha
title: Alpha
topic: basics
summary: A short lesson about cats.
order: 1
sources:
  - title: "Source one"
    url: "https://example.org/one"
  - title: "Source two"
    url: "https://example.org/two"
reviewed_on: 2026-11-01
reviewed_by: "the content team"
updated_on: 2026-11-01
related: [beta]
quiz:
  question: "Where did the cat sit?"
  answer: a
  options:
    - id: a
      text: "On the mat"
      explanation: "Right. It sat on the mat."
    - id: b
      text: "In the park"
      explanation: "No. The dog went to the park."
---
## First card

The cat sat on the mat. It was warm there.

## Second card

The dog ran to the park. It was fun.
"""

BETA = """\
---
id: beta
title: Beta
topic: safety
summary: A short lesson about dogs.
order: 1
sources:
  - title: "Source one"
    url: "https://example.org/one"
  - title: "Source two"
    url: "http://example.org/two"
reviewed_on: 2026-11-01
reviewed_by: "the content team"
updated_on: 2026-11-01
related: [alpha]
---
## Only card

Dogs like to walk. Take your dog out each day.
"""

HARD_SENTENCE = (
    "Pharmacological interventions administered intravenously necessitate comprehensive "
    "cardiovascular monitoring throughout extraordinarily prolonged observational intervals. "
)


def write_set(root: Path, **files: str) -> Path:
    """A lesson folder holding alpha and beta, with ``files`` added or replaced."""
    folder = root / "lessons" / "en"
    folder.mkdir(parents=True)
    contents = {"topics.yaml": TOPICS, "alpha.md": ALPHA, "beta.md": BETA, **files}
    for name, text in contents.items():
        if text:
            (folder / name).write_text(text, encoding="utf-8")
    return root / "lessons"


def line_of(path: Path, needle: str, nth: int = 1) -> int:
    """The 1-based line of the ``nth`` line of ``path`` that contains ``needle``."""
    hits = [i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line]
    return hits[nth - 1]


def problems_in(lessons: Path) -> list[str]:
    return [str(p) for p in validate_lessons(lessons)]


def expect_one(lessons: Path, file: str, line: int, words: str) -> None:
    """Exactly one error in the set, in ``file`` at ``line``, mentioning ``words``."""
    found = [p for p in validate_lessons(lessons) if p.severity is Severity.ERROR]
    prefix = f"{lessons / 'en' / file}:{line}: "
    assert len(found) == 1, [str(p) for p in found]
    assert str(found[0]).startswith(prefix) and words in str(found[0]), (prefix, str(found[0]))


# --- the shipped set ------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped() -> LessonLibrary:
    return load_lessons(CONTENT / "lessons")


def test_shipped_lessons_validate_without_errors_or_warnings() -> None:
    assert problems_in(CONTENT / "lessons") == []


def test_shipped_set_is_a_full_curriculum(shipped: LessonLibrary) -> None:
    english = shipped.shelf("en")
    assert len(english.lessons) >= 16
    assert all(english.in_topic(t.id) for t in english.topics)
    for lesson in english.lessons.values():
        assert len(lesson.meta.sources) >= 2
        assert all(s.url.startswith("https://") for s in lesson.meta.sources)
        assert all(r in english.lessons for r in lesson.meta.related)
        assert all(c.words <= 120 for c in lesson.cards)


def test_shipped_lessons_read_at_grade_eight_on_average(shipped: LessonLibrary) -> None:
    grades = [lesson.grade for _, lesson in shipped.all()]
    assert max(grades) <= 9
    assert sum(grades) / len(grades) <= 8


def test_a_clean_fixture_set_loads_with_cards_in_order(tmp_path: Path) -> None:
    library = load_lessons(write_set(tmp_path))
    alpha = library.shelf("en").lessons["alpha"]
    assert [c.heading for c in alpha.cards] == ["First card", "Second card"]
    assert alpha.cards[0].body == "The cat sat on the mat. It was warm there."
    assert alpha.cards[1].line == line_of(alpha.path, "## Second card")
    assert alpha.version == "2026-11-01"
    assert alpha.meta.quiz is not None and alpha.meta.quiz.answer == "a"
    # No German folder: German readers get the English lessons.
    assert library.shelf("de") is library.shelf("en")


def test_words_are_counted_without_markdown() -> None:
    assert count_words("- Tired or sleepy.\n- Foggy, slow: it's 2 hours.") == 8


# --- one broken fixture per error -------------------------------------------------------


def test_yaml_error_is_reported_at_its_line(tmp_path: Path) -> None:
    lessons = write_set(tmp_path, **{"alpha.md": ALPHA.replace("title: Alpha", "title: Alpha: a")})
    expect_one(lessons, "alpha.md", line_of(lessons / "en/alpha.md", "title: Alpha"), "YAML")


def test_missing_front_matter(tmp_path: Path) -> None:
    lessons = write_set(tmp_path, **{"alpha.md": ALPHA.replace("---\n", "", 1)})
    expect_one(lessons, "alpha.md", 1, "front matter")


def test_missing_review_date(tmp_path: Path) -> None:
    lessons = write_set(tmp_path, **{"alpha.md": ALPHA.replace("reviewed_on: 2026-11-01\n", "")})
    # No key to point at: the problem is reported at the first front-matter line.
    expect_one(lessons, "alpha.md", 2, "reviewed_on")


def test_wrong_type(tmp_path: Path) -> None:
    lessons = write_set(tmp_path, **{"alpha.md": ALPHA.replace("order: 1", "order: first")})
    expect_one(lessons, "alpha.md", line_of(lessons / "en/alpha.md", "order:"), "order")


def test_review_date_that_is_not_a_date(tmp_path: Path) -> None:
    broken = ALPHA.replace("reviewed_on: 2026-11-01", "reviewed_on: soon")
    lessons = write_set(tmp_path, **{"alpha.md": broken})
    expect_one(lessons, "alpha.md", line_of(lessons / "en/alpha.md", "reviewed_on"), "reviewed_on")


def test_fewer_than_two_sources(tmp_path: Path) -> None:
    broken = ALPHA.replace('  - title: "Source two"\n    url: "https://example.org/two"\n', "")
    lessons = write_set(tmp_path, **{"alpha.md": broken})
    expect_one(lessons, "alpha.md", line_of(lessons / "en/alpha.md", "sources:"), "sources")


def test_source_url_that_is_not_http(tmp_path: Path) -> None:
    broken = ALPHA.replace("https://example.org/two", "ftp://example.org/two")
    lessons = write_set(tmp_path, **{"alpha.md": broken})
    expect_one(lessons, "alpha.md", line_of(lessons / "en/alpha.md", "ftp://"), "http")


def test_id_that_differs_from_the_file_name(tmp_path: Path) -> None:
    lessons = write_set(tmp_path, **{"gamma.md": ALPHA.replace("id: alpha", "id: gamma-two")})
    expect_one(lessons, "gamma.md", line_of(lessons / "en/gamma.md", "id: gamma-two"), "file name")


def test_duplicate_lesson_id(tmp_path: Path) -> None:
    lessons = write_set(tmp_path, **{"zeta.md": ALPHA})
    found = problems_in(lessons)
    where = f"{lessons / 'en' / 'zeta.md'}:{line_of(lessons / 'en/zeta.md', 'id: alpha')}: "
    assert any(p.startswith(where) and "duplicate lesson id 'alpha'" in p for p in found), found
    assert all(p.startswith(where) for p in found), found


def test_unknown_topic(tmp_path: Path) -> None:
    lessons = write_set(tmp_path, **{"beta.md": BETA.replace("topic: safety", "topic: cooking")})
    found = problems_in(lessons)
    path = lessons / "en/beta.md"
    assert f"{path}:{line_of(path, 'topic: cooking')}: unknown topic 'cooking'; see topics.yaml" in found
    # The topic it left behind is now empty: a warning, not an error.
    assert len(found) == 2
    assert any(p.startswith(f"{lessons / 'en/topics.yaml'}:3: warning:") for p in found), found


def test_broken_related_link(tmp_path: Path) -> None:
    broken = ALPHA.replace("related: [beta]", "related: [beta, nowhere]")
    lessons = write_set(tmp_path, **{"alpha.md": broken})
    expect_one(lessons, "alpha.md", line_of(lessons / "en/alpha.md", "related:"), "'nowhere'")


def test_card_over_120_words(tmp_path: Path) -> None:
    long_card = "## Long card\n\n" + "The cat sat on the mat. " * 21 + "\n"
    lessons = write_set(tmp_path, **{"alpha.md": ALPHA + "\n" + long_card})
    path = lessons / "en/alpha.md"
    expect_one(lessons, "alpha.md", line_of(path, "## Long card"), "128 words")


def test_reading_grade_above_nine(tmp_path: Path) -> None:
    hard_card = "## Hard card\n\n" + HARD_SENTENCE * 4 + "\n"
    lessons = write_set(tmp_path, **{"alpha.md": ALPHA + "\n" + hard_card})
    path = lessons / "en/alpha.md"
    expect_one(lessons, "alpha.md", line_of(path, "## Hard card"), "reading grade")
    library, _ = scan_lessons(lessons)
    assert library.shelf("en").lessons["alpha"].grade > 9


def test_quiz_answer_not_among_the_options(tmp_path: Path) -> None:
    lessons = write_set(tmp_path, **{"alpha.md": ALPHA.replace("answer: a", "answer: c")})
    expect_one(lessons, "alpha.md", line_of(lessons / "en/alpha.md", "answer: c"), "'c'")


def test_duplicate_quiz_option_id(tmp_path: Path) -> None:
    lessons = write_set(tmp_path, **{"alpha.md": ALPHA.replace("- id: b", "- id: a")})
    path = lessons / "en/alpha.md"
    expect_one(lessons, "alpha.md", line_of(path, "- id: a", nth=2), "duplicate quiz option id")


def test_empty_body(tmp_path: Path) -> None:
    body_start = ALPHA.index("## First card")
    lessons = write_set(tmp_path, **{"alpha.md": ALPHA[:body_start]})
    expect_one(lessons, "alpha.md", line_of(lessons / "en/alpha.md", "---", nth=2), "no body")


def test_card_heading_without_text(tmp_path: Path) -> None:
    lessons = write_set(tmp_path, **{"alpha.md": ALPHA + "\n## Empty card\n\n"})
    expect_one(lessons, "alpha.md", line_of(lessons / "en/alpha.md", "## Empty"), "no text")


def test_duplicate_front_matter_key(tmp_path: Path) -> None:
    broken = ALPHA.replace("order: 1\n", "order: 1\norder: 2\n")
    lessons = write_set(tmp_path, **{"alpha.md": broken})
    expect_one(lessons, "alpha.md", line_of(lessons / "en/alpha.md", "order: 2"), "duplicate key")


def test_missing_topics_file(tmp_path: Path) -> None:
    lessons = write_set(tmp_path, **{"topics.yaml": ""})
    assert problems_in(lessons) == [f"{lessons / 'en' / 'topics.yaml'}:1: topics file not found"]


def test_loading_refuses_a_set_with_errors(tmp_path: Path) -> None:
    lessons = write_set(tmp_path, **{"alpha.md": ALPHA.replace("answer: a", "answer: c")})
    with pytest.raises(ContentError) as caught:
        load_lessons(lessons)
    assert [p.severity for p in caught.value.problems] == [Severity.ERROR]


def test_whole_content_load_refuses_a_broken_lesson(tmp_path: Path) -> None:
    root = tmp_path / "content"
    shutil.copytree(CONTENT, root)
    lesson = root / "lessons" / "en" / "after-a-session.md"
    lesson.write_text(lesson.read_text().replace("answer: b", "answer: z"), encoding="utf-8")
    with pytest.raises(ContentError) as caught:
        load_content(root, TODAY)
    assert [str(p) for p in caught.value.problems] == [
        f"{lesson}:{line_of(lesson, 'answer: z')}: quiz answer 'z' is not among the options"
    ]
