"""Ranked search of the lessons for a typed question (BM25 over cards, offline).

Each card is a document: the lesson's title and summary, the card's heading and body.
A lesson ranks by its best card, so an answer can quote that card and link the lesson.
Words are stemmed (Snowball) so "driving" meets "drive"; English stop words are dropped."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass

import bm25s
import Stemmer
from bm25s.stopwords import STOPWORDS_EN_PLUS

from ketacompanion.content.catalog import ContentHolder
from ketacompanion.content.lessons import Lesson

# bm25s sets its logger to DEBUG on import, so its index-building lines would pass any
# level the operator chose; it follows the root logger like every other library.
logging.getLogger("bm25s").setLevel(logging.NOTSET)

# Below this a match rests on one common word: say there is no lesson rather than guess.
MIN_SCORE = 1.5
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
# Words of chat small talk: rare in the lessons, so a lone one scored high ("my sister
# visited today" met "Signs you need help today" in the crisis lesson). Dropped from queries.
_SMALL_TALK = frozenset(
    "today tonight tomorrow yesterday day days week weeks weekend morning evening night time "
    "fine good nice great lovely ok okay alright".split()
)
_STOP = frozenset(STOPWORDS_EN_PLUS)


# Words people use for what the lessons call otherwise (the query side only).
SYNONYMS: dict[str, tuple[str, ...]] = {
    "infusion": ("session",), "infusions": ("session",), "treatment": ("session",), "treatments": ("session",),
    "appointment": ("session", "visit"), "trip": ("session",),
    "pee": ("bladder", "urine"), "peeing": ("bladder", "urine"), "urinate": ("bladder", "pee"),
    "urine": ("bladder", "pee"), "addicted": ("dependence", "misuse"), "addiction": ("dependence", "misuse"),
    "addictive": ("dependence", "misuse"), "craving": ("cravings", "misuse"), "weed": ("cannabis", "drugs"),
    "marijuana": ("cannabis", "drugs"), "wine": ("alcohol",), "beer": ("alcohol",), "drink": ("alcohol",),
    "meds": ("medicines",), "medication": ("medicines",), "medications": ("medicines",),
    "expensive": ("cost",), "price": ("cost",), "pay": ("cost", "insurance"), "afford": ("cost",),
    "fast": ("food", "eat"), "fasting": ("food", "eat"), "panic": ("anxiety",), "panicked": ("anxiety", "panic"),
    "scared": ("anxiety", "afraid"), "flashbacks": ("ptsd", "trauma", "memories"), "trauma": ("ptsd",),
    "safe": ("risk",), "risky": ("risk",), "candidate": ("studied", "screening"), "psychosis": ("screening",),
    "pick": ("home", "ride"), "ride": ("home",), "insights": ("integration",), "journal": ("write",),
    "top": ("lasts", "repeat"), "psych": ("psychiatrist", "screening"),
}


@dataclass(frozen=True, slots=True)
class Hit:
    lesson_id: str
    card: int  # index of the best card in the lesson
    score: float


class LessonSearch:
    def __init__(self, lessons: Iterable[Lesson], min_score: float = MIN_SCORE) -> None:
        self._stemmer = Stemmer.Stemmer("english")
        self._min = min_score
        self._docs: list[tuple[str, int]] = []
        corpus: list[list[str]] = []
        for lesson in lessons:
            for index, card in enumerate(lesson.cards):
                self._docs.append((lesson.id, index))
                # Titles and headings say what a card is about: they count twice.
                title = f"{lesson.meta.title} {card.heading}"
                text = f"{title} {title} {lesson.meta.summary} {card.body}"
                corpus.append(self.tokens(text))
        self._bm25 = bm25s.BM25()
        if corpus:
            self._bm25.index(corpus, show_progress=False)

    def tokens(self, text: str, expand: bool = False) -> list[str]:
        words = [w for w in _WORD.findall(text.lower().replace("’", "'")) if w not in _STOP]
        if expand:  # the query side
            words = [w for w in words if w not in _SMALL_TALK]
            words += [x for w in words for x in SYNONYMS.get(w, ())]
        return self._stemmer.stemWords(words)

    def known(self, text: str) -> list[str]:
        """The query's words that occur somewhere in the lessons."""
        vocab = self._bm25.vocab_dict or {}
        return [w for w in self.tokens(text, expand=True) if w in vocab]

    def search(self, query: str, limit: int = 3) -> list[Hit]:
        words = self.known(query)
        if not words or not self._docs:
            return []
        scores = self._bm25.get_scores(words)
        best: dict[str, Hit] = {}
        for (lesson_id, card), score in zip(self._docs, scores, strict=True):
            value = float(score)
            if value >= self._min and (lesson_id not in best or value > best[lesson_id].score):
                best[lesson_id] = Hit(lesson_id, card, value)
        ranked = sorted(best.values(), key=lambda h: (-h.score, h.lesson_id))
        return ranked[:limit]


class ContentFinder:
    """The core's ``LessonFinder`` over the live content: one index per shelf, kept on
    the shelf, so a content reload (a new shelf) gets a new one."""

    def __init__(self, holder: ContentHolder) -> None:
        self._holder = holder

    def _search(self, lang: str) -> LessonSearch:
        shelf = self._holder.current.lessons.shelf(lang)
        index = shelf.derived.get("search")
        if not isinstance(index, LessonSearch):
            index = shelf.derived["search"] = LessonSearch(shelf.lessons.values())
        return index

    def warm(self, lang: str) -> None:
        """Build ``lang``'s index now (at start-up, about 40 ms), not while the first
        person to ask a question waits."""
        self._search(lang)

    def search(self, lang: str, text: str) -> list[Hit]:
        return self._search(lang).search(text)

    def is_english(self, lang: str, text: str) -> bool:
        """False only when the text is clearly another language: short or mixed text,
        and text that shares words with the lessons, count as English."""
        letters = [c for c in text if c.isalpha()]
        if letters and sum(c <= "\u024f" for c in letters) * 2 < len(letters):
            return False  # mostly another script: Hebrew, Arabic, Cyrillic, CJK...
        words = _WORD.findall(text.lower())
        if len(words) < 3:
            return True
        english = sum(w in _STOP for w in words) + len(self._search(lang).known(text))
        if english * 2 >= len(words):
            return True
        import py3langid  # its model loads on first use, only for text that needs it

        return bool(py3langid.classify(text[:1000])[0] == "en")
