"""A safety plan as a value: the seven parts and their limits. Kept apart from the
``/safetyplan`` flow so the storage ports can name it without importing the flow."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

MAX_ENTRIES = 10
MAX_CHARS = 200


@dataclass(frozen=True, slots=True)
class SafetyPlan:
    """The seven parts, in the order they are asked and shown."""

    warning_signs: tuple[str, ...] = ()
    coping: tuple[str, ...] = ()
    distractions: tuple[str, ...] = ()
    helpers: tuple[str, ...] = ()
    professionals: tuple[str, ...] = ()
    safer_surroundings: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not any(self.part(key) for key in PARTS)

    def part(self, key: str) -> tuple[str, ...]:
        if key not in PARTS:
            raise KeyError(key)
        entries: tuple[str, ...] = getattr(self, key)
        return entries

    def with_part(self, key: str, entries: tuple[str, ...]) -> SafetyPlan:
        if key not in PARTS:
            raise KeyError(key)
        return replace(self, **{key: tuple(entries)})

    def to_dict(self) -> dict[str, list[str]]:
        return {key: list(self.part(key)) for key in PARTS}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SafetyPlan:
        """Lenient: unknown keys are ignored and the limits applied again."""
        parts: dict[str, tuple[str, ...]] = {}
        for key in PARTS:
            raw = data.get(key) or []
            items = [str(item)[:MAX_CHARS] for item in raw if isinstance(item, str) and item.strip()]
            parts[key] = tuple(items[:MAX_ENTRIES])
        return cls(**parts)


PARTS: tuple[str, ...] = tuple(f.name for f in fields(SafetyPlan))
