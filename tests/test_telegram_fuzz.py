"""Fuzzed and malformed updates through the real adapter and core: nothing escapes, nothing
fails, and each update costs at most one turn of the core (whose answer may be several
messages) or, when the core is not asked, at most one notice."""

from __future__ import annotations

import asyncio
import copy
import logging
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from telegram import Update

import ketacompanion.app as app_module
from ketacompanion.adapters.telegram.adapter import TelegramAdapter
from ketacompanion.adapters.telegram.delivery import TelegramSender
from ketacompanion.adapters.telegram.ingress import clean_batch
from ketacompanion.adapters.telegram.limits import Limits, RateLimiter
from ketacompanion.adapters.telegram.runner import build_application
from ketacompanion.core.clock import FakeClock
from ketacompanion.core.crisis.detector import Detector
from ketacompanion.core.model import Inbound, Reply
from test_telegram_http import _shared
from test_telegram_support import TOKEN, FakeTime

from conftest import make_settings
from fakes.telegram_objects import BotApiState
from fakes.telegram_request import RecordingRequest

SAMPLES = ["/start", "/help", "/learn", "/crisis", "/delete", "/export", "/start@x", "/",
           "I want to kill myself", "ok", "", " ", "\u200f\u202e", "😀" * 50, "<b>&amp;</b>",
           "*_[]()~`>#+-=|{}.!", "a" * 5000]  # fmt: skip
junk = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                 st.text(max_size=30), st.lists(st.integers(), max_size=2),
                 st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))  # fmt: skip
texts = st.one_of(st.sampled_from(SAMPLES), st.text(max_size=200))


class Harness:
    """One app, Application and adapter for every example, driven on one event loop."""

    def __init__(self, tmp: Path) -> None:
        self.tmp, self.turns, self.state = tmp, 0, BotApiState(TOKEN)
        self.errors: list[logging.LogRecord] = []

    async def start(self, monkeypatch: pytest.MonkeyPatch) -> None:
        settings = make_settings(f"sqlite+aiosqlite:///{self.tmp / 'bot.db'}", self.tmp)
        clock = FakeClock(app_module.SystemClock().now())
        content, detector = _shared(settings.content_dir, clock.now().date())
        monkeypatch.setattr(app_module, "load_all_content", lambda settings, clock: content)
        monkeypatch.setattr(Detector, "from_file", lambda path: detector)
        self.app = await app_module.build_app(settings, clock)
        self.application = build_application(
            TOKEN, request=RecordingRequest(self.state), updates_request=RecordingRequest(self.state)
        )
        time = FakeTime()
        sender = TelegramSender(self.application.bot, self.app.store,
                                RateLimiter(Limits.off(), time, time.sleep), None, time.sleep)  # fmt: skip

        async def counted(inbound: Inbound) -> list[Reply]:
            self.turns += 1
            return await self.app.companion.handle(inbound)

        async def screened(inbound: Inbound) -> list[Reply]:
            self.turns += 1
            return await self.app.companion.screen_only(inbound)

        TelegramAdapter(
            self.application, counted, sender, app_module.texts(self.app.content), screen=screened
        )
        await self.application.initialize()

    async def stop(self) -> None:
        await self.application.shutdown()
        await self.app.close()

    async def feed(self, raw: Any) -> tuple[int, int]:
        """Handle ``raw`` as polling would; returns (core turns, messages sent)."""
        turns, sent = self.turns, len(self.state.sent_messages())
        for item in clean_batch([raw]):
            await self.application.process_update(Update.de_json(item, self.application.bot))
        return self.turns - turns, len(self.state.sent_messages()) - sent


def valid_update(state: BotApiState, kind: str, chat: int, text: str) -> dict[str, Any]:
    if kind == "callback":
        return state.callback_update(chat, text[:64] or "x", 1)
    chat_type = {"group": "supergroup", "private": "private", "channel": "channel"}[kind]
    return state.message_update(chat, text, 7 if kind == "group" else None, chat_type)


def mutate(update: dict[str, Any], path: list[str], value: Any, drop: bool) -> dict[str, Any]:
    """``update`` with the field at ``path`` (as deep as it exists) dropped or replaced."""
    out = copy.deepcopy(update)
    node: Any = out
    for key in path[:-1]:
        if not isinstance(node, dict) or not isinstance(node.get(key), dict):
            break
        node = node[key]
    if isinstance(node, dict) and node:
        key = path[-1] if path[-1] in node else sorted(node)[0]
        if drop:
            node.pop(key)
        else:
            node[key] = value
    return out


FIELDS = st.lists(st.sampled_from(["message", "callback_query", "chat", "from", "text", "id",
                                   "date", "type", "data", "entities", "message_id",
                                   "update_id"]), min_size=1, max_size=3)  # fmt: skip


def run_examples(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                 body: Callable[[Harness, asyncio.Runner], None]) -> None:  # fmt: skip
    harness = Harness(tmp_path)
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Collect(logging.ERROR)
    logging.getLogger().addHandler(handler)
    try:
        with asyncio.Runner() as runner:
            runner.run(harness.start(monkeypatch))
            try:
                body(harness, runner)
            finally:
                runner.run(harness.stop())
    finally:
        logging.getLogger().removeHandler(handler)
    assert [r.getMessage() for r in records] == []


def test_fuzzed_well_formed_updates(monkeypatch: pytest.MonkeyPatch) -> None:
    def body(harness: Harness, runner: asyncio.Runner) -> None:
        @settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
        @given(st.sampled_from(["private", "group", "callback", "channel"]),
               st.integers(min_value=1, max_value=5), texts)  # fmt: skip
        def check(kind: str, chat: int, text: str) -> None:
            chat_id = -100 - chat if kind in ("group", "channel") else chat
            raw = valid_update(harness.state, kind, chat_id, text)
            turns, _ = runner.run(harness.feed(raw))
            assert turns <= 1

        check()

    with tempfile.TemporaryDirectory() as tmp:
        run_examples(Path(tmp), monkeypatch, body)


def test_fuzzed_malformed_updates(monkeypatch: pytest.MonkeyPatch) -> None:
    def body(harness: Harness, runner: asyncio.Runner) -> None:
        @settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
        @given(st.sampled_from(["private", "group", "callback"]), texts, FIELDS, junk,
               st.booleans())  # fmt: skip
        def check(kind: str, text: str, path: list[str], value: Any, drop: bool) -> None:
            chat_id = -100 if kind == "group" else 9
            raw = mutate(valid_update(harness.state, kind, chat_id, text), path, value, drop)
            turns, sent = runner.run(harness.feed(raw))
            # One turn of the core at most; without one, at most the adapter's one notice.
            assert turns <= 1
            assert turns == 1 or sent <= 1

        check()

        @settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
        @given(st.one_of(junk, st.dictionaries(st.sampled_from(["update_id", "message",
                                                                "callback_query", "poll"]),
                                               junk, max_size=3)))  # fmt: skip
        def anything(raw: Any) -> None:
            turns, sent = runner.run(harness.feed(raw))
            assert turns == 0 and sent == 0

        anything()

    with tempfile.TemporaryDirectory() as tmp:
        run_examples(Path(tmp), monkeypatch, body)
