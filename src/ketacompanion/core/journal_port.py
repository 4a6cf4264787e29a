"""What the journal needs from storage: entries a person chose to keep, encrypted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class JournalEntry:
    id: int
    created_at: datetime
    text: str
    kept: bool
    in_summary: bool


class JournalRepo(Protocol):
    async def add(self, user_id: int, text: str, now: datetime, kept: bool) -> int: ...
    async def get(self, user_id: int, entry_id: int) -> JournalEntry | None: ...
    async def keep(self, user_id: int, entry_id: int) -> bool: ...
    async def drop(self, user_id: int, entry_id: int) -> bool: ...
    async def set_in_summary(self, user_id: int, entry_id: int, value: bool) -> bool: ...
    async def recent(self, user_id: int, since: datetime | None = None, limit: int = 50) -> list[JournalEntry]: ...
    async def summary_name(self, user_id: int) -> str | None: ...
    async def set_summary_name(self, user_id: int, name: str | None, now: datetime) -> None: ...
