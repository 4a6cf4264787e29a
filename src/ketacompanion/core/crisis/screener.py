"""The screen the companion uses: the live rules, then the model off the event loop.

The rules run first, inline (microseconds). The model runs on one worker thread with
a time budget; if it is missing, too slow or fails, the rules' answer stands and the
log says so once, loudly, and again only after it has recovered and failed anew, so a
broken model never floods the log nor hides.

Messages that arrive while the worker is busy wait in a queue; when it frees, it takes
all of them (up to ``BATCH_CHARS``) into one model call, since much of the encoder's
cost is paid once per call. A lone message never waits for company.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ketacompanion.core.crisis.detector import Screening
from ketacompanion.core.crisis.layered import combine

log = logging.getLogger(__name__)

DEFAULT_BUDGET_S = 2.0  # whole-screen budget for the model, queueing included
# Characters of queued messages taken into one model call (at least one message): about
# 40 short messages, or 4 long ones read in many pieces, so one call stays within tens of ms.
BATCH_CHARS = 2000


class Screens(Protocol):
    def screen(self, text: str) -> Screening: ...


@runtime_checkable
class ScreensMany(Protocol):
    def screen_many(self, texts: Sequence[str]) -> list[Screening]: ...


@dataclass(frozen=True, slots=True)
class _Waiting:
    text: str
    deadline: float
    result: Future[Screening | None]


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
        # Appended on the event loop, taken by the single worker (and by close()): deque's
        # append and popleft are atomic, so no lock.
        self._queue: deque[_Waiting] = deque()
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
        waiting = _Waiting(text, time.monotonic() + self._budget, Future())
        self._queue.append(waiting)
        # One drain per message: whichever runs first takes the queue, the rest find it empty.
        self._executor.submit(self._drain)
        try:
            model = await asyncio.wait_for(asyncio.wrap_future(waiting.result), self._budget)
        except TimeoutError:
            self._warn(f"took longer than {self._budget:g} s")
            return rules
        return combine(rules, model)

    def _drain(self) -> None:
        batch = self._take()
        found: list[Screening | None] = [None] * len(batch)
        try:
            together = self._run_batch([w.text for w in batch]) if len(batch) > 1 else None
            # Alone, or the batch failed: one by one, so one bad text fails alone.
            found = together or [self._run_model(w.text, w.deadline) for w in batch]
        finally:
            for w, screening in zip(batch, found, strict=True):
                w.result.set_result(screening)

    def _take(self) -> list[_Waiting]:
        """The queued messages still waited for, oldest first, up to ``BATCH_CHARS``."""
        batch: list[_Waiting] = []
        size, now = 0, time.monotonic()
        while self._queue and (not batch or size + len(self._queue[0].text) <= BATCH_CHARS):
            try:
                waiting = self._queue.popleft()
            except IndexError:
                break  # emptied by close() meanwhile
            if not waiting.result.set_running_or_notify_cancel():
                continue  # its caller stopped waiting (its budget ran out)
            if now > waiting.deadline:
                waiting.result.set_result(None)  # past its budget: the rules already answered
                continue
            batch.append(waiting)
            size += len(waiting.text)
        return batch

    def _run_batch(self, texts: list[str]) -> list[Screening | None] | None:
        if not isinstance(self._model, ScreensMany):
            return None
        try:
            found: list[Screening | None] = list(self._model.screen_many(texts))
        except Exception as exc:
            # Retried one by one, so only a bad text falls back to the rules (and is logged loudly).
            log.info("batched crisis model call failed; retried one by one", extra={"error": type(exc).__name__})
            return None
        if len(found) != len(texts):
            return None
        self._recovered()
        return found

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
        self._recovered()
        return found

    def _recovered(self) -> None:
        if self._degraded:
            self._degraded = False
            log.warning("crisis model working again")

    def _warn(self, what: str) -> None:
        if not self._degraded:
            self._degraded = True
            log.error("CRISIS MODEL %s; the phrase rules' answer stands until it recovers", what)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        # What no worker will take now gets the rules' answer at once, not at its budget.
        while self._queue:
            try:
                waiting = self._queue.popleft()
            except IndexError:
                break
            if waiting.result.set_running_or_notify_cancel():
                waiting.result.set_result(None)
