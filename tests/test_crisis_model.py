"""The model layer: windows, the classifier, rules and model together, the time budget,
and the weights file's checks. A fake encoder stands in for the real one everywhere
but the last section, which loads the shipped model once."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import shutil
import threading
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from ketacompanion.content.crisis_model import (
    META_FILE,
    MODEL_FILE,
    WeightsError,
    data_hash,
    load_model,
    validate_model,
    write_model,
)
from ketacompanion.core.crisis.classifier import ARRAYS, CLASSES, MlpModel, family_folds, train
from ketacompanion.core.crisis.detector import NOTHING, Detector, RiskLevel, Screening
from ketacompanion.core.crisis.layered import combine
from ketacompanion.core.crisis.modelscreen import (
    MAX_PIECES,
    MAX_SENTENCES,
    WINDOW,
    ModelScreen,
    Thresholds,
    piece_scores,
    pieces,
    reading,
    screen_pieces,
    sentences,
)
from ketacompanion.core.crisis.screener import LayeredScreener
from ketacompanion.core.crisis.training import choose_thresholds, embed, fit

ROOT = Path(__file__).resolve().parents[1]
CRISIS_DIR = ROOT / "content" / "crisis"
CRISIS, CONCERN, NONE = RiskLevel.CRISIS, RiskLevel.CONCERN, RiskLevel.NONE


class HashedWords:
    """Stands in for the sentence encoder: unit vectors of hashed words."""

    name = "test/hashed-words"
    version = "1"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        out = np.zeros((len(texts), 256), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                out[row, zlib.crc32(word.strip(".,!?").encode()) % 256] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1.0, norms)


TRAIN = [
    ("i am going to end it tonight", "crisis"), ("tonight i end it all", "crisis"),
    ("i will end it tonight for good", "crisis"), ("ending it tonight, goodbye", "crisis"),
    ("everything feels grey and pointless", "concern"), ("so grey and pointless lately", "concern"),
    ("pointless grey days again", "concern"), ("feeling grey, what is the point", "concern"),
    ("what a lovely sunny walk today", "none"), ("the bus was late again today", "none"),
    ("made pasta for dinner today", "none"), ("sunny walk with the dog", "none"),
]


class Keywords:
    """A two-word encoder: whether a piece says "tonight", whether it says "grey"."""

    name = "test/keywords"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return np.array([[float("tonight" in t), float("grey" in t)] for t in texts], dtype=np.float32)


@pytest.fixture(scope="module")
def screen() -> ModelScreen:
    """By hand: "tonight" means crisis, "grey" concern, anything else none."""
    weights = np.array([[0.0, 0.0, 12.0], [0.0, 8.0, 0.0]], dtype=np.float32)
    identity = np.eye(2, dtype=np.float32)  # the hidden layer passes the two features through
    model = MlpModel(identity, np.zeros(2, dtype=np.float32), weights, np.array([2.0, 0.0, 0.0], dtype=np.float32),
                     np.zeros(2, dtype=np.float32), np.ones(2, dtype=np.float32))  # fmt: skip
    return ModelScreen(Keywords(), model, Thresholds(crisis=0.5, concern=0.5))


# ---- windows -------------------------------------------------------------------------


def test_pieces_cover_a_long_text_in_overlapping_windows() -> None:
    assert pieces("   ") == [] and pieces("") == []
    assert pieces("short  text\n here") == ["short text here"]
    long = " ".join(f"w{i}" for i in range(300))  # about 1,400 characters
    parts = pieces(long)
    assert len(parts) >= 3 and all(len(p) <= WINDOW for p in parts)
    words = [set(p.split()) for p in parts]
    assert set().union(*words) == set(long.split())  # nothing skipped
    assert all(words[i] & words[i + 1] for i in range(len(parts) - 1))  # windows overlap
    assert len(pieces("word " * 100_000)) == MAX_PIECES  # bounded work for any size


def test_a_text_longer_than_the_windows_is_read_at_its_start_and_at_its_end() -> None:
    said_last = "und dann will ich mich umbringen"
    text = "today was fine, I went shopping. " * 3_000 + said_last
    parts = pieces(text)
    assert len(parts) == MAX_PIECES and parts[0].startswith("today was fine")
    assert parts[-1].endswith(said_last)
    assert all(len(p) <= WINDOW for p in parts)
    read = screen_pieces(text)
    assert len(read) <= MAX_PIECES + 2 * MAX_SENTENCES
    assert any(p.endswith(said_last) and len(p) < 100 for p in read)  # the last sentence alone
    # Just past the windows' reach, the end is read too.
    edge = "a b c d e f. " * ((WINDOW * MAX_PIECES) // 13) + said_last
    assert pieces(edge)[-1].endswith(said_last)


def test_sentences_and_pairs_are_read_beside_the_windows() -> None:
    # fragments under MIN_SENTENCE characters join a neighbour
    assert sentences("hi. ok. the day was long.\nthen I left - goodbye") == ["hi. ok. the day was long.", "then I left goodbye"]
    assert screen_pieces("one sentence only") == ["one sentence only"]
    text = "I cooked dinner for my parents. I am going to end it tonight. The soup was good."
    parts = screen_pieces(text)
    assert parts[0] == text  # the whole message first
    assert "I am going to end it tonight." in parts  # the buried sentence alone
    assert "I cooked dinner for my parents. I am going to end it tonight." in parts  # and with its neighbour
    assert len(parts) == 1 + 3 + 2
    assert len(screen_pieces("a much longer sentence here. " * 100_000)) <= MAX_PIECES + 2 * MAX_SENTENCES


def test_a_sentence_diluted_in_its_window_is_still_found() -> None:
    """The window holds the crisis sentence among everyday ones; a linear read of the whole
    window dilutes it below the threshold, the sentence alone does not."""

    class Share:
        name = "test/share"

        def encode(self, texts: Sequence[str]) -> np.ndarray:
            # the share of a piece's words that are "tonight": diluted in a long window
            return np.array([[t.split().count("tonight") / max(1, len(t.split()))] for t in texts], dtype=np.float32)

    model = MlpModel(np.eye(1, dtype=np.float32), np.zeros(1, dtype=np.float32),
                     np.array([[0.0, 0.0, 20.0]], dtype=np.float32), np.array([4.0, 0.0, 0.0], dtype=np.float32),
                     np.zeros(1, dtype=np.float32), np.ones(1, dtype=np.float32))  # fmt: skip
    screen = ModelScreen(Share(), model, Thresholds(crisis=0.5, concern=0.5))
    text = "we made soup and watched a film and walked the dog in the park. tonight tonight. the bus was late again today"
    assert len(text) < WINDOW
    assert model.probabilities(Share().encode([text]))[0, 2] < 0.5  # whole: diluted
    assert screen.screen(text).level is CRISIS


def test_a_last_clause_opened_by_but_is_read_alone_for_the_card() -> None:
    """"all good, went to the cinema, but I want to die": the whole sentence dilutes the
    turn; read alone it counts for the crisis score, never for the soft check."""
    assert reading("estoy bien, hoy fui al cine, pero quiero morirme").turns == ["pero quiero morirme"]
    assert reading("good day at work, and tonight I'm ending it").turns == []  # only a turn
    assert reading("all fine, but ok").turns == []  # short clauses join the one before
    assert reading("but I want to die").turns == []  # a single clause is read whole already

    class Shares:
        name = "test/shares"

        def encode(self, texts: Sequence[str]) -> np.ndarray:
            return np.array([[t.split().count(w) / max(1, len(t.split())) for w in ("tonight", "grey")] for t in texts],
                            dtype=np.float32)  # fmt: skip

    model = MlpModel(np.eye(2, dtype=np.float32), np.zeros(2, dtype=np.float32),
                     np.array([[0.0, 0.0, 20.0], [0.0, 20.0, 0.0]], dtype=np.float32),
                     np.array([4.0, 0.0, 0.0], dtype=np.float32), np.zeros(2, dtype=np.float32),
                     np.ones(2, dtype=np.float32))  # fmt: skip
    screen = ModelScreen(Shares(), model, Thresholds(crisis=0.5, concern=0.5))
    everyday = "all good here, went to the cinema and had popcorn with my friends"
    assert screen.screen(f"{everyday} and tonight tonight").level is NONE  # whole: diluted
    assert screen.screen(f"{everyday}, but tonight tonight").level is CRISIS
    assert screen.screen(f"{everyday}, but grey grey").level is NONE  # turns never flag


def test_the_highest_piece_counts(screen: ModelScreen) -> None:
    everyday = "made pasta for dinner today and the bus was late. " * 30
    assert screen.screen(everyday).level is NONE
    buried = everyday + " i am going to end it tonight. " + everyday
    assert len(buried) > 4 * WINDOW
    found = screen.screen(buried)
    assert (found.level, found.category, found.reasons) == (CRISIS, "model", ("model.crisis",))
    assert screen.screen(everyday + " so grey and pointless. " + everyday).level is CONCERN
    assert screen.screen("") is NOTHING


def test_the_crisis_score_weighs_crisis_against_none() -> None:
    p = np.array([
        [0.0005, 0.3995, 0.6],  # a goodbye the model half reads as concern
        [0.39, 0.01, 0.6],  # as likely crisis, but the rest is none
        [1e-6, 0.999998, 1e-6],  # surely concern: crisis and none both crumbs
    ], dtype=np.float32)  # fmt: skip
    crisis, flag = piece_scores(p)
    assert crisis[0] > 0.97 and crisis[1] < 0.61
    assert crisis[2] < 0.01  # not carded on the ratio of two near-zeros
    assert np.allclose(flag, [0.9995, 0.61, 0.999999])


# ---- the classifier and its training -------------------------------------------------


def test_training_is_reproducible_and_learns() -> None:
    encoder = HashedWords()
    x = embed(encoder, [t for t, _ in TRAIN])
    y = np.array([CLASSES.index(label) for _, label in TRAIN])
    a, b = train(x, y), train(x, y)
    assert all(np.array_equal(getattr(a, name), getattr(b, name)) for name in ARRAYS)
    predicted = a.probabilities(x).argmax(axis=1)
    assert (predicted == y).mean() == 1.0


def test_folds_keep_each_family_together() -> None:
    families = [f"f{i // 3}" for i in range(60)]  # 20 families of 3 rows
    folds = family_folds(families, 5, seed=7)
    for family in set(families):
        assert len({int(folds[i]) for i, f in enumerate(families) if f == family}) == 1
    sizes = np.bincount(folds)
    assert len(sizes) == 5 and sizes.min() >= 9 and sizes.max() <= 15
    assert np.array_equal(folds, family_folds(families, 5, seed=7))


def test_thresholds_hold_the_everyday_card_rate() -> None:
    from ketacompanion.core.crisis.modelscreen import Scores

    # 100 everyday rows: two score high for crisis; the threshold must sit above one of them.
    scores = [Scores(0.95, 0.95), Scores(0.85, 0.9)] + [Scores(0.05, 0.1 + i / 1000) for i in range(98)]
    scores += [Scores(0.99, 0.99)] * 10
    labels = ["none"] * 100 + ["crisis"] * 10
    slices = ["everyday"] * 100 + ["explicit"] * 10
    chosen = choose_thresholds(scores, [NOTHING] * 110, labels, slices, card=0.01, flag=0.05)
    assert chosen.crisis == 0.851  # the lowest step that cards only the row at 0.95: 1 of 100
    # The lowest step that flags 5 of 100: the two high rows and the top three of the bulk
    # (0.195, 0.196, 0.197).
    assert chosen.concern == 0.195


def test_fit_reports_out_of_fold_screenings() -> None:
    encoder = HashedWords()
    rows = TRAIN * 3
    x = embed(encoder, [t for t, _ in rows])
    families = [f"fam{i % len(TRAIN)}" for i in range(len(rows))]
    trained = fit(x, [label for _, label in rows], families, ["everyday"] * len(rows),
                  [NOTHING] * len(rows), folds=3)  # fmt: skip
    assert len(trained.oof_screenings) == len(rows)
    assert 0.1 <= trained.thresholds.crisis <= 0.99


# ---- rules and model together ---------------------------------------------------------


def test_the_model_raises_and_never_lowers() -> None:
    rules_crisis = Screening(CRISIS, "ideation", ("ideation.want_to_die",))
    model_none = NOTHING
    assert combine(rules_crisis, model_none) is rules_crisis
    model_crisis = Screening(CRISIS, "model", ("model.crisis",))
    assert combine(NOTHING, model_crisis) is model_crisis
    raised = combine(Screening(CONCERN, "means", ("means.dose",)), model_crisis)
    assert (raised.level, raised.category) == (CRISIS, "means")
    assert raised.reasons == ("means.dose", "model.crisis")
    assert combine(rules_crisis, Screening(CONCERN, "model", ())) is rules_crisis


@pytest.mark.parametrize("kind", ["negation", "denial", "quote"])
def test_a_proved_lookalike_holds_against_the_model(kind: str) -> None:
    lowered = Screening(CONCERN, "ideation", ("ideation.kill_myself", f"lowered:{kind}"))
    assert combine(lowered, Screening(CRISIS, "model", ("model.crisis",))) is lowered
    other = Screening(CONCERN, "ideation", ("ideation.kill_myself", "lowered:gaming"))
    assert combine(other, Screening(CRISIS, "model", ("model.crisis",))).level is CRISIS


def test_families_the_rules_hold_down_are_right_more_often_than_the_model() -> None:
    """The family test behind TRUSTED_LOWERING: on the shipped training rows, wherever
    the rules lowered by one of these kinds, their level is at least as often right as
    the label allows."""
    from ketacompanion.content.crisis_model import read_training
    from ketacompanion.core.crisis.layered import TRUSTED_LOWERING

    detector = Detector.from_file(CRISIS_DIR / "phrases.yaml")
    held = 0
    for row in read_training(CRISIS_DIR):
        found = detector.screen(row.text)
        kinds = {r.removeprefix("lowered:") for r in found.reasons if r.startswith("lowered:")}
        if kinds & TRUSTED_LOWERING:
            held += 1
            # Held down, never below what the row needs to be flagged at all.
            assert row.label != "crisis" or found.level >= CONCERN, row.text
    assert held >= 10


# ---- the screener: off the loop, with a budget ----------------------------------------


class Slow:
    def __init__(self, release: threading.Event) -> None:
        self.release = release

    def screen(self, text: str) -> Screening:
        self.release.wait(5)
        return Screening(CRISIS, "model", ("model.crisis",))


class Broken:
    def screen(self, text: str) -> Screening:
        raise RuntimeError("model went away")


class Rules:
    def screen(self, text: str) -> Screening:
        return Screening(CONCERN, "distress", ("distress.cope",)) if "cope" in text else NOTHING


async def test_a_slow_model_leaves_the_rules_answer_and_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    release = threading.Event()
    screener = LayeredScreener(lambda: Rules(), Slow(release), budget_s=0.05)
    try:
        with caplog.at_level(logging.WARNING):
            first = await screener.screen_async("i cannot cope")
            second = await screener.screen_async("i cannot cope at all")
        assert first.level is CONCERN and second.level is CONCERN
        loud = [r for r in caplog.records if "CRISIS MODEL" in r.getMessage()]
        assert len(loud) == 1 and loud[0].levelno == logging.ERROR
        assert "cope" not in caplog.text  # never the words
    finally:
        release.set()
        screener.close()


async def test_a_failing_model_leaves_the_rules_answer_and_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    screener = LayeredScreener(lambda: Rules(), Broken(), budget_s=1)
    try:
        with caplog.at_level(logging.WARNING):
            for _ in range(3):
                assert (await screener.screen_async("hello")).level is NONE
        loud = [r for r in caplog.records if "CRISIS MODEL" in r.getMessage()]
        assert len(loud) == 1 and "RuntimeError" in loud[0].getMessage()
    finally:
        screener.close()


async def test_the_model_runs_off_the_event_loop(screen: ModelScreen) -> None:
    loop_thread = threading.get_ident()
    seen: list[int] = []

    class Watching:
        def screen(self, text: str) -> Screening:
            seen.append(threading.get_ident())
            return screen.screen(text)

    screener = LayeredScreener(lambda: Rules(), Watching(), budget_s=5)
    try:
        found = await screener.screen_async("i am going to end it tonight")
        ticks = await asyncio.gather(screener.screen_async("made pasta"), asyncio.sleep(0))
    finally:
        screener.close()
    assert found.level is CRISIS and ticks[0].level is NONE
    assert seen and all(t != loop_thread for t in seen)


def test_model_off_is_said_loudly(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        screener = LayeredScreener(lambda: Rules(), None, unavailable="the encoder did not load (ImportError)")
    assert not screener.model_on
    assert "CRISIS MODEL OFF: the encoder did not load (ImportError)" in caplog.text
    assert screener.screen("i cannot cope").level is CONCERN


# ---- the weights file -------------------------------------------------------------------


@pytest.fixture
def crisis_dir(tmp_path: Path, screen: ModelScreen) -> Path:
    folder = tmp_path / "crisis"
    (folder / "training").mkdir(parents=True)
    (folder / "training" / "a.tsv").write_text(
        "text\tlabel\tslice\tfamily\tlang\n" + "".join(f"{t}\t{label}\tx\tf{i}\ten\n" for i, (t, label) in enumerate(TRAIN)),
        encoding="utf-8",
    )
    write_model(folder, screen.model, Thresholds(0.6, 0.4), {"encoder": HashedWords.name, "data_sha256": data_hash(folder)})
    return folder


def test_weights_round_trip_byte_for_byte(crisis_dir: Path, screen: ModelScreen) -> None:
    loaded = load_model(crisis_dir)
    assert loaded.encoder == HashedWords.name and loaded.thresholds == Thresholds(0.6, 0.4)
    assert np.array_equal(loaded.model.weights, screen.model.weights)
    first = (crisis_dir / MODEL_FILE).read_bytes()
    write_model(crisis_dir, screen.model, Thresholds(0.6, 0.4), {"encoder": HashedWords.name, "data_sha256": data_hash(crisis_dir)})
    assert (crisis_dir / MODEL_FILE).read_bytes() == first  # reproducible to the byte
    assert validate_model(crisis_dir) == []


def test_missing_weights_are_rejected(crisis_dir: Path) -> None:
    (crisis_dir / MODEL_FILE).unlink()
    with pytest.raises(WeightsError, match="crisis model missing"):
        load_model(crisis_dir)
    assert "crisis model missing" in str(validate_model(crisis_dir)[0])


def test_truncated_weights_are_rejected(crisis_dir: Path) -> None:
    arrays = (crisis_dir / MODEL_FILE).read_bytes()
    (crisis_dir / MODEL_FILE).write_bytes(arrays[: len(arrays) // 2])
    with pytest.raises(WeightsError, match="truncated or replaced"):
        load_model(crisis_dir)


def test_weights_built_from_other_data_are_rejected(crisis_dir: Path) -> None:
    with (crisis_dir / "training" / "a.tsv").open("a", encoding="utf-8") as handle:
        handle.write("one more row\tnone\tx\tf99\ten\n")
    with pytest.raises(WeightsError, match="built from other training data"):
        load_model(crisis_dir)
    problems = validate_model(crisis_dir)
    assert len(problems) == 1 and "other training data" in problems[0].message


def test_a_broken_record_is_rejected(crisis_dir: Path) -> None:
    (crisis_dir / META_FILE).write_text("{not json", encoding="utf-8")
    with pytest.raises(WeightsError, match="unreadable record"):
        load_model(crisis_dir)


def test_weights_of_the_previous_format_are_rejected(crisis_dir: Path) -> None:
    """Format 2 had its crisis threshold on p(crisis) alone: read against the crisis score
    of format 3 it would card at another rate than its record says."""
    import json

    record = json.loads((crisis_dir / META_FILE).read_text(encoding="utf-8"))
    (crisis_dir / META_FILE).write_text(json.dumps({**record, "format": 2}), encoding="utf-8")
    with pytest.raises(WeightsError, match="format or classes differ"):
        load_model(crisis_dir)
    assert "format or classes differ" in validate_model(crisis_dir)[0].message


def test_no_data_and_no_weights_is_rules_alone(tmp_path: Path) -> None:
    assert validate_model(tmp_path) == []


def test_content_with_bad_weights_does_not_load(tmp_path: Path) -> None:
    from datetime import date

    from ketacompanion.content.catalog import load_content
    from ketacompanion.content.problems import ContentError

    content = tmp_path / "content"
    shutil.copytree(ROOT / "content", content)
    (content / "crisis" / MODEL_FILE).write_bytes(b"PK\x03\x04 not the weights")
    with pytest.raises(ContentError) as caught:
        load_content(content, date(2026, 11, 23))
    assert any("truncated or replaced" in p.message for p in caught.value.problems)


def test_shipped_weights_match_the_shipped_data() -> None:
    assert validate_model(CRISIS_DIR) == []
    meta = load_model(CRISIS_DIR).meta
    assert meta["data_sha256"] == data_hash(CRISIS_DIR)
    assert meta["weights_sha256"] == hashlib.sha256((CRISIS_DIR / MODEL_FILE).read_bytes()).hexdigest()
    assert meta["split"] == "by family" and meta["rows"] >= 3000
