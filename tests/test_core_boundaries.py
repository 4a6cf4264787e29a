"""The core imports no chat library and no database library."""

from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[1] / "src" / "ketacompanion" / "core"
FORBIDDEN = {"telegram", "discord", "sqlalchemy", "aiosqlite", "asyncpg", "alembic", "sqlite3", "aiohttp", "matplotlib"}


def imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_core_files_exist() -> None:
    assert len(list(CORE.rglob("*.py"))) >= 8


def test_core_imports_no_chat_or_database_library() -> None:
    leaks = {
        str(path.relative_to(CORE)): sorted(imported_roots(path) & FORBIDDEN)
        for path in CORE.rglob("*.py")
        if imported_roots(path) & FORBIDDEN
    }
    assert leaks == {}


def test_the_checker_catches_a_leak(tmp_path: Path) -> None:
    leaky = tmp_path / "leaky.py"
    leaky.write_text("from telegram import Bot\nimport sqlalchemy.orm\n", encoding="utf-8")
    assert imported_roots(leaky) & FORBIDDEN == {"telegram", "sqlalchemy"}
