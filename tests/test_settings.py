from __future__ import annotations

from pathlib import Path

import pytest

from ketacompanion.settings import SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[1]


def test_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KETACOMPANION_CRISIS_COOLDOWN_MINUTES", "soon")
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert str(info.value).startswith("KETACOMPANION_CRISIS_COOLDOWN_MINUTES:")
    assert "\n" not in str(info.value)


def test_unknown_database_driver_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KETACOMPANION_DATABASE_URL", "mysql://x")
    with pytest.raises(SettingsError, match="KETACOMPANION_DATABASE_URL"):
        load_settings()


def test_env_example_documents_every_setting() -> None:
    from ketacompanion.settings import Settings

    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    missing = [name for name in Settings.model_fields if f"KETACOMPANION_{name.upper()}" not in example]
    assert missing == []
