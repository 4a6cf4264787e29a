"""Per-field authenticated encryption of health data, and the key that protects it."""

from __future__ import annotations

import base64
import logging
import os
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ketacompanion.files import private_dir, private_file, private_umask

log = logging.getLogger(__name__)

_VERSION = b"\x01"
_NONCE = 12


class DataKeyError(Exception):
    """The key is missing or does not open the data already stored."""


@dataclass(frozen=True, slots=True)
class FieldCipher:
    """AES-256-GCM; the associated data binds each value to its table, column and owner,
    so a ciphertext copied into another user's row does not decrypt."""

    key: bytes
    # One AESGCM for the key's lifetime: building it (key schedule) cost more than
    # sealing a short value.
    _aead: AESGCM = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_aead", AESGCM(self.key))

    def encrypt(self, plaintext: str, context: str) -> bytes:
        nonce = secrets.token_bytes(_NONCE)
        sealed = self._aead.encrypt(nonce, plaintext.encode("utf-8"), context.encode())
        return _VERSION + nonce + sealed

    def encrypt_many(self, items: Sequence[tuple[str, str]]) -> list[bytes]:
        """``encrypt`` for each (plaintext, context), with every nonce cut from one
        random read: 96 random bits each, so a repeat is as unlikely as with one read
        per value; no two slices of one read overlap."""
        seal = self.sealer(len(items))
        return [seal(plaintext, context) for plaintext, context in items]

    def sealer(self, count: int) -> Callable[[str, str], bytes]:
        """``encrypt`` for up to ``count`` values, one at a time, with the nonces of
        ``encrypt_many`` (cut from one random read): a fan-out seals each payload as it
        builds its row, with no list of pairs in between. A call past ``count`` fails."""
        pool = secrets.token_bytes(_NONCE * count)
        nonces = iter([pool[k : k + _NONCE] for k in range(0, len(pool), _NONCE)])
        seal = self._aead.encrypt

        def one(plaintext: str, context: str) -> bytes:
            nonce = next(nonces, None)
            if nonce is None:
                raise ValueError(f"this sealer was made for {count} values")
            return _VERSION + nonce + seal(nonce, plaintext.encode("utf-8"), context.encode())

        return one

    def decrypt(self, token: bytes, context: str) -> str:
        if not token or token[:1] != _VERSION:
            raise DataKeyError("unknown ciphertext format")
        nonce, sealed = token[1 : 1 + _NONCE], token[1 + _NONCE :]
        try:
            return self._aead.decrypt(nonce, sealed, context.encode()).decode("utf-8")
        except InvalidTag as exc:
            raise DataKeyError("the data key does not open this value") from exc


def decode_key(text: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text.strip().encode())
    except (ValueError, TypeError) as exc:
        raise DataKeyError("the data key is not valid base64") from exc
    if len(raw) != 32:
        raise DataKeyError("the data key must be 32 bytes (base64-encoded)")
    return raw


def new_key_text() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def load_key(env_value: str | None, key_file: Path, *, may_create: bool) -> bytes:
    """The key from the environment, else the key file; create the file (0600) only
    when ``may_create`` (no encrypted data exists yet)."""
    if env_value:
        return decode_key(env_value)
    if key_file.exists():
        private_file(key_file)
        return decode_key(key_file.read_text(encoding="ascii"))
    if not may_create:
        raise DataKeyError(
            f"health data in this database is encrypted, but no key was found "
            f"(KETACOMPANION_DATA_KEY is unset and {key_file} does not exist); "
            "restore the key file or set the variable. Refusing to start so nothing is lost."
        )
    private_dir(key_file.parent)
    text = new_key_text()
    with private_umask():
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(text + "\n")
    log.warning(
        "created a new data key; back it up, without it encrypted notes cannot be read",
        extra={"key_file": str(key_file)},
    )
    return decode_key(text)
