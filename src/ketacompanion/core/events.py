"""Events the core emits for adapters to act on (moderator alerts, metrics)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ketacompanion.core.model import Address

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EscalationEvent:
    """Only the place, the level and whether the person agreed to share their words:
    never the words themselves, never a score."""

    address: Address
    level: str
    source: str
    shared_words: bool = False


Listener = Callable[[EscalationEvent], Awaitable[None]]


class Events:
    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    async def emit(self, event: EscalationEvent) -> None:
        for listener in self._listeners:
            try:
                await listener(event)
            except Exception:
                # A failing listener (a moderator channel down) must not touch the person's reply.
                log.exception("escalation listener failed")
