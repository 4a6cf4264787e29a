"""Shared fixtures: a real database (SQLite file, and PostgreSQL when configured),
the real content, a fake clock, and a small chat driver."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from ketacompanion.app import App, build_app
from ketacompanion.content.catalog import Content, load_content
from ketacompanion.core.clock import FakeClock
from ketacompanion.core.crisis.detector import Detector
from ketacompanion.core.model import Address, Choice, Inbound, Reply
from ketacompanion.settings import Settings, load_settings
from ketacompanion.storage.tables import metadata

# python-telegram-bot warns on RetryAfter.retry_after unless this is set; warnings are errors here.
os.environ.setdefault("PTB_TIMEDELTA", "true")

ROOT = Path(__file__).resolve().parents[1]
CONTENT = ROOT / "content"


def own_database(url: str | None) -> str | None:
    """A PostgreSQL database of this checkout's own, created on first use.

    Two checkouts on one server (CI beside a developer, or two branches) would otherwise
    truncate each other's tables mid-test and apply each other's migrations."""
    if not url:
        return None
    import asyncpg
    from sqlalchemy.engine import make_url

    base = make_url(url)
    name = f"{base.database}_{hashlib.sha1(str(ROOT).encode()).hexdigest()[:10]}"

    async def create() -> None:
        dsn = base.set(drivername="postgresql").render_as_string(hide_password=False)
        conn = await asyncpg.connect(dsn)
        try:
            if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                try:
                    await conn.execute(f'CREATE DATABASE "{name}"')
                except asyncpg.DuplicateDatabaseError:
                    pass  # another worker of the same checkout created it first
        finally:
            await conn.close()

    asyncio.run(create())
    return base.set(database=name).render_as_string(hide_password=False)


PG_URL = own_database(os.environ.get("KETACOMPANION_TEST_DATABASE_URL"))
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])
TEST_KEY = base64.urlsafe_b64encode(b"k" * 32).decode()


async def reset_postgres(url: str) -> None:
    """Empty every table (migrations stay applied: recreating the schema per test is slow)."""
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        existing = set(
            (await conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"))).scalars()
        )
        names = [name for name in metadata.tables if name in existing]
        if names:
            await conn.execute(text(f"TRUNCATE {', '.join(names)} RESTART IDENTITY CASCADE"))
    await engine.dispose()


@pytest.fixture(params=BACKENDS)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
        return
    assert PG_URL is not None
    await reset_postgres(PG_URL)
    yield PG_URL
    await reset_postgres(PG_URL)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"


@pytest.fixture
def clock() -> FakeClock:
    # A Monday morning in November, UTC.
    return FakeClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))


def make_settings(database_url: str, tmp_path: Path, **extra: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "data_key": TEST_KEY,
        "key_file": tmp_path / "keys" / "data.key",
        "content_dir": CONTENT,
        "export_dir": tmp_path / "exports",
        # The real crisis model loads in its own tests (test_crisis_model.py); the rest
        # inject a fake encoder or screen with the rules alone, so they stay fast.
        "crisis_model": False,
    }
    return load_settings(**(values | extra))


@pytest.fixture(scope="session")
def content_set() -> Content:
    """The shipped content, loaded once: reading and grading it is the slow part of a start."""
    return load_content(CONTENT, date(2026, 11, 23))


@pytest.fixture
async def app(database_url: str, tmp_path: Path, clock: FakeClock, content_set: Content) -> AsyncIterator[App]:
    built = await build_app(make_settings(database_url, tmp_path), clock, content_set)
    yield built
    await built.close()


class Chat:
    """Drives the companion as one person would."""

    def __init__(self, app: App, user: str = "u1", platform: str = "console", language: str | None = "en") -> None:
        self.app, self.user, self.language = app, user, language
        self.address = Address(platform, user)
        self.last: list[Reply] = []

    async def say(self, text: str) -> list[Reply]:
        inbound = Inbound.from_text(self.address, self.user, text, language=self.language)
        self.last = await self.app.companion.handle(inbound)
        return self.last

    async def tap(self, choice: str) -> list[Reply]:
        inbound = Inbound.from_choice(self.address, self.user, choice, language=self.language)
        self.last = await self.app.companion.handle(inbound)
        return self.last

    def choices(self) -> list[Choice]:
        return [c for r in self.last for c in r.choices if c.url is None]

    def choice(self, prefix: str) -> str:
        """The id of the first button whose id starts with ``prefix``."""
        for c in self.choices():
            if c.id.startswith(prefix):
                return c.id
        raise AssertionError(f"no button {prefix!r} in {[c.id for c in self.choices()]}")

    def text(self) -> str:
        return "\n".join(r.text for r in self.last)

    async def onboard(self, country: str = "US", zone: str = "America/New_York") -> None:
        await self.say("/start")
        await self.tap("start:agree")
        await self.tap(f"start:country:{country}")
        if any(c.id.startswith("start:tz:") for c in self.choices()):
            await self.tap(f"start:tz:{zone.replace('/', '|')}")


def detector_from(tmp_path: Path, phrases_yaml: str) -> Detector:
    """A rule detector over a small phrase file written for one test module."""
    path = tmp_path / "phrases.yaml"
    path.write_text(phrases_yaml, encoding="utf-8")
    return Detector.from_file(path)


@pytest.fixture
def chat(app: App) -> Chat:
    return Chat(app)


@pytest.fixture(scope="session")
def real_screen() -> Iterator[object]:
    """The shipped rules and model with the real encoder, loaded once for the whole run."""
    from ketacompanion.content.crisis_model import load_model
    from ketacompanion.core.crisis.detector import Detector
    from ketacompanion.core.crisis.modelscreen import ModelScreen
    from ketacompanion.core.crisis.screener import LayeredScreener
    from ketacompanion.encoders import UseEncoder

    weights = load_model(CONTENT / "crisis")
    detector = Detector.from_file(CONTENT / "crisis" / "phrases.yaml")
    screener = LayeredScreener(lambda: detector, ModelScreen(UseEncoder(), weights.model, weights.thresholds))
    yield screener
    screener.close()


@pytest.fixture
async def discord_bot(
    database_url: str, tmp_path: Path, clock: FakeClock, content_set: Content, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[object]:
    """The real app under a started Discord harness (dpytest and raw interactions), with the
    message-content intent on."""
    from fakes.discord_harness import running

    monkeypatch.chdir(tmp_path)  # dpytest writes each attachment it sees to the working directory
    app = await build_app(
        make_settings(database_url, tmp_path, discord_token="x", discord_message_content=True), clock, content_set
    )
    async with running(app) as harness:
        yield harness
