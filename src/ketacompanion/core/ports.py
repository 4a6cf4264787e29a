"""What the core needs from the outside world, as protocols: storage and a clock.

Storage implements these in ``ketacompanion.storage``; the core never sees SQL."""

from __future__ import annotations

import json
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from ketacompanion.core.model import Address, Reply


class StoreUnavailable(Exception):
    """The database could not be reached, or stayed locked past the busy timeout."""


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


@dataclass(slots=True)
class UserRecord:
    id: int
    platform: str
    platform_user_id: str
    chat_id: str
    created_at: datetime
    consent_at: datetime | None = None
    country: str | None = None
    timezone: str | None = None
    language: str | None = None
    keep_notes: bool = False
    unreachable_at: datetime | None = None
    enrolment: str | None = None

    @property
    def consented(self) -> bool:
        return self.consent_at is not None


@dataclass(slots=True)
class DialogueState:
    """Which flow is open and at which step. Holds ids and positions, never health text."""

    flow: str | None = None
    step: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def clear(self) -> None:
        self.flow, self.step, self.data = None, None, {}

    def open(self, flow: str, step: str, **data: Any) -> None:
        self.flow, self.step, self.data = flow, step, dict(data)

    def snapshot(self) -> tuple[str | None, str | None, str]:
        return self.flow, self.step, json.dumps(self.data, sort_keys=True)


@dataclass(frozen=True, slots=True)
class LessonProgress:
    lesson_id: str
    card: int
    completed: bool
    read_version: str | None
    quiz_correct: bool | None
    updated_at: datetime


class Sender(Protocol):
    """What an adapter offers the outbox: deliver one reply, or raise
    ``model.Unreachable`` (stop) or ``model.DeliveryError`` (try later)."""

    platform: str

    async def send(self, address: Address, reply: Reply) -> None: ...


class UserRepo(Protocol):
    async def find(self, platform: str, platform_user_id: str) -> tuple[UserRecord, DialogueState] | None: ...
    async def create(self, platform: str, platform_user_id: str, chat_id: str, language: str | None) -> UserRecord: ...
    async def update(self, user_id: int, **fields: Any) -> None: ...
    async def save_dialogue(self, user_id: int, state: DialogueState) -> None: ...
    async def export(self, user_id: int) -> dict[str, list[dict[str, Any]]]: ...
    async def delete(self, user_id: int) -> None: ...
    async def mark_unreachable(self, platform: str, chat_id: str) -> int | None: ...


class LessonRepo(Protocol):
    async def progress(self, user_id: int) -> Mapping[str, LessonProgress]: ...
    async def save_position(self, user_id: int, lesson_id: str, card: int, version: str) -> None: ...
    async def complete(self, user_id: int, lesson_id: str, version: str) -> None: ...
    async def save_quiz(self, user_id: int, lesson_id: str, choice: str, correct: bool) -> None: ...


class Tx(Protocol):
    """One unit of work: everything in it commits together or not at all."""

    users: UserRepo
    lessons: LessonRepo


class Store(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[Tx]: ...

    async def purge_traces(self) -> None:
        """Make deleted rows unrecoverable from the database files (WAL included)."""
        ...
