"""Lessons: Markdown files with YAML front matter, split into cards, validated with line numbers.

``content/lessons/<lang>/<id>.md`` holds one lesson; ``topics.yaml`` in the same folder
lists the topics in the order ``/learn`` shows them. Validation reports every problem as
``path:line: message``; loading refuses the whole set if any error is left.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import textstat
import yaml
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from ketacompanion.content.problems import ContentError, Problem, Severity, errors
from ketacompanion.content.yamlnodes import duplicate_keys

FALLBACK_LANGUAGE = "en"
MAX_CARD_WORDS = 120
MAX_GRADE = 9.0
MIN_SOURCES = 2
TOPICS_FILE = "topics.yaml"

# Lesson ids go into button ids (64 bytes at most) and database rows: keep them short.
LessonId = Annotated[StrictStr, Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=40)]
TopicId = Annotated[StrictStr, Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=24)]
OptionId = Annotated[StrictStr, Field(pattern=r"^[a-z0-9_]+$", max_length=8)]  # quiz_choice column
Text = Annotated[StrictStr, Field(min_length=1)]
Url = Annotated[StrictStr, Field(pattern=r"^https?://[^\s/]+\.[^\s]+$")]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Source(_Model):
    title: Text
    url: Url


class QuizOption(_Model):
    id: OptionId
    text: Text
    explanation: Text


class Quiz(_Model):
    question: Text
    answer: OptionId
    options: tuple[QuizOption, ...] = Field(min_length=2)

    def option(self, option_id: str) -> QuizOption | None:
        return next((o for o in self.options if o.id == option_id), None)


class LessonMeta(_Model):
    id: LessonId
    title: Text
    topic: TopicId
    summary: Text
    order: StrictInt
    sources: tuple[Source, ...]  # at least MIN_SOURCES, checked with the file's lines
    reviewed_on: date
    reviewed_by: Text
    updated_on: date
    change_note: Text | None = None
    related: tuple[LessonId, ...] = ()
    quiz: Quiz | None = None


class Topic(_Model):
    id: TopicId
    title: Text


@dataclass(frozen=True, slots=True)
class Card:
    heading: str
    body: str
    line: int  # the heading's line in the file

    @property
    def words(self) -> int:
        return count_words(self.heading) + count_words(self.body)


@dataclass(frozen=True, slots=True)
class Lesson:
    meta: LessonMeta
    cards: tuple[Card, ...]
    path: Path
    grade: float

    @property
    def id(self) -> str:
        return self.meta.id

    @property
    def version(self) -> str:
        """What progress stores as ``read_version``: a later ``updated_on`` marks it changed."""
        return self.meta.updated_on.isoformat()

    @property
    def words(self) -> int:
        return sum(c.words for c in self.cards)


@dataclass(frozen=True, slots=True)
class Shelf:
    """One language's lessons."""

    topics: tuple[Topic, ...]
    lessons: dict[str, Lesson]
    _index: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict, repr=False)
    # A shelf never changes once loaded (a reload builds a new one): each topic's lessons
    # are sorted once, not on every /learn for every topic.
    _in_topic: dict[str, tuple[Lesson, ...]] = field(default_factory=dict, repr=False, compare=False)
    # What other modules build from the shelf once (the search index), kept with it so
    # that it lives exactly as long as this set of lessons.
    derived: dict[str, object] = field(default_factory=dict, repr=False, compare=False)

    def in_topic(self, topic_id: str) -> list[Lesson]:
        found = self._in_topic.get(topic_id)
        if found is None:
            found = tuple(sorted(
                (x for x in self.lessons.values() if x.meta.topic == topic_id), key=lambda x: (x.meta.order, x.id)
            ))  # fmt: skip
            self._in_topic[topic_id] = found
        return list(found)

    def topic(self, topic_id: str) -> Topic | None:
        return next((t for t in self.topics if t.id == topic_id), None)

    def search(self, query: str, limit: int = 5) -> list[Lesson]:
        """Lessons whose title, summary or body share words with ``query``, best first."""
        wanted = [w for w in _stems(query) if w not in _STOPWORDS]
        if not wanted:
            return []
        scored: list[tuple[float, str]] = []
        for lesson_id, fields in self._index.items():
            score = 0.0
            for word in set(wanted):
                score += 5 * fields["title"].count(word) + 3 * fields["summary"].count(word)
                score += min(fields["body"].count(word), 5)
            if score > 0:
                scored.append((score, lesson_id))
        scored.sort(key=lambda s: (-s[0], self.lessons[s[1]].meta.topic, s[1]))
        return [self.lessons[i] for _, i in scored[:limit]]


@dataclass(frozen=True, slots=True)
class LessonLibrary:
    shelves: dict[str, Shelf]

    @property
    def languages(self) -> list[str]:
        return sorted(self.shelves)

    def shelf(self, lang: str | None) -> Shelf:
        """The lessons in ``lang`` if that folder exists, else English."""
        found = self.shelves.get(lang or "") or self.shelves.get(FALLBACK_LANGUAGE)
        if found is None:
            return Shelf((), {})
        return found

    def all(self) -> Iterator[tuple[str, Lesson]]:
        for lang in self.languages:
            for lesson in self.shelves[lang].lessons.values():
                yield lang, lesson


# --- words, grades and search -------------------------------------------------------------

_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’.\-]*")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]+\)")
_BULLET = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+", re.MULTILINE)
_STOPWORDS = frozenset(
    "a an and are as at be by can do does for from how i in is it me my of on or so the to "
    "what when where which who why will with you your about after before".split()
)


def count_words(text: str) -> int:
    return len(_WORD.findall(text))


def plain(text: str) -> str:
    """Markdown as a reader sees it: no bullets, emphasis or link targets."""
    text = _LINK.sub(r"\1", text)
    text = _BULLET.sub("", text)
    return text.replace("**", "").replace("__", "").replace("`", "")


def grade(text: str) -> float:
    return round(float(textstat.flesch_kincaid_grade(text)), 1)


def _stem(word: str) -> str:
    # Crude on purpose: "drive", "driving" and "drives" should meet; nothing more.
    for suffix in ("ings", "ing", "ies", "es", "ed", "s", "e"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def _stems(text: str) -> list[str]:
    return [_stem(w.strip(".'’-").lower()) for w in _WORD.findall(text)]


def _index(lesson: Lesson) -> dict[str, tuple[str, ...]]:
    body = " ".join(f"{c.heading} {c.body}" for c in lesson.cards)
    return {
        "title": tuple(_stems(lesson.meta.title)),
        "summary": tuple(_stems(lesson.meta.summary)),
        "body": tuple(_stems(body)),
    }


# --- reading files ------------------------------------------------------------------------


def _line(node: yaml.Node | None, path: Sequence[str | int], offset: int) -> int:
    """1-based file line of the key (or list item) deepest along ``path``.

    ``offset`` is the number of file lines above the YAML text (the opening fence)."""
    if node is None:
        return 1
    line = node.start_mark.line + 1
    for step in path:
        if isinstance(node, yaml.MappingNode):
            pair = next(((k, v) for k, v in node.value if k.value == step), None)
            if pair is None:
                break
            line, node = pair[0].start_mark.line + 1, pair[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int):
            if not 0 <= step < len(node.value):
                break
            node = node.value[step]
            line = node.start_mark.line + 1
        else:
            break
    return line + offset


# libyaml's parser when present: several times faster, with the same marks and safety.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load_yaml(text: str) -> yaml.Node | None:
    loader = _Loader(text)
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


def _construct(node: yaml.Node) -> Any:
    loader = _Loader("")
    try:
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _yaml_problem(path: Path, exc: yaml.YAMLError, offset: int) -> Problem:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 + offset if mark else 1
        return Problem(path, line, f"YAML: {exc.problem or exc}")
    return Problem(path, 1, f"YAML: {exc}")


def _split(text: str) -> tuple[str, int, str, int] | None:
    """Front matter, its first line, the body, and the body's first line; None if unfenced."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return None
    for i in range(1, len(lines)):
        if lines[i].strip() == "---":
            return "\n".join(lines[1:i]), 2, "\n".join(lines[i + 1 :]), i + 2
    return None


def _cards(body: str, first_line: int) -> tuple[list[Card], list[tuple[int, str]]]:
    cards: list[Card] = []
    problems: list[tuple[int, str]] = []
    heading: str | None = None
    start, chunk = first_line, []
    loose: list[int] = []

    def close() -> None:
        if heading is not None:
            cards.append(Card(heading, "\n".join(chunk).strip(), start))

    for i, raw in enumerate(body.splitlines()):
        line = first_line + i
        if raw.startswith("## "):
            close()
            heading, start, chunk = raw[3:].strip(), line, []
        elif heading is None:
            if raw.strip():
                loose.append(line)
        else:
            chunk.append(raw)
    close()
    if loose:
        problems.append((loose[0], "text before the first '## ' card heading"))
    for card in cards:
        if not card.heading:
            problems.append((card.line, "a card heading is empty"))
        if not card.body:
            problems.append((card.line, f"card {card.heading!r} has no text"))
    return cards, problems


@dataclass(slots=True)
class _Read:
    lesson: Lesson | None
    node: yaml.Node | None
    problems: list[Problem]


def _read_lesson(path: Path) -> _Read:
    def problem(line: int, msg: str, severity: Severity = Severity.ERROR) -> Problem:
        return Problem(path, line, msg, severity)

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return _Read(None, None, [problem(1, f"cannot read: {exc}")])
    parts = _split(text)
    if parts is None:
        return _Read(None, None, [problem(1, "no front matter: start with '---', end it with '---'")])
    front, front_line, body, body_line = parts
    offset = front_line - 1
    try:
        node = _load_yaml(front)
        data = _construct(node) if node is not None else None
    except yaml.YAMLError as exc:
        return _Read(None, None, [_yaml_problem(path, exc, offset)])
    if node is None or not isinstance(data, dict):
        return _Read(None, node, [problem(1, "front matter must be a mapping (id, title, topic ...)")])
    found = [problem(line + offset, msg) for line, msg in duplicate_keys(node)]
    try:
        meta = LessonMeta.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "string_pattern_mismatch" and err["loc"][-1] == "url":
                msg = "a source URL must start with http:// or https://"
            if isinstance(err.get("input"), bool) and err["type"] == "string_type":
                msg += " (YAML reads bare yes/no/on/off as true/false: put it in quotes)"
            found.append(problem(_line(node, err["loc"], offset), f"{loc}: {msg}"))
        return _Read(None, node, found)
    if len(meta.sources) < MIN_SOURCES:
        where = _line(node, ["sources"], offset)
        found.append(problem(where, f"sources: cite at least {MIN_SOURCES}, found {len(meta.sources)}"))
    cards, card_problems = _cards(body, body_line)
    found += [problem(line, msg) for line, msg in card_problems]
    if not cards:
        found.append(problem(body_line - 1, "the lesson has no body: add cards under '## ' headings"))
        return _Read(None, node, found)
    if meta.quiz is not None:
        seen: set[str] = set()
        for i, opt in enumerate(meta.quiz.options):
            if opt.id in seen:
                where = _line(node, ["quiz", "options", i, "id"], offset)
                found.append(problem(where, f"duplicate quiz option id {opt.id!r}"))
            seen.add(opt.id)
        if meta.quiz.answer not in seen:
            where = _line(node, ["quiz", "answer"], offset)
            found.append(problem(where, f"quiz answer {meta.quiz.answer!r} is not among the options"))
    for card in cards:
        if card.words > MAX_CARD_WORDS:
            found.append(
                problem(card.line, f"card {card.heading!r} has {card.words} words (at most {MAX_CARD_WORDS})")
            )
    lesson_grade = grade("\n\n".join(plain(c.body) for c in cards))
    if lesson_grade > MAX_GRADE:
        hardest = max(cards, key=lambda c: grade(plain(c.body)))
        found.append(
            problem(
                hardest.line,
                f"reading grade {lesson_grade} is above {MAX_GRADE:g}; "
                f"the hardest card is {hardest.heading!r} ({grade(plain(hardest.body))})",
            )
        )
    if path.stem != meta.id:
        found.append(problem(_line(node, ["id"], offset), f"id {meta.id!r} differs from the file name"))
    return _Read(Lesson(meta, tuple(cards), path, lesson_grade), node, found)


def _read_topics(path: Path) -> tuple[list[Topic], dict[str, int], list[Problem]]:
    if not path.is_file():
        return [], {}, [Problem(path, 1, "topics file not found")]
    try:
        node = _load_yaml(path.read_text(encoding="utf-8"))
        data = _construct(node) if node is not None else None
    except yaml.YAMLError as exc:
        return [], {}, [_yaml_problem(path, exc, 0)]
    except (OSError, UnicodeDecodeError) as exc:
        return [], {}, [Problem(path, 1, f"cannot read: {exc}")]
    if node is None or not isinstance(data, list):
        return [], {}, [Problem(path, 1, "expected a list of topics, each with id and title")]
    topics: list[Topic] = []
    lines: dict[str, int] = {}
    problems: list[Problem] = []
    for i, item in enumerate(data):
        try:
            topic = Topic.model_validate(item)
        except ValidationError as exc:
            for err in exc.errors():
                loc = ".".join(str(p) for p in err["loc"])
                where = _line(node, [i, *err["loc"]], 0)
                problems.append(Problem(path, where, f"{loc}: {err['msg']}" if loc else err["msg"]))
            continue
        where = _line(node, [i, "id"], 0)
        if topic.id in lines:
            problems.append(Problem(path, where, f"duplicate topic id {topic.id!r}"))
            continue
        topics.append(topic)
        lines[topic.id] = where
    return topics, lines, problems


def _read_language(directory: Path) -> tuple[Shelf, list[Problem]]:
    topics, topic_lines, problems = _read_topics(directory / TOPICS_FILE)
    topic_ids = {t.id for t in topics}
    lessons: dict[str, Lesson] = {}
    nodes: dict[str, yaml.Node | None] = {}
    unreadable: set[str] = set()  # reported already: links to them are not broken twice
    for path in sorted(directory.glob("*.md")):
        read = _read_lesson(path)
        problems += read.problems
        if read.lesson is None:
            unreadable.add(path.stem)
            continue
        lesson = read.lesson
        if lesson.id in lessons:
            where = _line(read.node, ["id"], 1)
            problems.append(
                Problem(path, where, f"duplicate lesson id {lesson.id!r} (also {lessons[lesson.id].path.name})")
            )
            continue
        if topics and lesson.meta.topic not in topic_ids:
            where = _line(read.node, ["topic"], 1)
            problems.append(Problem(path, where, f"unknown topic {lesson.meta.topic!r}; see {TOPICS_FILE}"))
        lessons[lesson.id] = lesson
        nodes[lesson.id] = read.node
    for lesson in lessons.values():
        for i, target in enumerate(lesson.meta.related):
            if target not in lessons and target not in unreadable:
                where = _line(nodes[lesson.id], ["related", i], 1)
                problems.append(Problem(lesson.path, where, f"related lesson {target!r} does not exist"))
    for topic in topics:
        if not any(x.meta.topic == topic.id for x in lessons.values()):
            problems.append(
                Problem(directory / TOPICS_FILE, topic_lines[topic.id],
                        f"topic {topic.id!r} has no lessons", Severity.WARNING)
            )
    index = {lesson_id: _index(lesson) for lesson_id, lesson in lessons.items()}
    return Shelf(tuple(topics), lessons, index), problems


def scan_lessons(directory: Path) -> tuple[LessonLibrary, list[Problem]]:
    """Every readable lesson, and every problem found (errors and warnings)."""
    directory = Path(directory)
    if not directory.is_dir():
        return LessonLibrary({}), [Problem(directory, 1, "lesson directory not found")]
    shelves: dict[str, Shelf] = {}
    problems: list[Problem] = []
    for folder in sorted(p for p in directory.iterdir() if p.is_dir()):
        shelves[folder.name], found = _read_language(folder)
        problems += found
    if FALLBACK_LANGUAGE not in shelves:
        problems.append(Problem(directory / FALLBACK_LANGUAGE, 1, "the English lessons are missing"))
    return LessonLibrary(shelves), problems


def validate_lessons(directory: Path) -> list[Problem]:
    """Every problem in the lesson files under ``directory`` (errors and warnings)."""
    return scan_lessons(directory)[1]


def load_lessons(directory: Path) -> LessonLibrary:
    """The lesson library; raises ``ContentError`` listing every error if any is found."""
    library, problems = scan_lessons(directory)
    if errors(problems):
        raise ContentError(errors(problems))
    return library
