"""Small helpers every repository shares: what an encrypted field is bound to, and UTC."""

from __future__ import annotations

from datetime import UTC, datetime


def enc_context(table: str, column: str, user_id: int) -> str:
    """The associated data of a field's ciphertext: a value moved to another row or
    column does not decrypt."""
    return f"{table}.{column}:{user_id}"


def aware(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything we store is UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value
