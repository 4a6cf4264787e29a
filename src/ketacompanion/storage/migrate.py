"""Schema migrations (Alembic), applied at start and by ``ketacompanion db upgrade``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def upgrade(engine: AsyncEngine, cipher: Callable[[Connection], Any] | None = None) -> str | None:
    """Bring the schema to the newest revision; return it. ``cipher`` gives the data key
    to migrations that encrypt values already stored."""

    def _run(conn: Connection) -> str | None:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        if cipher is not None:
            cfg.attributes["cipher"] = cipher
        command.upgrade(cfg, "head")
        return MigrationContext.configure(conn).get_current_revision()

    async with engine.begin() as conn:
        return await conn.run_sync(_run)
