"""Settings for a command, shared by every command module: ``--db`` overrides the
database, and a bad setting ends the command with one line naming it."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import typer

from ketacompanion.settings import Settings, SettingsError, load_settings


def command_settings(db: Path | None = None) -> Settings:
    overrides: dict[str, object] = {}
    if db is not None:
        overrides["database_url"] = f"sqlite+aiosqlite:///{db}"
    try:
        return load_settings(**overrides)
    except SettingsError as exc:
        exit_with(f"bad setting: {exc}")


def exit_with(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"ketacompanion: {message}", err=True)
    raise typer.Exit(code)
