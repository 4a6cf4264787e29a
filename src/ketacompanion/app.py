"""The composition root: settings in, a running companion and its adapters out."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from ketacompanion.admin_service import AdminService
from ketacompanion.announcements import Announcements
from ketacompanion.charts import MatplotlibCharts
from ketacompanion.content.catalog import Content, ContentHolder, ContentScreener, load_content
from ketacompanion.content_live import LiveContent
from ketacompanion.core.admin import AdminBackend, AdminFlow
from ketacompanion.core.announce_prefs import AnnouncementsFlow
from ketacompanion.core.checkins import CheckinFlow
from ketacompanion.core.clock import SystemClock
from ketacompanion.core.companion import Command, Companion, Screener
from ketacompanion.core.crisis.detector import Screening
from ketacompanion.core.crisis.policy import CrisisPolicy
from ketacompanion.core.crisis.semantic import LayeredDetector, SemanticScreen
from ketacompanion.core.events import Events
from ketacompanion.core.help import help_command
from ketacompanion.core.history import ChartRenderer, HistoryFlow
from ketacompanion.core.lessons import LessonFlow
from ketacompanion.core.onboarding import Onboarding, SettingsFlow, home
from ketacompanion.core.ports import Clock, Sender
from ketacompanion.core.privacy import DeleteFlow, export, privacy
from ketacompanion.core.safetyplan import SafetyPlanFlow, plan_text
from ketacompanion.core.schedules import ScheduleFlow
from ketacompanion.core.sessions import SessionsFlow
from ketacompanion.core.turn import Text
from ketacompanion.delivery.engine import Delivery
from ketacompanion.delivery.outbox import Outbox
from ketacompanion.delivery.wakeup import WakeUps
from ketacompanion.publishing import Publisher
from ketacompanion.settings import Settings
from ketacompanion.storage.admin_repo import AdminRepo
from ketacompanion.storage.announce_prefs import SqlAnnouncementPrefs
from ketacompanion.storage.content_repo import ContentRepo
from ketacompanion.storage.engine import create_engine
from ketacompanion.storage.keycheck import open_cipher
from ketacompanion.storage.migrate import upgrade
from ketacompanion.storage.store import SqlStore

log = logging.getLogger(__name__)

SemanticLoader = Callable[[Path], SemanticScreen]


class SemanticScreenUnavailable(SystemExit):
    """The semantic screen is switched on but its packages are missing.

    A SystemExit carrying one line, so every entry point (terminal chat, Telegram)
    stops with that line instead of a traceback."""


class SemanticScreener:
    """The live content's rules first, then the semantic layer where they found nothing.

    The layering is rebuilt on ``holder.current.detector`` for each message, so a
    content reload swaps the rules here too."""

    def __init__(self, holder: ContentHolder, semantic: SemanticScreen) -> None:
        self._holder, self._semantic = holder, semantic

    def screen(self, text: str) -> Screening:
        rules = self._holder.current.detector
        try:
            return LayeredDetector(rules, self._semantic).screen(text)
        except Exception as exc:
            # Only the type: the message may hold the person's words.
            log.warning("semantic crisis screen failed (%s); using the rules alone", type(exc).__name__)
            return rules.screen(text)


def load_semantic(settings: Settings, loader: SemanticLoader | None = None) -> SemanticScreen:
    """Load the model once, offline, with the example sentences of the shipped phrase file."""
    os.environ["HF_HUB_OFFLINE"] = "1"  # the model ships inside a package: never fetch one
    try:
        return (loader or SemanticScreen.load)(settings.content_dir / "crisis" / "phrases.yaml")
    except ImportError as exc:
        missing = f" ({exc.name} is not installed)" if exc.name else ""
        raise SemanticScreenUnavailable(
            f"ketacompanion: KETACOMPANION_SEMANTIC_SCREEN is on but the semantic screen's "
            f"packages are missing{missing}: pip install '.[ml]' (CPU torch first: "
            f"pip install torch==2.13.0), or set it to false"
        ) from None


@dataclass
class App:
    settings: Settings
    clock: Clock
    engine: AsyncEngine
    store: SqlStore
    content: ContentHolder
    companion: Companion
    delivery: Delivery
    senders: dict[str, Sender] = field(default_factory=dict)
    events: Events = field(default_factory=Events)
    live: LiveContent | None = None

    def add_sender(self, sender: Sender) -> None:
        """An adapter offers itself to the outbox for its platform."""
        self.senders[sender.platform] = sender

    async def close(self) -> None:
        if self.live is not None:
            self.live.close()
        await self.store.close()


def texts(content: ContentHolder) -> Callable[[str], Text]:
    def for_language(lang: str) -> Text:
        def t(key: str, **values: object) -> str:
            return content.current.messages.text(key, lang, **values)

        return t

    return for_language


def build_companion(
    store: SqlStore,
    clock: Clock,
    content: ContentHolder,
    screener: Screener,
    default_language: str = "en",
    events: Events | None = None,
    crisis_cooldown: timedelta = timedelta(minutes=30),
    charts: ChartRenderer | None = None,
    admin: AdminBackend | None = None,
) -> Companion:
    text = texts(content)
    onboarding = Onboarding(enrolments=lambda: content.current.enrolment)
    delete = DeleteFlow(store)
    crisis = CrisisPolicy(content, store, text, events, crisis_cooldown, safety_plan=plan_text)
    lessons = LessonFlow(content)
    plan = SafetyPlanFlow(content, onboarding.consent_prompt)
    checkins = CheckinFlow(content, crisis)
    schedule, sessions = ScheduleFlow(), SessionsFlow()
    history = HistoryFlow(content, charts or MatplotlibCharts())
    commands = {
        "start": Command(onboarding.start),
        "help": Command(help_command),
        "privacy": Command(privacy),
        "export": Command(export),
        "delete": Command(delete.begin),
        "settings": Command(onboarding.settings, needs_consent=True, private_only=True),
        "learn": Command(lessons.command),
        "safetyplan": Command(plan.command, needs_consent=True, private_only=True),
        "checkin": Command(checkins.command, needs_consent=True, private_only=True),
        "schedule": Command(schedule.command, needs_consent=True, private_only=True),
        "pause": Command(schedule.pause_command, needs_consent=True, private_only=True),
        "resume": Command(schedule.resume_command, needs_consent=True, private_only=True),
        "sessions": Command(sessions.command, needs_consent=True, private_only=True),
        "mood": Command(history.mood_command, needs_consent=True, private_only=True),
        "summary": Command(history.summary_command, needs_consent=True, private_only=True),
    }
    flows = {
        onboarding.name: onboarding,
        "set": SettingsFlow(onboarding, content.current.messages.languages),
        delete.name: delete,
        crisis.name: crisis,
        lessons.name: lessons,
        plan.name: plan,
        checkins.name: checkins,
        schedule.name: schedule,
        sessions.name: sessions,
        history.name: history,
        "ann": AnnouncementsFlow(SqlAnnouncementPrefs()),
    }
    admin_flow = AdminFlow(admin) if admin is not None else None
    if admin_flow is not None:
        commands["admin"] = Command(admin_flow.command, private_only=True, visible=admin_flow.visible)
        flows[admin_flow.name] = admin_flow
    return Companion(
        store, clock, text, screener, crisis, commands, flows,
        consent_prompt=onboarding.consent_prompt, home=home, default_language=default_language,
        snapshot=content.pinned, documents=admin_flow.document if admin_flow else None,
    )


def load_all_content(settings: Settings, clock: Clock) -> Content:
    return load_content(settings.content_dir, clock.now().date() if clock else date.today())


async def build_app(
    settings: Settings,
    clock: Clock | None = None,
    content_set: Content | None = None,
    semantic_loader: SemanticLoader | None = None,
    admins: Mapping[tuple[str, str], frozenset[str]] | None = None,
) -> App:
    """Everything wired; ``content_set`` skips loading the content again (tests, reloads);
    ``semantic_loader`` replaces the model loader when the semantic screen is on (tests)."""
    clock = clock or SystemClock()
    content = ContentHolder(content_set or load_all_content(settings, clock))
    detector: ContentScreener | SemanticScreener = ContentScreener(content)
    if settings.semantic_screen:
        detector = SemanticScreener(content, load_semantic(settings, semantic_loader))
    engine = create_engine(settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    try:
        await upgrade(engine)
        key = settings.data_key.get_secret_value() if settings.data_key else None
        cipher = await open_cipher(engine, key, settings.key_file)
    except BaseException:
        await engine.dispose()
        raise
    store = SqlStore(
        engine, cipher, clock, timedelta(minutes=settings.checkin_window_minutes), settings.sqlite_busy_timeout_ms
    )
    content_repo = ContentRepo(engine, clock)
    live = LiveContent(content_repo, content, lambda root: load_content(root, clock.now().date()), clock)
    try:
        await live.start()  # the newest live version in the database wins over content/
    except BaseException:
        live.close()
        await store.close()
        raise
    events = Events()
    companion = build_companion(
        store, clock, content, detector, settings.default_language, events,
        timedelta(minutes=settings.crisis_cooldown_minutes),
        admin=(admin := admin_service(content_repo, clock, live, admins)),
    )
    senders: dict[str, Sender] = {}
    outbox = Outbox(engine, cipher, clock, senders, settings.send_rate_per_s)
    admin.announcements = Announcements(outbox, clock)
    delivery = Delivery(
        engine, outbox, clock, texts(content),
        window=timedelta(minutes=settings.checkin_window_minutes),
        reminder_delay=timedelta(minutes=settings.checkin_reminder_minutes),
    )
    return App(settings, clock, engine, store, content, companion, delivery, senders, events, live)


def scheduler_service(app: App) -> Callable[[asyncio.Event], Awaitable[None]]:
    """Scheduled delivery as a long-running service for ``ketacompanion run``."""

    async def service(stop: asyncio.Event) -> None:
        wakeups = WakeUps(app.delivery, app.settings.scheduler_safety_interval_s)
        wakeups.start()
        try:
            await stop.wait()
        finally:
            await wakeups.stop()

    return service


def admin_service(
    repo: ContentRepo, clock: Clock, live: LiveContent, admins: Mapping[tuple[str, str], frozenset[str]] | None
) -> AdminService:
    roles = AdminRepo(repo.engine, clock)
    publisher = Publisher(repo, roles, lambda: clock.now().date())
    return AdminService(repo, roles, publisher, clock, live, admins)


def content_service(app: App) -> Callable[[asyncio.Event], Awaitable[None]]:
    """Follow the live content version (published from the CLI or a chat) until ``stop``."""

    async def service(stop: asyncio.Event) -> None:
        if app.live is not None:
            await app.live.serve(stop, app.settings.content_poll_s)

    return service
