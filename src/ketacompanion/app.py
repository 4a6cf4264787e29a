"""The composition root: settings in, a running companion and its adapters out."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from ketacompanion.admin_service import AdminService
from ketacompanion.announcements import Announcements
from ketacompanion.charts import MatplotlibCharts
from ketacompanion.charts import warm_in_background as warm_charts_in_background
from ketacompanion.content.catalog import Content, ContentHolder, load_content
from ketacompanion.content.crisis_model import WeightsError, load_model
from ketacompanion.content.lesson_search import ContentFinder
from ketacompanion.content_live import LiveContent
from ketacompanion.core.admin import AdminBackend, AdminFlow
from ketacompanion.core.announce_prefs import AnnouncementsFlow
from ketacompanion.core.checkins import CheckinFlow
from ketacompanion.core.clock import SystemClock
from ketacompanion.core.companion import Command, Companion, Screener
from ketacompanion.core.crisis.detector import Detector
from ketacompanion.core.crisis.modelscreen import Encoder, ModelScreen
from ketacompanion.core.crisis.pending import PendingEscalations
from ketacompanion.core.crisis.policy import CrisisPolicy
from ketacompanion.core.crisis.screener import LayeredScreener
from ketacompanion.core.events import Events
from ketacompanion.core.free_text import FreeText
from ketacompanion.core.help import help_command
from ketacompanion.core.history import ChartRenderer, HistoryFlow
from ketacompanion.core.history_edit import HistoryEditFlow
from ketacompanion.core.journal import JournalFlow
from ketacompanion.core.lessons import LessonFlow
from ketacompanion.core.onboarding import Onboarding, SettingsFlow, home
from ketacompanion.core.placenames import warm_in_background
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
from ketacompanion.storage.keycheck import migration_cipher, open_cipher
from ketacompanion.storage.migrate import upgrade
from ketacompanion.storage.store import SqlStore

log = logging.getLogger(__name__)
# How long a close waits for start-up's warm-ups (a few seconds at most on a slow machine).
WARM_JOIN_S = 20.0

EncoderLoader = Callable[[], Encoder]


class CrisisModelUnusable(SystemExit):
    """The crisis model's weights cannot be used (missing, truncated, built from other
    data or for another encoder). A SystemExit carrying one line, so every entry point
    stops with that line instead of a traceback: screening with a model the figures do
    not describe would be worse than not starting."""


def _default_encoder() -> Encoder:
    from ketacompanion.encoders import UseEncoder

    return UseEncoder()


def crisis_screener(settings: Settings, content: ContentHolder, encoder: EncoderLoader | None = None) -> LayeredScreener:
    """The live rules, then the model layer unless switched off. Bad weights stop the
    start; an encoder that cannot load leaves the rules alone, with a loud log line."""

    def rules() -> Detector:
        return content.current.detector

    budget = settings.crisis_model_budget_ms / 1000
    if not settings.crisis_model:
        return LayeredScreener(rules, None, budget, unavailable="KETACOMPANION_CRISIS_MODEL is false")
    try:
        weights = load_model(settings.content_dir / "crisis")
    except WeightsError as exc:
        raise CrisisModelUnusable(f"ketacompanion: {exc} (or set KETACOMPANION_CRISIS_MODEL=false)") from None
    try:
        loaded = (encoder or _default_encoder)()
    except Exception as exc:  # a broken install: the rules still screen every message
        return LayeredScreener(rules, None, budget, unavailable=f"the encoder did not load ({type(exc).__name__})")
    if loaded.name != weights.encoder:
        raise CrisisModelUnusable(
            f"ketacompanion: the crisis model was trained with {weights.encoder}, not {loaded.name}; "
            "run `ketacompanion crisis train`"
        )
    return LayeredScreener(rules, ModelScreen(loaded, weights.model, weights.thresholds), budget)


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
    screener: LayeredScreener | None = None
    # Start-up's background warm-ups (city table, matplotlib, the heap freeze after them).
    warming: tuple[threading.Thread, ...] = ()

    def add_sender(self, sender: Sender) -> None:
        """An adapter offers itself to the outbox for its platform."""
        self.senders[sender.platform] = sender

    async def close(self) -> None:
        if self.companion.pending is not None:
            await self.companion.pending.close()  # escalations still waiting for a busy database
        if self.live is not None:
            self.live.close()
        if self.screener is not None:
            self.screener.close()
        self.delivery.close()
        await self.store.close()
        # A process that stops seconds after it started must not exit under a warm-up: a
        # daemon thread still inside matplotlib's C++ code when the interpreter finalizes
        # aborts the process ("terminate called without an active exception").
        await asyncio.to_thread(_join, self.warming, WARM_JOIN_S)


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
    onboarding.on_country_change(plan.country_changed)
    checkins = CheckinFlow(content, crisis)
    schedule, sessions = ScheduleFlow(), SessionsFlow()
    history = HistoryFlow(content, charts or MatplotlibCharts())
    finder = ContentFinder(content)
    finder.warm(default_language)
    journal, free_text = JournalFlow(), FreeText(content, finder)
    corrections = HistoryEditFlow(content, crisis)
    commands = {
        "start": Command(onboarding.start),
        "help": Command(help_command),
        "privacy": Command(privacy),
        "export": Command(export),
        "delete": Command(delete.begin),
        "settings": Command(onboarding.settings, needs_consent=True, private_only=True),
        "learn": Command(lessons.command),
        "safetyplan": Command(plan.command, needs_consent=True, private_only=True),
        "checkin": Command(checkins.command, needs_consent=True, private_only=True, needs_timezone=True),
        "schedule": Command(schedule.command, needs_consent=True, private_only=True, needs_timezone=True),
        "pause": Command(schedule.pause_command, needs_consent=True, private_only=True, needs_timezone=True),
        "resume": Command(schedule.resume_command, needs_consent=True, private_only=True, needs_timezone=True),
        "sessions": Command(sessions.command, needs_consent=True, private_only=True, needs_timezone=True),
        "mood": Command(history.mood_command, needs_consent=True, private_only=True, needs_timezone=True),
        "summary": Command(history.summary_command, needs_consent=True, private_only=True, needs_timezone=True),
        "journal": Command(journal.command, needs_consent=True, private_only=True),
        "history": Command(corrections.command, needs_consent=True, private_only=True),
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
        journal.name: journal,
        corrections.name: corrections,
        "ann": AnnouncementsFlow(SqlAnnouncementPrefs()),
    }
    admin_flow = AdminFlow(admin) if admin is not None else None
    if admin_flow is not None:
        commands["admin"] = Command(admin_flow.command, private_only=True, visible=admin_flow.visible)
        flows[admin_flow.name] = admin_flow
    return Companion(
        store, clock, text, screener, crisis, commands, flows,
        consent_prompt=onboarding.consent_prompt, home=home, default_language=default_language,
        pending=PendingEscalations(store),
        snapshot=content.pinned, documents=admin_flow.document if admin_flow else None,
        free_text=free_text.answer,
        setup=onboarding,
    )


def load_all_content(settings: Settings, clock: Clock) -> Content:
    return load_content(settings.content_dir, clock.now().date() if clock else date.today())


async def build_app(
    settings: Settings,
    clock: Clock | None = None,
    content_set: Content | None = None,
    admins: Mapping[tuple[str, str], frozenset[str]] | None = None,
    encoder: EncoderLoader | None = None,
) -> App:
    """Everything wired; ``content_set`` skips loading the content again (tests, reloads);
    ``encoder`` replaces the crisis model's sentence encoder (tests)."""
    clock = clock or SystemClock()
    _one_blas_thread()
    content = ContentHolder(content_set or load_all_content(settings, clock))
    detector = crisis_screener(settings, content, encoder)
    engine = create_engine(settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    try:
        key = settings.data_key.get_secret_value() if settings.data_key else None
        await upgrade(engine, migration_cipher(key, settings.key_file))
        cipher = await open_cipher(engine, key, settings.key_file)
    except BaseException:
        await engine.dispose()
        raise
    places = warm_in_background()  # the city table, so that the first timezone answer is quick
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
        reminder_delay=timedelta(minutes=settings.checkin_reminder_minutes), content=content,
        busy_timeout_ms=settings.sqlite_busy_timeout_ms,
    )
    _freeze_startup_heap()
    charts = warm_charts_in_background()
    freezing = _freeze_when_warm(places, charts)
    return App(
        settings, clock, engine, store, content, companion, delivery, senders, events, live=live, screener=detector,
        warming=(places, charts, freezing),
    )


@cache
def _one_blas_thread() -> None:
    """Once per process: every numpy product on one BLAS thread, not only the encoder's.
    The encoder limits itself per call, but the classifier after it ran at the default
    (one thread a core), and OpenBLAS threads spin for a while after each product: on a
    shared 2-core machine that burned about a third more CPU per message for nothing."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")  # not as a context: for good


@cache
def _freeze_startup_heap() -> None:
    """Once per process, after the first start-up: what it loaded (content, the crisis
    model, look-up tables) lives as long as the process, so the collector's full passes,
    which a fan-out of thousands of rows sets off, need not walk all of it each time."""
    gc.collect()
    gc.freeze()


def _join(threads: tuple[threading.Thread, ...], within_s: float) -> None:
    deadline = time.monotonic() + within_s
    for thread in threads:
        thread.join(max(deadline - time.monotonic(), 0.0))
    if any(thread.is_alive() for thread in threads):
        log.warning("a start-up warm-up was still running at close")


@cache
def _freeze_when_warm(*warming: threading.Thread) -> threading.Thread:
    """Once per process: the same for what the background warm-ups load after start-up
    (the city table and matplotlib, most of the heap), when they are done. Left to the
    collector, every full pass walked those few hundred thousand objects, a pause of
    about 0.15 s that fell on whichever turn was running."""

    def freeze() -> None:
        for thread in warming:
            thread.join()
        gc.collect()
        gc.freeze()

    thread = threading.Thread(target=freeze, name="heap-freeze", daemon=True)
    thread.start()
    return thread


def build_community(app: App, checkins_offered: bool, screening_available: bool) -> tuple[Any, Any]:
    """The rules for community servers (what is shown where, screening, moderator alerts)
    and their /setup, for a platform that has servers (Discord)."""
    from ketacompanion.core.alerts import Alerts
    from ketacompanion.core.community import Community
    from ketacompanion.core.community_setup import ServerSetup

    settings, text = app.settings, texts(app.content)
    alerts = Alerts(
        app.store, app.clock, text, timedelta(minutes=settings.discord_alert_cooldown_minutes),
        settings.default_language,
    )  # fmt: skip
    crisis = app.companion.crisis
    community = Community(
        app.store, app.clock, text, app.companion.handle, app.companion.screen_only, alerts,
        crisis.card_for, checkins_offered, timedelta(minutes=settings.crisis_cooldown_minutes),
        settings.default_language,
    )  # fmt: skip
    setup = ServerSetup(
        app.store, app.clock, text, lambda: app.content.current.helplines.codes, screening_available,
        settings.default_language,
    )  # fmt: skip
    return community, setup


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
