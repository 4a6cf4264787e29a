from __future__ import annotations

from pathlib import Path

import pytest

from ketacompanion.cipher import DataKeyError, FieldCipher, load_key, new_key_text


def test_round_trip_and_context_binding() -> None:
    cipher = FieldCipher(b"\x01" * 32)
    token = cipher.encrypt("I slept badly", "checkin_answers.value_enc:7")
    assert b"slept" not in token
    assert cipher.decrypt(token, "checkin_answers.value_enc:7") == "I slept badly"
    with pytest.raises(DataKeyError):
        cipher.decrypt(token, "checkin_answers.value_enc:8")  # moved to another person's row
    with pytest.raises(DataKeyError):
        FieldCipher(b"\x02" * 32).decrypt(token, "checkin_answers.value_enc:7")


def test_same_text_encrypts_differently_each_time() -> None:
    cipher = FieldCipher(b"\x01" * 32)
    assert cipher.encrypt("x", "c") != cipher.encrypt("x", "c")


def test_key_file_created_private_only_when_allowed(tmp_path: Path) -> None:
    path = tmp_path / "cfg" / "data.key"
    with pytest.raises(DataKeyError, match="(?i)refusing to start"):
        load_key(None, path, may_create=False)
    key = load_key(None, path, may_create=True)
    assert len(key) == 32
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_key(None, path, may_create=False) == key


def test_environment_key_wins_and_is_checked(tmp_path: Path) -> None:
    text = new_key_text()
    assert len(load_key(text, tmp_path / "none.key", may_create=False)) == 32
    with pytest.raises(DataKeyError):
        load_key("c2hvcnQ=", tmp_path / "none.key", may_create=False)
