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

schedules = Table(
    "schedules",
    metadata,
    Column("user_id", _ID, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("daily_time", String(5)),  # "HH:MM" in the person's timezone
    Column("weekly_day", Integer),  # 0 Monday .. 6 Sunday
    Column("weekly_time", String(5)),
    Column("quiet_start", String(5)),
    Column("quiet_end", String(5)),
    Column("paused_until", UTC),
    Column("updated_at", UTC, nullable=False),
)

dosing_sessions = Table(
    "dosing_sessions",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    _owner(),
    Column("starts_at", UTC, nullable=False),
    Column("created_at", UTC, nullable=False),
)

# One row per due prompt: the log of due, sent, reminded, answered or missed.
checkins = Table(
    "checkins",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    _owner(),
    Column("kind", String(24), nullable=False),  # daily, weekly, session_prep, ...
    Column("instrument", String(32)),
    Column("session_id", _ID, ForeignKey("dosing_sessions.id", ondelete="CASCADE")),
    Column("due_at", UTC, nullable=False),
    Column("expires_at", UTC, nullable=False),
    Column("status", String(12), nullable=False),  # pending, sent, reminded, open, answered, missed, unreachable, cancelled
    Column("sent_at", UTC),
    Column("reminded_at", UTC),
    Column("opened_at", UTC),
    Column("answered_at", UTC),
    Column("closed_at", UTC),
    Column("created_at", UTC, nullable=False),
    UniqueConstraint("user_id", "kind", "due_at"),
)
Index("ix_checkins_status_due", checkins.c.status, checkins.c.due_at)

checkin_answers = Table(
    "checkin_answers",
    metadata,
    Column("checkin_id", _ID, ForeignKey("checkins.id", ondelete="CASCADE"), primary_key=True),
    Column("item_id", String(32), primary_key=True),
    _owner(),
    Column("value_enc", LargeBinary, nullable=False),
    Column("answered_at", UTC, nullable=False),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    _owner(),
    Column("checkin_id", _ID, ForeignKey("checkins.id", ondelete="CASCADE")),
    Column("purpose", String(16), nullable=False),  # prompt, reminder, followup, notice
    Column("platform", String(16), nullable=False),
    Column("chat_id", String(64), nullable=False),
    Column("payload_enc", LargeBinary, nullable=False),
    Column("status", String(12), nullable=False),  # queued, sending, sent, failed, unreachable
    Column("attempts", Integer, nullable=False, default=0),
    Column("not_before", UTC, nullable=False),
    Column("claimed_by", String(64)),
    Column("claimed_at", UTC),
    Column("created_at", UTC, nullable=False),
    Column("sent_at", UTC),
)
Index("ix_outbox_status_not_before", outbox.c.status, outbox.c.not_before)

escalations = Table(
    "escalations",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    _owner(),
    Column("level", String(8), nullable=False),
    Column("source", String(16), nullable=False),  # message, checkin, command, button
    Column("category", String(24)),
    Column("created_at", UTC, nullable=False),
    Column("followup_hour_at", UTC),
    Column("followup_day_at", UTC),
    Column("outcome", String(24)),
    Column("note_enc", LargeBinary),
)

safety_plans = Table(
    "safety_plans",
    metadata,
    Column("user_id", _ID, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("plan_enc", LargeBinary, nullable=False),
    Column("updated_at", UTC, nullable=False),
)

# Which column owns each user-data table (export and delete walk this).
USER_TABLES: dict[str, str] = {
    "users": "id",
    "dialogue": "user_id",
    "lesson_progress": "user_id",
    "schedules": "user_id",
    "dosing_sessions": "user_id",
    "checkins": "user_id",
    "checkin_answers": "user_id",
    "outbox": "user_id",
    "escalations": "user_id",
    "safety_plans": "user_id",
    "announcement_optout": "user_id",
}

# Tables that hold no personal data.
SYSTEM_TABLES: frozenset[str] = frozenset({"meta", "alembic_version"}) | frozenset(
    {"content_versions", "content_files", "content_live", "content_loads", "admin_roles", "admin_audit",
     "announcements"}
)

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", LargeBinary, nullable=False),
)

Index("ix_lesson_progress_updated", lesson_progress.c.user_id, lesson_progress.c.updated_at)




# --- content versions, admin roles and the audit log (no patient data) ---------------------

content_versions = Table(
    "content_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),  # the version number
    Column("hash", String(64), nullable=False),
    Column("published_by", String(96), nullable=False),
    Column("published_at", UTC, nullable=False),
    Column("note", String(500), nullable=False),
    Column("kind", String(12), nullable=False),  # seed, publish, rollback, review
    Column("restored_from", Integer),
    Column("validation", JSON, nullable=False),
    Column("changes", JSON, nullable=False),
    Column("file_count", Integer, nullable=False),
    Column("total_bytes", BigInteger, nullable=False),
)

content_files = Table(
    "content_files",
    metadata,
    Column("version", Integer, ForeignKey("content_versions.id", ondelete="CASCADE"), primary_key=True),
    Column("path", String(255), primary_key=True),
    Column("sha256", String(64), nullable=False),
    Column("data", LargeBinary, nullable=False),
)

# One row (id 1): the live version. Every process polls it; a publish updates it last,
# in the same transaction as the version's files.
content_live = Table(
    "content_live",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("version", Integer, ForeignKey("content_versions.id"), nullable=False),
    Column("changed_at", UTC, nullable=False),
    Column("changed_by", String(96), nullable=False),
)

# What each running process made of each version: loaded, or failed and kept the old one.
content_loads = Table(
    "content_loads",
    metadata,
    Column("process", String(96), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("status", String(12), nullable=False),  # loaded, failed
    Column("detail", String(500), nullable=False, default=""),
    Column("at", UTC, nullable=False),
    Column("seen_at", UTC, nullable=False),
)

admin_roles = Table(
    "admin_roles",
    metadata,
    Column("platform", String(16), primary_key=True),
    Column("platform_user_id", String(64), primary_key=True),
    Column("role", String(16), primary_key=True),
    Column("name", String(96), nullable=False, default=""),
    Column("title", String(96), nullable=False, default=""),  # a reviewer's role as they registered it
    Column("granted_by", String(96), nullable=False),
    Column("granted_at", UTC, nullable=False),
)

admin_audit = Table(
    "admin_audit",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("at", UTC, nullable=False),
    Column("actor", String(96), nullable=False),
    Column("action", String(24), nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("detail", JSON, nullable=False),
)
Index("ix_admin_audit_at", admin_audit.c.at)

# The text itself goes only into each recipient's (encrypted) outbox row.
announcements = Table(
    "announcements",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("created_by", String(96), nullable=False),
    Column("created_at", UTC, nullable=False),
    Column("audience", String(48), nullable=False),
    Column("text_sha256", String(64), nullable=False),
    Column("queued", Integer, nullable=False),
    Column("unreachable", Integer, nullable=False),
)

announcement_optout = Table(
    "announcement_optout",
    metadata,
    Column("user_id", _ID, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("at", UTC, nullable=False),
)
