"""Files that may hold health data or keys: created 0600, in directories created 0700.

The umask is narrowed while creating (so nothing exists with wider modes even for an
instant) and the mode is set again afterwards (an older file, or a umask that was already
narrower, ends the same). SQLite gives its -wal and -shm files the database file's mode,
so a database created here keeps all three private."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


@contextmanager
def private_umask() -> Iterator[None]:
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def private_dir(path: Path) -> Path:
    """``path`` and any missing parents, created 0700. A directory that already existed
    keeps its mode: it may be the working directory or a shared one such as /tmp."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    with private_umask():
        path.mkdir(parents=True, exist_ok=True)
    for made in missing:
        os.chmod(made, PRIVATE_DIR)
    return path


def private_file(path: Path) -> None:
    if path.exists():
        os.chmod(path, PRIVATE_FILE)


def write_private(path: Path, data: bytes) -> Path:
    private_dir(path.parent)
    with private_umask():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(path, PRIVATE_FILE)  # an existing file kept its old mode through O_TRUNC
    return path


def sqlite_files(db: Path) -> list[Path]:
    return [db, *(db.with_name(db.name + suffix) for suffix in ("-wal", "-shm", "-journal"))]


def private_sqlite(db: Path) -> None:
    """Create the database file 0600 before SQLite opens it; tighten any that exist."""
    private_dir(db.parent)
    with private_umask():
        os.close(os.open(db, os.O_RDWR | os.O_CREAT, PRIVATE_FILE))
    for path in sqlite_files(db):
        private_file(path)
