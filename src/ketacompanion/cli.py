"""The command line: ``run``, ``chat``, ``db upgrade``, ``content``, ``crisis``, ``version``."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from ketacompanion import __version__
from ketacompanion.cipher import DataKeyError
from ketacompanion.cli_settings import command_settings as _settings
from ketacompanion.cli_settings import exit_with as _fail
from ketacompanion.content.problems import ContentError

cli = typer.Typer(add_completion=False, no_args_is_help=True, help="ketacompanion: a companion between ketamine therapy sessions.")
db_cli = typer.Typer(no_args_is_help=True, help="The database.")
cli.add_typer(db_cli, name="db")
content_cli = typer.Typer(no_args_is_help=True, help="Content files: lessons, messages, crisis lines.")
cli.add_typer(content_cli, name="content")


def _start_errors(exc: BaseException) -> None:
    if isinstance(exc, ContentError):
        typer.echo("ketacompanion: the content has problems; fix them and start again:", err=True)
        for problem in exc.problems:
            typer.echo(f"  {problem}", err=True)
        raise typer.Exit(2)
    if isinstance(exc, DataKeyError):
        _fail(str(exc))
    raise exc


@cli.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


@db_cli.command("upgrade")
def db_upgrade() -> None:
    """Apply database migrations up to the newest schema."""
    from ketacompanion.storage.engine import create_engine
    from ketacompanion.storage.keycheck import migration_cipher
    from ketacompanion.storage.migrate import upgrade

    settings = _settings()
    key = settings.data_key.get_secret_value() if settings.data_key else None

    async def main() -> str | None:
        engine = create_engine(settings.database_url)
        try:
            return await upgrade(engine, migration_cipher(key, settings.key_file))
        finally:
            await engine.dispose()

    typer.echo(f"database at revision {asyncio.run(main())}")


@content_cli.command("validate")
def content_validate(
    directory: Annotated[Path, typer.Argument(help="the content folder")] = Path("content"),
) -> None:
    """Check every content file; print each problem as path:line, then a lesson summary."""
    from datetime import date

    from ketacompanion.content.catalog import validate_content
    from ketacompanion.content.lessons import scan_lessons
    from ketacompanion.content.problems import errors

    if not directory.is_dir():
        _fail(f"no content folder at {directory}", code=1)
    problems = validate_content(directory, date.today())
    for problem in problems:
        typer.echo(str(problem))
    library, _ = scan_lessons(directory / "lessons")
    rows = [(f"{lang}/{x.id}", len(x.cards), x.words, x.grade) for lang, x in library.all()]
    if rows:
        width = max(len(r[0]) for r in rows)
        typer.echo(f"\n{'lesson':<{width}}  cards  words  grade")
        for name, cards, words, grade in rows:
            typer.echo(f"{name:<{width}}  {cards:>5}  {words:>5}  {grade:>5.1f}")
        average = sum(r[3] for r in rows) / len(rows)
        typer.echo(f"{len(rows)} lessons, average grade {average:.1f}")
    failed = errors(problems)
    warnings = len(problems) - len(failed)
    typer.echo(f"{len(failed)} errors, {warnings} warnings")
    raise typer.Exit(1 if failed else 0)


@cli.command()
def chat(
    json_mode: Annotated[bool, typer.Option("--json", help="JSON lines on stdin and stdout")] = False,
    db: Annotated[Path | None, typer.Option(help="SQLite file to use")] = None,
    user: Annotated[str, typer.Option(help="who is talking")] = "local",
    simulate: Annotated[
        str | None, typer.Option(help="run on a simulated clock from this ISO time (JSON: advance_clock)")
    ] = None,
    admin: Annotated[bool, typer.Option("--admin", help="this terminal user has every admin role")] = False,
    log_file: Annotated[
        Path | None, typer.Option(help="write logs here (the interactive chat shows none otherwise)")
    ] = None,
) -> None:
    """Talk to the companion in this terminal."""
    from ketacompanion import logs
    from ketacompanion.adapters.console import ConsoleAdapter
    from ketacompanion.app import build_app, content_service
    from ketacompanion.core.clock import FakeClock
    from ketacompanion.delivery.simulation import Simulation
    from ketacompanion.delivery.wakeup import WakeUps

    settings = _settings(db)
    if log_file is not None:
        logs.configure(settings.log_level, settings.log_format, stream=_private_append(log_file),
                       secrets=settings.secret_values())
    elif json_mode:
        logs.configure(settings.log_level, settings.log_format, secrets=settings.secret_values())
    else:
        # Log lines printed between the chat's own lines read as messages: keep them out.
        logs.configure("CRITICAL", settings.log_format, secrets=settings.secret_values())
    clock = FakeClock(_parse_start(simulate)) if simulate else None

    async def main() -> None:
        try:
            admins = {("console", user): frozenset({"owner", "editor", "reviewer", "analyst"})} if admin else None
            app = await build_app(settings, clock, admins=admins)
        except (ContentError, DataKeyError) as exc:
            _start_errors(exc)
            return
        wakeups: WakeUps | None = None
        stop_watch = asyncio.Event()
        watch = asyncio.create_task(content_service(app)(stop_watch))  # published content reaches this chat
        try:
            simulation = Simulation(clock, app.delivery) if clock else None
            console = ConsoleAdapter(app.companion.handle, user, settings.export_dir, simulation=simulation)
            app.add_sender(console)
            if simulation is None and not json_mode:
                wakeups = WakeUps(app.delivery, settings.scheduler_safety_interval_s)
                wakeups.start()
            if json_mode:
                await console.run_json(sys.stdin, sys.stdout)
            else:
                await console.run_interactive()
        finally:
            if wakeups is not None:
                await wakeups.stop()
            stop_watch.set()
            await watch
            await app.close()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:  # Ctrl-C: leave at once, without a traceback
        typer.echo("")
        raise typer.Exit(130) from None


def _private_append(path: Path) -> object:
    import os

    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)  # logs name no one, but stay private
    return os.fdopen(fd, "a", buffering=1, encoding="utf-8")


crisis_cli = typer.Typer(no_args_is_help=True, help="Crisis screening: check messages, evaluate a labelled set.")
cli.add_typer(crisis_cli, name="crisis")
schedule_cli = typer.Typer(no_args_is_help=True, help="Scheduled check-ins.")
cli.add_typer(schedule_cli, name="schedule")


def _detector(content_dir: Path) -> object:
    from ketacompanion.core.crisis.detector import Detector

    try:
        return Detector.from_file(content_dir / "crisis" / "phrases.yaml")
    except ContentError as exc:
        _start_errors(exc)
        raise


def _screen(content_dir: Path, rules_only: bool) -> object:
    """The phrase rules, and unless told otherwise the model layer after them, as the bot runs them."""
    from ketacompanion.content.crisis_model import WeightsError, load_model
    from ketacompanion.core.crisis.modelscreen import ModelScreen
    from ketacompanion.core.crisis.screener import LayeredScreener
    from ketacompanion.encoders import UseEncoder

    detector = _detector(content_dir)
    if rules_only:
        return detector
    try:
        weights = load_model(content_dir / "crisis")
    except WeightsError as exc:
        _fail(f"{exc} (or pass --rules-only)")
    encoder = UseEncoder()
    if encoder.name != weights.encoder:
        _fail(f"the crisis model was trained with {weights.encoder}, not {encoder.name}")
    return LayeredScreener(lambda: detector, ModelScreen(encoder, weights.model, weights.thresholds))  # type: ignore[arg-type, return-value]


_RULES_ONLY = typer.Option("--rules-only", help="the phrase rules alone, without the model layer")


@crisis_cli.command("check")
def crisis_check(rules_only: Annotated[bool, _RULES_ONLY] = False) -> None:
    """Screen one message per line of standard input; print one JSON object per line."""
    import json

    from ketacompanion.core.crisis.evaluation import check_lines

    detector = _screen(_settings().content_dir, rules_only)
    for result in check_lines(sys.stdin, detector):  # type: ignore[arg-type]
        typer.echo(json.dumps(result, ensure_ascii=False))


@crisis_cli.command("eval")
def crisis_eval(
    file: Annotated[Path, typer.Argument(help="CSV or TSV with text, label (crisis|concern|none), slice and optional family, lang columns")],
    as_json: Annotated[bool, typer.Option("--json", help="print the full report as JSON")] = False,
    rules_only: Annotated[bool, _RULES_ONLY] = False,
) -> None:
    """Recall and flagged share by label, slice and language, false alarms, and the confusion table."""
    from ketacompanion.core.crisis.evaluation import evaluate, read_labelled

    if not file.exists():
        _fail(f"no such file: {file}", code=1)
    try:
        rows = read_labelled(file)
    except (ValueError, KeyError) as exc:
        _fail(f"cannot read {file}: {exc}", code=1)
    report = evaluate(rows, _screen(_settings().content_dir, rules_only))  # type: ignore[arg-type]
    typer.echo(report.to_json() if as_json else report.format_table())


@crisis_cli.command("train")
def crisis_train(
    cache_dir: Annotated[Path, typer.Option(help="where embeddings of training texts are kept between runs (private)")] = Path(
        ".cache/crisis-embeddings"
    ),
    no_cache: Annotated[bool, typer.Option("--no-cache", help="embed every text afresh and keep nothing")] = False,
) -> None:
    """Rebuild content/crisis/model.npz and model.json from content/crisis/training, by a fixed seed."""
    import json

    from ketacompanion.content.crisis_model import read_training, write_model
    from ketacompanion.core.crisis.training import embed_pieces, fit
    from ketacompanion.crisis_training import record, run_embedding
    from ketacompanion.embedding_cache import CachedEncoder
    from ketacompanion.encoders import UseEncoder

    crisis_dir = _settings().content_dir / "crisis"
    try:
        rows = read_training(crisis_dir)
    except (ValueError, OSError) as exc:
        _fail(f"cannot read the training data: {exc}", code=1)
    if not rows:
        _fail(f"no training rows in {crisis_dir / 'training'}", code=1)
    detector = _detector(crisis_dir.parent)
    rules = [detector.screen(r.text) for r in rows]  # type: ignore[attr-defined]
    encoder = UseEncoder() if no_cache else CachedEncoder(UseEncoder(), cache_dir)
    texts = [r.text for r in rows]
    x = run_embedding(encoder, texts, lambda done: typer.echo(f"embedded {done}/{len(rows)}", err=True))
    read = embed_pieces(encoder, texts, progress=lambda done: typer.echo(f"embedded the pieces of {done} rows", err=True))
    if isinstance(encoder, CachedEncoder):
        encoder.save()
        typer.echo(f"embeddings: {encoder.hits} from the cache, {encoder.misses} computed", err=True)
    trained = fit(x, [r.label for r in rows], [r.family for r in rows], [r.slice for r in rows], rules, read=read)
    meta, report = record(crisis_dir, rows, trained, encoder)
    write_model(crisis_dir, trained.model, trained.thresholds, meta)
    typer.echo(report.format_table())
    typer.echo(json.dumps({"thresholds": meta["thresholds_chosen"], "cross_validated": meta["cross_validated"]["summary"]}))


@schedule_cli.command("list")
def schedule_list(
    user: Annotated[str | None, typer.Option(help="only this platform user id")] = None,
    limit: Annotated[int, typer.Option(help="how many rows")] = 50,
) -> None:
    """What is due next: pending and open check-ins, earliest first."""
    from sqlalchemy import select

    from ketacompanion.storage import tables as t
    from ketacompanion.storage.engine import create_engine

    settings = _settings()

    async def main() -> list[tuple[object, ...]]:
        engine = create_engine(settings.database_url)
        c, u = t.checkins, t.users
        query = (
            select(u.c.platform, u.c.platform_user_id, c.c.kind, c.c.status, c.c.due_at, c.c.expires_at)
            .select_from(c.join(u, u.c.id == c.c.user_id))
            .where(c.c.status.in_(("pending", "queued", "sent", "reminded", "open")))
            .order_by(c.c.due_at).limit(limit)
        )
        if user is not None:
            query = query.where(u.c.platform_user_id == user)
        try:
            async with engine.connect() as conn:
                return [tuple(r) for r in await conn.execute(query)]
        finally:
            await engine.dispose()

    rows = asyncio.run(main())
    if not rows:
        typer.echo("nothing scheduled")
        return
    typer.echo(f"{'platform':<10}{'user':<16}{'kind':<15}{'status':<10}{'due (UTC)':<18}expires (UTC)")
    for platform, who, kind, status, due, expires in rows:
        typer.echo(f"{platform!s:<10}{who!s:<16}{kind!s:<15}{status!s:<10}{_utc(due):<18}{_utc(expires)}")


discord_cli = typer.Typer(no_args_is_help=True, help="Discord: the invite link.")
cli.add_typer(discord_cli, name="discord")


@discord_cli.command("invite")
def discord_invite(
    application_id: Annotated[
        int | None, typer.Option(help="the application id (else KETACOMPANION_DISCORD_APPLICATION_ID)")
    ] = None,
) -> None:
    """Print the URL that adds the bot to a server, with exactly the permissions it needs."""
    from ketacompanion.adapters.discord.runner import invite_url

    app_id = application_id or _settings().discord_application_id
    if app_id is None or app_id <= 0:
        _fail("set KETACOMPANION_DISCORD_APPLICATION_ID or pass --application-id (the developer portal shows it)")
    typer.echo(invite_url(app_id))


def _utc(value: object) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


def _parse_start(text: str) -> datetime:
    try:
        start = datetime.fromisoformat(text)
    except ValueError:
        _fail(f"--simulate takes an ISO time such as 2026-11-23T08:00:00+00:00, not {text!r}")
    return start if start.tzinfo else start.replace(tzinfo=UTC)


@cli.command()
def run(
    chat_when_idle: Annotated[
        bool, typer.Option("--chat-when-idle", help="open the terminal chat if no platform is configured")
    ] = False,
) -> None:
    """Start every adapter whose token is configured."""
    from ketacompanion.runtime import configured_platforms

    settings = _settings()
    platforms = configured_platforms(settings)
    if not platforms:
        tokens = "KETACOMPANION_TELEGRAM_TOKEN or KETACOMPANION_DISCORD_TOKEN"
        typer.echo(
            f"No platform token is configured (set {tokens} to run on a chat platform).\n"
            "Opening the terminal chat instead; run `ketacompanion chat` to open it yourself."
            if chat_when_idle
            else f"No platform token is configured (set {tokens}).\n"
            "To try the bot here, open the terminal chat: ketacompanion chat",
            err=True,
        )
        if chat_when_idle:
            chat(json_mode=False, db=None, user="local", simulate=None, log_file=None, admin=False)
        return
    from ketacompanion import logs
    from ketacompanion.app import scheduler_service
    from ketacompanion.runtime import run as run_platforms
    from ketacompanion.services import PlatformConfigError, PlatformUnavailable

    logs.configure(settings.log_level, settings.log_format, secrets=settings.secret_values())
    try:
        from ketacompanion.app import content_service

        asyncio.run(run_platforms(settings, platforms, extra=[scheduler_service, content_service]))  # until a signal
    except (ContentError, DataKeyError) as exc:
        _start_errors(exc)
    except PlatformConfigError as exc:
        _fail(str(exc))
    except PlatformUnavailable as exc:
        _fail(str(exc), code=1)


from ketacompanion import cli_admin, cli_content  # noqa: E402  (their commands hang off these apps)

cli_content.register(content_cli)
cli.add_typer(cli_admin.admin_cli, name="admin")


def main() -> None:
    cli()


if __name__ == "__main__":
    main()


lessons_cli = typer.Typer(no_args_is_help=True, help="Lessons: how well typed questions find them.")
cli.add_typer(lessons_cli, name="lessons")


@lessons_cli.command("bench")
def lessons_bench(
    file: Annotated[Path, typer.Argument(help="TSV of question and expected lesson ids")],
    misses: Annotated[bool, typer.Option("--misses", help="also list the questions missed at top 1")] = False,
) -> None:
    """Top-1 and top-3 hit rates of the free-text lesson search, as one JSON line."""
    import json

    from ketacompanion.content.lesson_search import LessonSearch
    from ketacompanion.content.lesson_search_eval import evaluate, read_questions
    from ketacompanion.content.lessons import load_lessons

    if not file.exists():
        _fail(f"no such file: {file}", code=1)
    library = load_lessons(_settings().content_dir / "lessons")
    search = LessonSearch(library.shelves["en"].lessons.values())
    report = evaluate(search, read_questions(file))
    out = report.rates() | ({"misses": report.misses} if misses else {})
    typer.echo(json.dumps(out, ensure_ascii=False))
