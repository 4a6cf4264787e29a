"""Open the data key, and refuse to start when it cannot read what is already stored."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Connection, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ketacompanion.cipher import DataKeyError, FieldCipher, load_key
from ketacompanion.storage.tables import meta

_CANARY = "ketacompanion key check"
_CONTEXT = "meta.key_check"


async def open_cipher(engine: AsyncEngine, env_key: str | None, key_file: Path) -> FieldCipher:
    """A cipher for this database. The first start writes an encrypted canary; every
    later start must decrypt it, so a missing or wrong key stops start-up instead of
    silently writing data that could never be read together with the old."""
    async with engine.begin() as conn:
        stored = (await conn.execute(select(meta.c.value).where(meta.c.key == "key_check"))).scalar()
        cipher = FieldCipher(load_key(env_key, key_file, may_create=stored is None))
        if stored is None:
            await conn.execute(insert(meta).values(key="key_check", value=cipher.encrypt(_CANARY, _CONTEXT)))
            return cipher
    try:
        ok = cipher.decrypt(stored, _CONTEXT) == _CANARY
    except DataKeyError:
        ok = False
    if not ok:
        raise DataKeyError(
            "the data key does not match the one this database was encrypted with; "
            "refusing to start so nothing is lost"
        )
    return cipher


def migration_cipher(env_key: str | None, key_file: Path) -> Callable[[Connection], FieldCipher]:
    """For migrations that convert stored values: the key, checked against the canary
    with the migration's own connection (no key is ever created here)."""

    def make(conn: Connection) -> FieldCipher:
        stored = conn.execute(select(meta.c.value).where(meta.c.key == "key_check")).scalar()
        cipher = FieldCipher(load_key(env_key, key_file, may_create=False))
        try:
            ok = stored is not None and cipher.decrypt(stored, _CONTEXT) == _CANARY
        except DataKeyError:
            ok = False
        if not ok:
            raise DataKeyError("the data key does not match this database; refusing to convert its rows")
        return cipher

    return make
