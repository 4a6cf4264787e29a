"""``ketacompanion content publish|history|diff|rollback|export|status``: versions in the database.

The database is found as every other command finds it: ``KETACOMPANION_DATABASE_URL``,
or ``--db FILE`` for a SQLite file. A refused publish exits 1 with one line on stderr
(the problems, one per line, go to stdout)."""

from __future__ import annotations

import asyncio
import difflib
import getpass
import json
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from ketacompanion.content.bundle import (
    MAX_TOTAL_BYTES,
    BundleError,
    Files,
    read_directory,
    read_zip,
    write_files,
)

if TYPE_CHECKING:
    from ketacompanion.publishing import Publisher, PublishRefused
    from ketacompanion.storage.admin_repo import AdminRepo
    from ketacompanion.storage.content_repo import ContentRepo, VersionInfo

T = TypeVar("T")
Db = Annotated[Path | None, typer.Option(help="SQLite file to use (else KETACOMPANION_DATABASE_URL)")]
By = Annotated[str | None, typer.Option("--by", help="who is acting, as platform:user_id (default cli:$USER)")]


def actor(by: str | None) -> str:
    return by or f"cli:{getpass.getuser()}"


def with_repos(db: Path | None, work: Callable[[ContentRepo, Publisher, AdminRepo], Awaitable[T]]) -> T:
    from ketacompanion.cli_settings import command_settings
    from ketacompanion.core.clock import SystemClock
    from ketacompanion.publishing import Publisher
    from ketacompanion.storage.admin_repo import AdminRepo
    from ketacompanion.storage.content_repo import ContentRepo
    from ketacompanion.storage.engine import create_engine
    from ketacompanion.storage.migrate import upgrade

    settings = command_settings(db)

    async def main() -> T:
        engine = create_engine(settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
        try:
            await upgrade(engine)
            clock = SystemClock()
            repo, admin = ContentRepo(engine, clock), AdminRepo(engine, clock)
            return await work(repo, Publisher(repo, admin, date.today), admin)
        finally:
            await engine.dispose()

    return asyncio.run(main())


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"ketacompanion: {message}", err=True)
    raise typer.Exit(code)


def read_source(source: Path) -> Files:
    if source.is_dir():
        return read_directory(source)
    if not source.is_file():
        raise BundleError([f"{source}: no such folder or zip file"])
    if source.stat().st_size > MAX_TOTAL_BYTES:
        raise BundleError([f"{source}: {source.stat().st_size:,} bytes; a content archive may hold at most {MAX_TOTAL_BYTES:,}"])
    return read_zip(source.read_bytes())


def describe(info: VersionInfo) -> str:
    when = info.published_at.strftime("%Y-%m-%d %H:%M UTC")
    extra = f" (restores {info.restored_from})" if info.restored_from else ""
    return f"version {info.number}  {info.hash[:12]}  {when}  {info.published_by}  {info.kind}{extra}  {info.note}"


def publish(
    source: Annotated[Path, typer.Argument(help="a content folder or a .zip of one")],
    note: Annotated[str, typer.Option(help="what changed and why (shown in the history)")],
    db: Db = None,
    by: By = None,
) -> None:
    """Validate a whole content set, store it as a new version and make it live."""
    from ketacompanion.content.versions import Changes
    from ketacompanion.publishing import PublishRefused

    async def work(repo: ContentRepo, publisher: Publisher, admin: AdminRepo) -> VersionInfo | PublishRefused:
        try:
            files = read_source(source)
        except BundleError as exc:
            return await publisher.refuse_unreadable(actor(by), exc)
        try:
            return await publisher.publish(files, actor(by), note)
        except PublishRefused as exc:
            return exc

    result = _live_or_fail(with_repos(db, work))
    typer.echo(f"published {describe(result)}")
    typer.echo("\n".join(f"  {line}" for line in Changes(**result.changes).lines()))


def history(db: Db = None, limit: int = 50, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every version, newest first; the live one marked."""

    async def work(repo: ContentRepo, _p: Publisher, _a: AdminRepo) -> tuple[list[VersionInfo], int | None]:
        return await repo.history(limit), await repo.live_number()

    versions, live = with_repos(db, work)
    if as_json:
        for v in versions:
            typer.echo(json.dumps({"version": v.number, "hash": v.hash, "by": v.published_by,
                                   "at": v.published_at.isoformat(), "kind": v.kind, "note": v.note,
                                   "live": v.number == live, "validation": v.validation, "changes": v.changes}))
        return
    if not versions:
        typer.echo("no versions yet (the first start seeds version 1 from content/)")
    for v in versions:
        typer.echo(("* " if v.number == live else "  ") + describe(v))


def diff(
    a: Annotated[int, typer.Argument(help="the older version")],
    b: Annotated[int, typer.Argument(help="the newer version")],
    db: Db = None,
) -> None:
    """What changed from version A to version B: a summary, then each text file's diff."""
    from ketacompanion.content.versions import changes_between

    async def work(repo: ContentRepo, _p: Publisher, _a: AdminRepo) -> tuple[Files, Files] | str:
        try:
            return await repo.files(a), await repo.files(b)
        except KeyError as exc:
            return f"there is no version {exc.args[0]}"

    result = with_repos(db, work)
    if isinstance(result, str):
        fail(result)
    old, new = result  # type: ignore[misc]
    for line in changes_between(old, new).lines():
        typer.echo(line)
    for path in sorted(set(old) | set(new)):
        before, after = old.get(path, b""), new.get(path, b"")
        if before == after:
            continue
        try:
            lines = difflib.unified_diff(
                before.decode().splitlines(), after.decode().splitlines(),
                f"{a}/{path}", f"{b}/{path}", lineterm="",
            )  # fmt: skip
            typer.echo("\n".join(lines))
        except UnicodeDecodeError:
            typer.echo(f"binary file {path} differs")


def rollback(
    version: Annotated[int | None, typer.Argument(help="the version to restore (default: the one before live)")] = None,
    db: Db = None,
    by: By = None,
) -> None:
    """Make an earlier version live again, byte for byte, as a new version."""
    from ketacompanion.publishing import PublishRefused

    async def work(_r: ContentRepo, publisher: Publisher, _a: AdminRepo) -> VersionInfo | PublishRefused:
        try:
            return await publisher.rollback(actor(by), version)
        except PublishRefused as exc:
            return exc

    result = _live_or_fail(with_repos(db, work))
    typer.echo(f"rolled back: {describe(result)}")


def _live_or_fail(result: VersionInfo | PublishRefused) -> VersionInfo:
    """The version now live, or the refusal's problems and one line, then a non-zero exit."""
    from ketacompanion.publishing import PublishRefused
    from ketacompanion.storage.content_repo import VersionInfo

    if isinstance(result, PublishRefused):
        for problem in result.problems:
            typer.echo(problem)
        fail(result.reason)
    assert isinstance(result, VersionInfo)
    return result


def export(
    version: Annotated[int, typer.Argument(help="the version to write out")],
    directory: Annotated[Path, typer.Argument(help="an empty or new folder")],
    db: Db = None,
) -> None:
    """Write a version's exact files into a folder."""
    if directory.exists() and not directory.is_dir():
        fail(f"{directory} is a file; export into a new folder")
    if directory.exists() and any(directory.iterdir()):
        fail(f"{directory} is not empty; export into a new folder")

    async def work(repo: ContentRepo, _p: Publisher, _a: AdminRepo) -> Files | None:
        try:
            return await repo.files(version)
        except KeyError:
            return None

    files = with_repos(db, work)
    if files is None:
        fail(f"there is no version {version}")
    try:
        write_files(files, directory)  # type: ignore[arg-type]
    except OSError as exc:
        fail(f"cannot write into {directory}: {exc.strerror or exc}")
    typer.echo(f"wrote {len(files)} files of version {version} to {directory}")  # type: ignore[arg-type]


def status(db: Db = None) -> None:
    """The live version and what each process made of each version."""

    async def work(repo: ContentRepo, _p: Publisher, _a: AdminRepo) -> tuple[VersionInfo | None, list[object]]:
        return await repo.live(), list(await repo.loads())

    live, loads = with_repos(db, work)
    typer.echo(describe(live) if live else "no version is live")
    for load in loads:
        typer.echo(f"  {load.process}  version {load.version}  {load.status}  {load.detail}")  # type: ignore[attr-defined]


def review(
    lesson: Annotated[str | None, typer.Argument(help="the lesson to sign off (en/id or id); none: list")] = None,
    as_: Annotated[str | None, typer.Option("--as", help="the reviewer: their registered name or platform:user_id")] = None,
    db: Db = None,
) -> None:
    """List lessons changed since their last clinician review, or sign one off as a new version."""
    from ketacompanion.publishing import PublishRefused
    from ketacompanion.reviews import Reviews, find_reviewer

    async def work(repo: ContentRepo, publisher: Publisher, admin: AdminRepo) -> list[str] | str:
        reviews = Reviews(repo, admin, publisher)
        if lesson is None:
            lines = []
            for item in await reviews.unreviewed():
                found = await reviews.sources(item.lesson)
                never = "never reviewed" if item.never else "changed since its review"
                lines.append(f"{item.lesson}  ({never}; the file says: {item.reviewed_by})")
                lines += [f"    source: {url}" for url in (found[1] if found else [])]
            return lines or ["every lesson is reviewed"]
        reviewer = await find_reviewer(admin, as_ or "")
        if reviewer is None:
            await admin.audit(as_ or "cli", "review_refused", False, {"lesson": lesson[:64], "reason": "not a reviewer"})
            return f"review refused: {as_!r} is not a registered reviewer (ketacompanion admin grant ... reviewer --name ...)"
        try:
            info = await reviews.approve(reviewer, lesson, date.today())
        except PublishRefused as exc:
            return exc.reason
        return [f"signed off {lesson} as {reviewer.name}: {describe(info)}"]

    result = with_repos(db, work)
    if isinstance(result, str):
        fail(result)
    for line in result:  # type: ignore[union-attr]
        typer.echo(line)


def register(app: typer.Typer) -> None:
    for name, command in (("publish", publish), ("history", history), ("diff", diff), ("rollback", rollback),
                          ("export", export), ("status", status), ("review", review)):  # fmt: skip
        app.command(name)(command)
