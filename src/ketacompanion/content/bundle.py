"""A content set as bytes: read from a folder or a zip, checked, hashed, written back.

A version in the database is exactly these bytes, so what is validated, stored, loaded,
exported and rolled back to is the same thing. Reading refuses what could hurt the
server before any parser sees it: oversized files, zip bombs, paths that climb out of
the set, links, and text files that are not UTF-8.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import zipfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

MAX_FILE_BYTES = 4 * 1024 * 1024  # the largest real file is a few hundred KB
MAX_TOTAL_BYTES = 32 * 1024 * 1024
MAX_FILES = 2000
MAX_RATIO = 100  # uncompressed / compressed for one archive entry
TEXT_SUFFIXES = frozenset({".md", ".yaml", ".yml", ".tsv", ".csv", ".txt", ".json", ".py"})
# Left out of a set, never refused: editors' and archivers' droppings.
_IGNORED_PARTS = frozenset({"__MACOSX", "__pycache__", ".git"})

Files = Mapping[str, bytes]


class BundleError(Exception):
    """The files cannot become a content set; each line names a file and the problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


def content_hash(files: Files) -> str:
    """SHA-256 over every path and its bytes, in path order: equal sets, equal hashes."""
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.encode() + b"\0" + hashlib.sha256(files[path]).digest())
    return digest.hexdigest()


def file_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _ignored(parts: tuple[str, ...]) -> bool:
    return any(p in _IGNORED_PARTS or p.startswith(".") for p in parts)


def _safe_name(name: str) -> str | None:
    """The entry's path inside the set, or None if it climbs out or is absolute."""
    if not name or "\\" in name or "\0" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return None
    parts = PurePosixPath(name).parts
    if any(p in ("..", "") for p in parts):
        return None
    return "/".join(parts)


def check_files(files: Files) -> list[str]:
    """Problems with the bytes themselves (size, count, encoding), before parsing."""
    problems: list[str] = []
    if len(files) > MAX_FILES:
        problems.append(f"{len(files)} files; a content set has at most {MAX_FILES}")
    total = 0
    for path in sorted(files):
        data = files[path]
        total += len(data)
        if len(data) > MAX_FILE_BYTES:
            problems.append(f"{path}:1: {len(data):,} bytes; a content file may hold at most {MAX_FILE_BYTES:,}")
            continue
        if PurePosixPath(path).suffix.lower() in TEXT_SUFFIXES:
            try:
                data.decode("utf-8")
            except UnicodeDecodeError as exc:
                line = data[: exc.start].count(b"\n") + 1
                problems.append(f"{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x}); save it as UTF-8")
    if total > MAX_TOTAL_BYTES:
        problems.append(f"the set holds {total:,} bytes; at most {MAX_TOTAL_BYTES:,}")
    return problems


def read_directory(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (hidden files and caches left out); links refused."""
    root = Path(root)
    if not root.is_dir():
        raise BundleError([f"{root}: not a folder"])
    files: dict[str, bytes] = {}
    problems: list[str] = []
    total = 0
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        for name in sorted(dirnames):
            if (here / name).is_symlink():
                problems.append(f"{(here / name).relative_to(root).as_posix()}: a link; content must be plain files")
        dirnames[:] = sorted(d for d in dirnames if not (here / d).is_symlink() and not _ignored((d,)))
        for name in sorted(filenames):
            path = here / name
            rel = path.relative_to(root).as_posix()
            if _ignored(tuple(rel.split("/"))):
                continue
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode) or not stat.S_ISREG(info.st_mode):
                problems.append(f"{rel}: a link or special file; content must be plain files")
                continue
            if info.st_size > MAX_FILE_BYTES:
                problems.append(f"{rel}:1: {info.st_size:,} bytes; a content file may hold at most {MAX_FILE_BYTES:,}")
                continue
            total += info.st_size
            if total > MAX_TOTAL_BYTES:
                raise BundleError([f"the set holds more than {MAX_TOTAL_BYTES:,} bytes"])
            files[rel] = path.read_bytes()
    problems += check_files(files)
    if problems:
        raise BundleError(problems)
    return files


def read_zip(data: bytes) -> dict[str, bytes]:
    """A zip's files, refusing bombs, climbing or absolute names, links and duplicates.

    Sizes are checked on the headers first and again while reading, since a header
    can lie about how much an entry inflates to."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as exc:
        raise BundleError([f"not a zip archive ({exc})"]) from None
    problems: list[str] = []
    files: dict[str, bytes] = {}
    with archive:
        entries = archive.infolist()
        if len(entries) > MAX_FILES:
            raise BundleError([f"the archive has {len(entries)} entries; at most {MAX_FILES}"])
        declared = sum(e.file_size for e in entries)
        if declared > MAX_TOTAL_BYTES:
            raise BundleError([f"the archive unpacks to {declared:,} bytes; at most {MAX_TOTAL_BYTES:,}"])
        total = 0
        for entry in entries:
            name = _safe_name(entry.filename)
            if name is None:
                problems.append(f"{entry.filename!r}: an absolute path or one that climbs out of the set (..)")
                continue
            if stat.S_ISLNK(entry.external_attr >> 16):
                problems.append(f"{name}: a symbolic link; content must be plain files")
                continue
            if entry.is_dir() or _ignored(tuple(name.split("/"))):
                continue
            if entry.file_size > MAX_FILE_BYTES:
                problems.append(f"{name}:1: {entry.file_size:,} bytes; a content file may hold at most {MAX_FILE_BYTES:,}")
                continue
            if entry.compress_size and entry.file_size / entry.compress_size > MAX_RATIO:
                problems.append(f"{name}: compressed {entry.file_size / entry.compress_size:.0f} to 1; refused as a zip bomb")
                continue
            if name in files:
                problems.append(f"{name}: appears twice in the archive")
                continue
            try:
                with archive.open(entry) as fh:
                    body = fh.read(MAX_FILE_BYTES + 1)
            except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError, EOFError) as exc:
                problems.append(f"{name}: cannot unpack ({exc})")
                continue
            total += len(body)
            if len(body) > MAX_FILE_BYTES or total > MAX_TOTAL_BYTES:
                raise BundleError([f"{name}: unpacks to more than its header says; refused as a zip bomb"])
            files[name] = body
    if problems:
        raise BundleError(problems)
    files = _strip_top_folder(files)
    problems = check_files(files)
    if problems:
        raise BundleError(problems)
    if not files:
        raise BundleError(["the archive holds no files"])
    return files


def _strip_top_folder(files: dict[str, bytes]) -> dict[str, bytes]:
    """``content/lessons/...`` and ``lessons/...`` both work: a zip of the folder itself
    has one top folder around everything."""
    tops = {path.split("/", 1)[0] for path in files}
    if len(tops) == 1 and all("/" in p for p in files):
        top = tops.pop()
        if top not in ("lessons", "checkins", "crisis", "messages"):
            return {p.split("/", 1)[1]: b for p, b in files.items()}
    return files


def write_files(files: Files, root: Path) -> None:
    """Write the set under ``root`` (which must be empty or missing)."""
    root.mkdir(parents=True, exist_ok=True)
    for path, data in files.items():
        safe = _safe_name(path)
        if safe is None:  # stored sets were checked; this guards a tampered row
            raise BundleError([f"{path!r}: not a path inside the set"])
        target = root / safe
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def zip_files(files: Files) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(files):
            archive.writestr(path, files[path])
    return buffer.getvalue()
