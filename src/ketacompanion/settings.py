"""Typed settings from the environment and ``.env``, checked once at start."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DB = "sqlite+aiosqlite:///./data/ketacompanion.db"


def default_key_file() -> Path:
    # Kept outside the data directory, so a copied database file alone reveals nothing.
    return Path.home() / ".config" / "ketacompanion" / "data.key"


DISCORD_API = "https://discord.com/api/v10"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="KETACOMPANION_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    database_url: str = Field(DEFAULT_DB, description="SQLAlchemy URL: sqlite+aiosqlite or postgresql+asyncpg")
    data_key: SecretStr | None = Field(None, description="base64 32-byte key for health data; else key_file")
    key_file: Path = Field(default_factory=default_key_file)
    content_dir: Path = Field(Path("content"))
    export_dir: Path = Field(Path("data/exports"), description="where the terminal chat writes files")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "text"] = "json"
    default_language: str = "en"
    sqlite_busy_timeout_ms: int = Field(5000, ge=0, le=600_000)

    telegram_token: SecretStr | None = None
    telegram_mode: Literal["polling", "webhook"] = "polling"
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: SecretStr | None = None
    telegram_webhook_listen: str = "127.0.0.1"
    telegram_webhook_port: int = Field(8443, ge=1, le=65535)
    telegram_base_url: str = "https://api.telegram.org/bot"
    telegram_base_file_url: str = "https://api.telegram.org/file/bot"

    discord_token: SecretStr | None = None
    discord_application_id: int | None = Field(None, ge=1)
    discord_test_guild_id: int | None = Field(None, ge=1, description="sync commands to this server only")
    discord_checkins: bool = Field(True, description="offer check-ins on Discord at all")
    discord_message_content: bool = Field(False, description="the privileged intent: needed for screening")
    discord_shard_count: int | None = Field(None, ge=1, le=10_000)
    discord_shard_ids: str | None = Field(None, description="comma-separated shard ids this process runs")
    discord_alert_cooldown_minutes: int = Field(60, ge=0, le=7 * 24 * 60)
    discord_answer_within_s: float = Field(
        2.0, ge=0, le=2.5, description="answer an interaction in one response when ready this soon, else defer"
    )
    discord_api_base_url: str = Field(DISCORD_API, description="Discord's HTTP API, or a proxy in front of it")

    crisis_cooldown_minutes: int = Field(30, ge=0, le=24 * 60)
    crisis_model: bool = Field(True, description="screen by meaning too (content/crisis/model.npz), after the rules")
    crisis_model_budget_ms: int = Field(2000, ge=50, le=60_000, description="past this the rules' answer stands")
    checkin_reminder_minutes: int = Field(60, ge=1, le=24 * 60)
    checkin_window_minutes: int = Field(240, ge=10, le=48 * 60)
    scheduler_safety_interval_s: int = Field(60, ge=5, le=3600)
    send_rate_per_s: float = Field(25.0, gt=0, le=100_000)
    content_poll_s: float = Field(2.0, gt=0, le=3600, description="how often to look for a newly published version")

    def secret_values(self) -> list[str]:
        """Every secret setting's value (token, webhook secret, data key), for log redaction."""
        found = [getattr(self, name) for name in type(self).model_fields]
        return [value.get_secret_value() for value in found if isinstance(value, SecretStr)]

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return value

    @field_validator("key_file", "content_dir", "export_dir")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("discord_shard_ids")
    @classmethod
    def _shards(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not all(part.strip().isdigit() for part in value.split(",")):
            raise ValueError("must be shard numbers separated by commas, such as 0,1")
        return value

    @field_validator("default_language")
    @classmethod
    def _lang(cls, value: str) -> str:
        if not value.isalpha() or not 2 <= len(value) <= 3:
            raise ValueError("must be a language code such as 'en'")
        return value.lower()


class SettingsError(Exception):
    """One clear line naming the setting that is wrong."""


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "KETACOMPANION_" + "_".join(str(p) for p in first["loc"]).upper()
        raise SettingsError(f"{name}: {first['msg']}") from None
