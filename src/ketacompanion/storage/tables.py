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
    # Plain: the scheduler claims and words prompts by kind. A followup_* kind reveals that a
    # crisis was recorded for the person at about that time, no more (level, category and
    # words are in escalations, encrypted).
    Column("kind", String(24), nullable=False),  # daily, weekly, session_prep, ...
    Column("instrument", String(32)),
    Column("session_id", _ID, ForeignKey("dosing_sessions.id", ondelete="CASCADE")),
    Column("due_at", UTC, nullable=False),
    Column("expires_at", UTC, nullable=False),
    # pending, queued, sent, reminded, open, answered, missed, unreachable, cancelled, or
    # sent_unconfirmed: the send's outcome could not be known (it may have arrived), so it is
    # answerable like a sent one and never recorded as missed.
    Column("status", String(20), nullable=False),
    Column("sent_at", UTC),
    Column("reminded_at", UTC),
    Column("opened_at", UTC),
    Column("answered_at", UTC),
    Column("closed_at", UTC),
    Column("created_at", UTC, nullable=False),
    # The content version its prompt was worded from (at claim, or when a manual one
    # opens): its reminder, questions and scoring come from that version too.
    Column("content_version", Integer),
    UniqueConstraint("user_id", "kind", "due_at"),
)
# Claim order (storage/planner.py): the first due rows come straight off the index.
Index("ix_checkins_status_due_id", checkins.c.status, checkins.c.due_at, checkins.c.id)

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
    Column("status", String(20), nullable=False),  # queued, sending, sent, failed, unreachable, sent_unconfirmed
    Column("attempts", Integer, nullable=False, default=0),  # sends begun, written before each send
    Column("unconfirmed", Integer, nullable=False, default=0, server_default="0"),  # of those, outcome unknown
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
    # Level (crisis, concern), source (message, checkin, command, button) and category are
    # health data: encrypted like the words. Nothing the scheduler needs is read from here.
    Column("level_enc", LargeBinary, nullable=False),
    Column("source_enc", LargeBinary, nullable=False),
    Column("category_enc", LargeBinary),
    Column("created_at", UTC, nullable=False),
    Column("followup_hour_at", UTC),
    Column("followup_day_at", UTC),
    # Every outcome of the episode, oldest first, as JSON [{"outcome", "at"}]: "ok" after
    # "danger" must not erase the "danger".
    Column("outcomes_enc", LargeBinary),
    Column("note_enc", LargeBinary),
)

safety_plans = Table(
    "safety_plans",
    metadata,
    Column("user_id", _ID, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("plan_enc", LargeBinary, nullable=False),
    Column("updated_at", UTC, nullable=False),
)

# Community servers (Discord guilds) and their setup: the server's choices, not a person's.
communities = Table(
    "communities",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("platform", String(16), nullable=False),
    Column("community_id", String(32), nullable=False),
    Column("alert_channel_id", String(32)),
    Column("moderator_role_id", String(32)),
    Column("country", String(2)),
    Column("updated_at", UTC, nullable=False),
    UniqueConstraint("platform", "community_id", name="uq_communities_platform"),
)

community_channels = Table(
    "community_channels",
    metadata,
    Column("community", _ID, ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True),
    Column("channel_id", String(32), primary_key=True),
    Column("mode", String(8), nullable=False),  # screened or venting
)

screening_optouts = Table(
    "screening_optouts",
    metadata,
    Column("user_id", _ID, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("community", _ID, ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True),
    Column("created_at", UTC, nullable=False),
)

# When a member last got the crisis card from channel screening in a server: one card per
# cooldown, across restarts and across processes on one database.
screening_cards = Table(
    "screening_cards",
    metadata,
    Column("user_id", _ID, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("community", _ID, ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True),
    Column("carded_at", UTC, nullable=False),
)

moderator_alerts = Table(
    "moderator_alerts",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    _owner(),
    Column("community", _ID, ForeignKey("communities.id", ondelete="CASCADE"), nullable=False),
    Column("source", String(16), nullable=False),  # message or command
    Column("status", String(12), nullable=False),  # offered, declined, expired, sent, failed, taken, resolved
    Column("share", String(8)),  # nothing, asked or words: the member's choice
    # Before the choice: what could be shared; after it: exactly what was shared.
    Column("fields_enc", LargeBinary),
    Column("created_at", UTC, nullable=False),
    Column("decided_at", UTC),
    Column("alert_channel_id", String(32)),
    Column("message_id", String(32)),
    Column("sent_at", UTC),
    Column("repinged_at", UTC),
    Column("taken_by", String(32)),
    Column("taken_at", UTC),
    Column("resolved_by", String(32)),
    Column("resolved_at", UTC),
)
Index("ix_moderator_alerts_user_created", moderator_alerts.c.user_id, moderator_alerts.c.created_at)
Index("ix_moderator_alerts_status_sent", moderator_alerts.c.status, moderator_alerts.c.sent_at)
# Notes a person chose to keep (a feeling typed to the bot, or /journal); a draft is
# not kept until they say so, and is dropped if they decline.
journal_entries = Table(
    "journal_entries",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    _owner(),
    Column("created_at", UTC, nullable=False),
    Column("text_enc", LargeBinary, nullable=False),
    Column("kept", Boolean, nullable=False, default=False),
    Column("in_summary", Boolean, nullable=False, default=False),
)
Index("ix_journal_entries_user_created", journal_entries.c.user_id, journal_entries.c.created_at)

# Earlier answers a person corrected (the current one stays in checkin_answers).
checkin_answer_versions = Table(
    "checkin_answer_versions",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("checkin_id", _ID, ForeignKey("checkins.id", ondelete="CASCADE"), nullable=False),
    Column("item_id", String(32), nullable=False),
    _owner(),
    Column("value_enc", LargeBinary, nullable=False),
    Column("answered_at", UTC, nullable=False),
    Column("replaced_at", UTC, nullable=False),
)

# What the clinician summary prints about its owner: a name or initials they chose.
summary_profiles = Table(
    "summary_profiles",
    metadata,
    Column("user_id", _ID, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("name_enc", LargeBinary),
    Column("updated_at", UTC, nullable=False),
)

# The answer to the soft check's direct question ("are you having thoughts of ending
# your life?"), kept like a check-in answer: encrypted, exported, deleted.
concern_answers = Table(
    "concern_answers",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    _owner(),
    Column("escalation_id", _ID),  # the escalation it answered, when there was one
    Column("answer_enc", LargeBinary, nullable=False),
    Column("answered_at", UTC, nullable=False),
)

# Updates a chat platform was told were received but that a stop left unhandled, kept
# for the next start (which takes and deletes them). The raw update is health data (what
# someone wrote), so it is encrypted; ``user_id`` is the sender when already known (export
# and delete reach the row through it), else NULL: a first message, sealed with owner 0.
pending_updates = Table(
    "pending_updates",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),  # the order they are handled in
    Column("platform", String(16), nullable=False),
    Column("user_id", _ID, ForeignKey("users.id", ondelete="CASCADE"), nullable=True),
    Column("payload_enc", LargeBinary, nullable=False),
    Column("kept_at", UTC, nullable=False),
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
    "screening_optouts": "user_id",
    "screening_cards": "user_id",
    "moderator_alerts": "user_id",
    "journal_entries": "user_id",
    "checkin_answer_versions": "user_id",
    "summary_profiles": "user_id",
    "concern_answers": "user_id",
    "announcement_optout": "user_id",
    "pending_updates": "user_id",
}

# Tables that hold no personal data.
SYSTEM_TABLES: frozenset[str] = frozenset({"meta", "alembic_version", "communities", "community_channels"}) | frozenset(
    {"content_versions", "content_files", "content_live", "content_loads", "admin_roles", "admin_audit",
     "announcements", "admin_pending"}
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

# A checked upload waiting for its Publish button: any process may answer the press.
admin_pending = Table(
    "admin_pending",
    metadata,
    Column("token", String(32), primary_key=True),
    Column("kind", String(12), nullable=False),  # upload
    Column("actor", String(96), nullable=False),
    Column("digest", String(64), nullable=False),  # the content hash of what was previewed
    Column("live", Integer),  # the live version it was checked against
    Column("payload", LargeBinary, nullable=False),
    Column("created_at", UTC, nullable=False),
    Column("expires_at", UTC, nullable=False),
)
