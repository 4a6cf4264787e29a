"""Every table. Columns ending in ``_enc`` hold AES-GCM ciphertext (see cipher.py).

Each table that holds data about a person names its owner column in ``USER_TABLES``,
so that export and delete can never forget one (a test checks the registry)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

UTC = DateTime(timezone=True)
_ID = BigInteger().with_variant(Integer(), "sqlite")  # rowid alias on SQLite


def _owner() -> Column[int]:
    return Column("user_id", _ID, ForeignKey("users.id", ondelete="CASCADE"), nullable=False)


users = Table(
    "users",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("platform", String(16), nullable=False),
    Column("platform_user_id", String(64), nullable=False),
    Column("chat_id", String(64), nullable=False),
    Column("created_at", UTC, nullable=False),
    Column("consent_at", UTC),
    Column("country", String(2)),
    Column("timezone", String(64)),
    Column("language", String(8)),
    Column("keep_notes", Boolean, nullable=False, default=False),
    Column("unreachable_at", UTC),
    Column("enrolment", String(32)),
    UniqueConstraint("platform", "platform_user_id"),
)

dialogue = Table(
    "dialogue",
    metadata,
    Column("user_id", _ID, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("flow", String(32)),
    Column("step", String(64)),
    Column("data", JSON, nullable=False, default=dict),
    Column("updated_at", UTC, nullable=False),
)

lesson_progress = Table(
    "lesson_progress",
    metadata,
    _owner(),
    Column("lesson_id", String(64), nullable=False),
    Column("card", Integer, nullable=False, default=0),
    Column("started_at", UTC, nullable=False),
    Column("completed_at", UTC),
    Column("read_version", String(10)),
    Column("quiz_choice", String(8)),
    Column("quiz_correct", Boolean),
    Column("updated_at", UTC, nullable=False),
    UniqueConstraint("user_id", "lesson_id"),
)

# Which column owns each user-data table (export and delete walk this).
USER_TABLES: dict[str, str] = {
    "users": "id",
    "dialogue": "user_id",
    "lesson_progress": "user_id",
}

# Tables that hold no personal data.
SYSTEM_TABLES: frozenset[str] = frozenset({"meta", "alembic_version"})

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", LargeBinary, nullable=False),
)

Index("ix_lesson_progress_updated", lesson_progress.c.user_id, lesson_progress.c.updated_at)


