"""The screen the companion uses: the live rules, then the model off the event loop.

The rules run first, inline (microseconds). The model runs on one worker thread with
a time budget; if it is missing, too slow or fails, the rules' answer stands and the
log says so once, loudly, and again only after it has recovered and failed anew, so a
broken model never floods the log nor hides.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from ketacompanion.core.crisis.detector import Screening
from ketacompanion.core.crisis.layered import combine

log = logging.getLogger(__name__)

DEFAULT_BUDGET_S = 2.0  # whole-screen budget for the model, queueing included


class Screens(Protocol):
    def screen(self, text: str) -> Screening: ...


class LayeredScreener:
    def __init__(
        self,
        rules: Callable[[], Screens],
        model: Screens | None,
        budget_s: float = DEFAULT_BUDGET_S,
        unavailable: str | None = None,
    ) -> None:
        self._rules, self._model, self._budget = rules, model, budget_s
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="crisis-model") if model else None
        self._degraded = False
        if model is not None:
            log.info("crisis model on: the phrase rules, then the model, for every message")
        else:
            log.warning("CRISIS MODEL OFF: %s; screening with the phrase rules alone", unavailable or "switched off")

    @property
    def model_on(self) -> bool:
        return self._model is not None

    def screen(self, text: str) -> Screening:
        """Rules and model in the caller's thread (command line, evaluation)."""
        rules = self._rules().screen(text)
        return combine(rules, self._run_model(text, None))

    async def screen_async(self, text: str) -> Screening:
        rules = self._rules().screen(text)
        if self._executor is None:
            return rules
        deadline = time.monotonic() + self._budget
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, self._run_model, text, deadline)
        try:
            model = await asyncio.wait_for(future, self._budget)
        except TimeoutError:
            self._warn(f"took longer than {self._budget:g} s")
            return rules
        return combine(rules, model)

    def _run_model(self, text: str, deadline: float | None) -> Screening | None:
        if self._model is None:
            return None
        if deadline is not None and time.monotonic() > deadline:
            return None  # waited in the queue past its budget: the rules already answered
        try:
            found = self._model.screen(text)
        except Exception as exc:
            # Only the type: the message may hold the person's words.
            self._warn(f"failed ({type(exc).__name__})")
            return None
        if self._degraded:
            self._degraded = False
            log.warning("crisis model working again")
        return found

    def _warn(self, what: str) -> None:
        if not self._degraded:
            self._degraded = True
            log.error("CRISIS MODEL %s; the phrase rules' answer stands until it recovers", what)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
