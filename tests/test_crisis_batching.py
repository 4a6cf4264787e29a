"""The screener batches the model across messages that queued while it was busy.

A fake encoder records each call's pieces and can hold the worker on a given text, so a
test decides exactly what is queued when the worker frees: no timing, only events.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence

import numpy as np
import pytest

from ketacompanion.core.crisis.classifier import MlpModel
from ketacompanion.core.crisis.detector import NOTHING, RiskLevel, Screening
from ketacompanion.core.crisis.modelscreen import ModelScreen, Thresholds
from ketacompanion.core.crisis.screener import BATCH_CHARS, LayeredScreener

CRISIS, CONCERN, NONE = RiskLevel.CRISIS, RiskLevel.CONCERN, RiskLevel.NONE


class Recording:
    """Features: whether a piece says "tonight", whether it says "grey". Records every
    call; holds the worker on a piece saying "hold" until ``release``; raises on "boom"."""

    name = "test/recording"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.holding, self.release = threading.Event(), threading.Event()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        if any("hold" in t for t in texts):
            self.holding.set()
            assert self.release.wait(5)
        if any("boom" in t for t in texts):
            raise ValueError("bad input")
        return np.array([[float("tonight" in t), float("grey" in t)] for t in texts], dtype=np.float32)


class Rules:
    def screen(self, text: str) -> Screening:
        return Screening(CONCERN, "distress", ("distress.cope",)) if "cope" in text else NOTHING


def model_screen(encoder: Recording) -> ModelScreen:
    """By hand: "tonight" means crisis, "grey" concern, anything else none."""
    weights = np.array([[0.0, 0.0, 12.0], [0.0, 8.0, 0.0]], dtype=np.float32)
    identity = np.eye(2, dtype=np.float32)
    model = MlpModel(identity, np.zeros(2, dtype=np.float32), weights, np.array([2.0, 0.0, 0.0], dtype=np.float32),
                     np.zeros(2, dtype=np.float32), np.ones(2, dtype=np.float32))  # fmt: skip
    return ModelScreen(encoder, model, Thresholds(crisis=0.5, concern=0.5))


@pytest.fixture
def encoder() -> Recording:
    return Recording()


async def queued_behind_a_held_message(
    screener: LayeredScreener, encoder: Recording, texts: Sequence[str]
) -> tuple[Screening, list[Screening]]:
    """Hold the worker on one message, queue ``texts`` meanwhile, then let it go."""
    first = asyncio.ensure_future(screener.screen_async("hold on a second"))
    assert await asyncio.get_running_loop().run_in_executor(None, encoder.holding.wait, 5)
    queued = [asyncio.ensure_future(screener.screen_async(t)) for t in texts]
    await asyncio.sleep(0)  # a yield, not a wait: each task queues its text before its first await
    encoder.release.set()
    return await first, list(await asyncio.gather(*queued))


async def test_a_lone_message_is_encoded_at_once_and_alone(encoder: Recording) -> None:
    screener = LayeredScreener(lambda: Rules(), model_screen(encoder), budget_s=5)
    try:
        first = await screener.screen_async("made pasta")
        second = await screener.screen_async("going to end it tonight")
    finally:
        screener.close()
    assert first.level is NONE and second.level is CRISIS
    assert encoder.calls == [["made pasta"], ["going to end it tonight"]]


async def test_messages_queued_while_busy_share_one_call_and_keep_their_own_answers(encoder: Recording) -> None:
    screener = LayeredScreener(lambda: Rules(), model_screen(encoder), budget_s=5)
    texts = ["made pasta", "i will end it tonight", "so grey lately", "Lunch was fine. Then I end it tonight."]
    try:
        first, found = await queued_behind_a_held_message(screener, encoder, texts)
    finally:
        screener.close()
    assert first.level is NONE
    assert [f.level for f in found] == [NONE, CRISIS, CONCERN, CRISIS]
    assert found[1].reasons == ("model.crisis",)
    assert len(encoder.calls) == 2  # the held message, then every queued one together
    assert encoder.calls[1][:3] == texts[:3] and "Then I end it tonight." in encoder.calls[1]


async def test_a_batch_is_capped_and_the_rest_follow_in_order(encoder: Recording) -> None:
    screener = LayeredScreener(lambda: Rules(), model_screen(encoder), budget_s=5)
    texts = [f"message {i:02d} " + "x" * (BATCH_CHARS // 3) for i in range(7)]
    try:
        _, found = await queued_behind_a_held_message(screener, encoder, texts)
    finally:
        screener.close()
    assert all(f.level is NONE for f in found)
    batches = encoder.calls[1:]
    assert [len(b) for b in batches] == [2, 2, 2, 1]  # three would pass the cap
    assert [t[:10] for b in batches for t in b] == [t[:10] for t in texts]


async def test_one_bad_text_fails_alone(encoder: Recording, caplog: pytest.LogCaptureFixture) -> None:
    screener = LayeredScreener(lambda: Rules(), model_screen(encoder), budget_s=5)
    texts = ["end it tonight", "boom, i cannot cope", "grey again"]
    try:
        with caplog.at_level(logging.WARNING):
            _, found = await queued_behind_a_held_message(screener, encoder, texts)
    finally:
        screener.close()
    assert [f.level for f in found] == [CRISIS, CONCERN, CONCERN]
    assert found[1].reasons == ("distress.cope",)  # the rules' answer alone
    assert found[2].reasons == ("model.concern",)
    assert encoder.calls[1:] == [texts, [texts[0]], [texts[1]], [texts[2]]]  # the batch, then one by one
    loud = [r for r in caplog.records if "CRISIS MODEL" in r.getMessage()]
    assert len(loud) == 1 and "ValueError" in loud[0].getMessage()
    assert "cope" not in caplog.text


async def test_a_message_past_its_budget_in_the_queue_gets_the_rules_and_is_never_encoded(
    encoder: Recording, caplog: pytest.LogCaptureFixture
) -> None:
    screener = LayeredScreener(lambda: Rules(), model_screen(encoder), budget_s=0.2)
    try:
        with caplog.at_level(logging.WARNING):
            first = asyncio.ensure_future(screener.screen_async("hold on, i cannot cope"))
            assert await asyncio.get_running_loop().run_in_executor(None, encoder.holding.wait, 5)
            late = await screener.screen_async("tonight i cannot cope")  # waits out its budget
            encoder.release.set()
            assert (await first).level is CONCERN
            after = await screener.screen_async("grey")  # the worker is free again
    finally:
        screener.close()
    assert late.level is CONCERN and late.reasons == ("distress.cope",)
    assert after.level is CONCERN and after.reasons == ("model.concern",)
    assert encoder.calls == [["hold on, i cannot cope"], ["grey"]]
    loud = [r for r in caplog.records if "CRISIS MODEL" in r.getMessage()]
    assert len(loud) == 1 and "longer than" in loud[0].getMessage()


def test_many_at_once_score_as_each_alone(encoder: Recording) -> None:
    screen = model_screen(encoder)
    texts = ["", "made pasta", "Lunch was fine. Then grey. I end it tonight.", "xxxxxxxxxxxx", "so grey"]
    together = screen.scores_many(texts)
    assert len(encoder.calls) == 1
    assert together == [screen.scores(t) for t in texts]
    assert together[0] is None and together[3] is None  # nothing left to read
    assert [s.level for s in screen.screen_many(texts)] == [NONE, NONE, CRISIS, NONE, CONCERN]


def test_the_real_encoder_scores_a_batch_as_it_scores_each_alone(real_screen: object) -> None:
    from pathlib import Path

    from ketacompanion.core.crisis.evaluation import read_labelled

    screen: ModelScreen = real_screen._model  # type: ignore[attr-defined]
    rows = read_labelled(Path(__file__).parent / "data" / "crisis_labelled.tsv")[:160]
    texts = [r.text for r in rows]
    alone = [screen.scores(t) for t in texts]
    together = [s for i in range(0, len(texts), 16) for s in screen.scores_many(texts[i : i + 16])]
    pairs = [(a, b) for a, b in zip(alone, together, strict=True) if a is not None and b is not None]
    assert len(pairs) == len(texts)
    assert max(abs(a.crisis - b.crisis) + abs(a.flag - b.flag) for a, b in pairs) < 1e-4
    assert [screen.screen(t) for t in texts] == [s for i in range(0, 160, 16) for s in screen.screen_many(texts[i : i + 16])]


async def test_messages_still_queued_at_close_get_the_rules_answer_at_once(encoder: Recording) -> None:
    screener = LayeredScreener(lambda: Rules(), model_screen(encoder), budget_s=600)
    first = asyncio.ensure_future(screener.screen_async("hold on"))
    assert await asyncio.get_running_loop().run_in_executor(None, encoder.holding.wait, 5)
    queued = asyncio.ensure_future(screener.screen_async("tonight i cannot cope"))
    await asyncio.sleep(0)  # a yield: the text is queued
    screener.close()
    found = await asyncio.wait_for(queued, 5)  # not the 600 s budget
    encoder.release.set()
    assert (await first).level is NONE
    assert found.reasons == ("distress.cope",)
    assert encoder.calls == [["hold on"]]
