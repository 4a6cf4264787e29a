"""What the core needs from the outside world, as protocols: storage and a clock.

Storage implements these in ``ketacompanion.storage``; the core never sees SQL."""

from __future__ import annotations

import json
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from ketacompanion.core.model import Address, Reply
from ketacompanion.core.scoring import Answer

if TYPE_CHECKING:  # safetyplan builds on this module
    from ketacompanion.core.journal_port import JournalRepo
    from ketacompanion.core.safetyplan_record import SafetyPlan


class StoreUnavailable(Exception):
    """The database could not be reached, or stayed locked past the busy timeout."""


class StoreBusy(StoreUnavailable):
    """Another writer held the database longer than the caller was willing to wait."""


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


# ``json.dumps(..., sort_keys=True)`` builds a new encoder on every call; this one is
# built once (twice a message: before and after the turn).
_SORTED_JSON = json.JSONEncoder(sort_keys=True).encode
# Values whose equality is their JSON's: not float (-0.0 == 0.0, NaN != NaN).
_SCALARS = frozenset({str, int, bool, type(None)})


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

    def snapshot(self) -> tuple[str | None, str | None, object]:
        """What tells whether the turn changed the state: equal snapshots, same state."""
        data = self.data
        if not data:
            return self.flow, self.step, ""
        # Usually a few ids and positions: compared by key, type and value, which is what
        # comparing their JSON would say (True is not 1), without serialising.
        if all(type(k) is str and type(v) in _SCALARS for k, v in data.items()):
            return self.flow, self.step, tuple(sorted((k, type(v), v) for k, v in data.items()))
        # Anything nested: serialised, so a change deep inside shows.
        return self.flow, self.step, _SORTED_JSON(data)


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


# Check-in rows a person can still answer; later states are closed for good.
# sent_unconfirmed: the prompt's send could not be confirmed, so it may have arrived.
OPEN_CHECKIN_STATES = ("queued", "sent", "reminded", "open", "sent_unconfirmed")


@dataclass(frozen=True, slots=True)
class CheckinRecord:
    """One ``checkins`` row: a due prompt and where it stands."""

    id: int
    kind: str
    instrument: str | None
    status: str
    due_at: datetime
    expires_at: datetime
    session_id: int | None = None
    opened_at: datetime | None = None
    answered_at: datetime | None = None
    content_version: int | None = None  # the content version it is worded and scored from

    def answerable(self, now: datetime) -> bool:
        return self.status in OPEN_CHECKIN_STATES and now < self.expires_at

    @property
    def when(self) -> datetime:
        return self.answered_at or self.opened_at or self.due_at


@dataclass(frozen=True, slots=True)
class PastCheckin:
    """A check-in with its decrypted answers (empty when none were given)."""

    record: CheckinRecord
    answers: Mapping[str, Answer]


@dataclass(frozen=True, slots=True)
class ScheduleSettings:
    """The ``schedules`` row: local "HH:MM" times in the person's timezone."""

    daily_time: str | None = None
    weekly_day: int | None = None  # 0 Monday .. 6 Sunday
    weekly_time: str | None = None
    quiet_start: str | None = None
    quiet_end: str | None = None
    paused_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class DosingSession:
    id: int
    starts_at: datetime


class CheckinRepo(Protocol):
    async def get(self, user_id: int, checkin_id: int) -> CheckinRecord | None: ...
    async def find_answerable(self, user_id: int, instrument: str, now: datetime) -> CheckinRecord | None: ...
    async def create_manual(
        self, user_id: int, instrument: str, now: datetime, content_version: int | None = None
    ) -> CheckinRecord: ...
    async def mark_open(self, checkin_id: int, now: datetime, content_version: int | None = None) -> None: ...
    async def finish(self, checkin_id: int, now: datetime) -> None: ...
    async def cancel(self, checkin_id: int, now: datetime) -> None: ...
    async def answers(self, user_id: int, checkin_id: int) -> dict[str, Answer]: ...
    async def save_answer(self, user_id: int, checkin_id: int, item_id: str, answer: Answer, now: datetime) -> None: ...
    async def history(self, user_id: int, since: datetime) -> list[PastCheckin]: ...


class ScheduleRepo(Protocol):
    """Every change replans the person's pending slots in the same transaction."""

    async def get(self, user_id: int) -> ScheduleSettings: ...
    async def save(self, user_id: int, settings: ScheduleSettings, now: datetime) -> list[CheckinRecord]: ...
    async def replan(self, user_id: int, now: datetime) -> list[CheckinRecord]: ...
    async def upcoming(self, user_id: int, now: datetime, limit: int = 5) -> list[CheckinRecord]: ...
    async def sessions(self, user_id: int, since: datetime | None = None) -> list[DosingSession]: ...
    async def add_session(self, user_id: int, starts_at: datetime, zone: str, now: datetime) -> DosingSession: ...
    async def remove_session(self, user_id: int, session_id: int, now: datetime) -> bool: ...


@dataclass(frozen=True, slots=True)
class EscalationRecord:
    id: int
    level: str
    created_at: datetime


class EscalationRepo(Protocol):
    async def last(self, user_id: int) -> EscalationRecord | None: ...
    async def record(
        self, user_id: int, level: str, source: str, category: str | None, note: str | None, follow_up: bool,
        at: datetime | None = None,
    ) -> int: ...
    async def set_outcome(self, user_id: int, checkin_id: int | None, outcome: str) -> bool: ...


class CorrectionRepo(Protocol):
    async def correct(
        self, user_id: int, checkin_id: int, item_id: str, answer: Answer, now: datetime, keep_old: bool
    ) -> None: ...


class SafetyPlanRepo(Protocol):
    async def get(self, user_id: int) -> SafetyPlan | None: ...
    async def save(self, user_id: int, plan: SafetyPlan) -> None: ...


class Tx(Protocol):
    """One unit of work: everything in it commits together or not at all."""

    users: UserRepo
    lessons: LessonRepo
    checkins: CheckinRepo
    schedules: ScheduleRepo
    escalations: EscalationRepo
    safety_plans: SafetyPlanRepo
    journal: JournalRepo
    corrections: CorrectionRepo


class Store(Protocol):
    def transaction(self, *, patience_ms: int | None = None) -> AbstractAsyncContextManager[Tx]:
        """A unit of work; with ``patience_ms``, ``StoreBusy`` if another writer holds the
        database longer than that (else the busy timeout applies)."""
        ...

    async def peek_user(self, platform: str, platform_user_id: str) -> UserRecord | None:
        """The person's settings, read without waiting for any writer (crisis replies)."""
        ...

    async def purge_traces(self) -> None:
        """Make deleted rows unrecoverable from the database files (WAL included)."""
        ...
