"""``ketacompanion admin grant|revoke|list|audit``: who may run the service, and what they did."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from ketacompanion.cli_content import By, Db, actor, fail, with_repos

if TYPE_CHECKING:
    from ketacompanion.publishing import Publisher
    from ketacompanion.storage.admin_repo import AdminRepo, AuditEntry, Grant
    from ketacompanion.storage.content_repo import ContentRepo

admin_cli = typer.Typer(no_args_is_help=True, help="Admin roles and the audit log.")

Who = Annotated[str, typer.Argument(help="platform:user_id, such as telegram:12345")]
Role = Annotated[str, typer.Argument(help="owner, editor, reviewer, moderator or analyst")]


def _who(text: str) -> tuple[str, str]:
    from ketacompanion.storage.admin_repo import parse_who

    try:
        return parse_who(text)
    except ValueError as exc:
        fail(str(exc), code=2)
        raise


@admin_cli.command("grant")
def grant(
    who: Who,
    role: Role,
    name: Annotated[str, typer.Option(help="their name, as shown on lessons they review")] = "",
    title: Annotated[str, typer.Option(help="their professional role, e.g. 'consultant psychiatrist'")] = "",
    db: Db = None,
    by: By = None,
) -> None:
    """Give someone a role."""
    from ketacompanion.storage.admin_repo import ROLES

    platform, user_id = _who(who)
    if role not in ROLES:
        fail(f"unknown role {role!r}; roles are {', '.join(ROLES)}", code=2)
    if role == "reviewer" and not name:
        fail("a reviewer needs --name (and --title): patients see who reviewed each lesson", code=2)

    async def work(_r: ContentRepo, _p: Publisher, admin: AdminRepo) -> bool:
        return await admin.grant(platform, user_id, role, actor(by), name, title)

    new = with_repos(db, work)
    typer.echo(f"{who} is {'now' if new else 'already'} {role}")


@admin_cli.command("revoke")
def revoke(who: Who, role: Role, db: Db = None, by: By = None) -> None:
    """Take a role away."""
    platform, user_id = _who(who)

    async def work(_r: ContentRepo, _p: Publisher, admin: AdminRepo) -> bool:
        return await admin.revoke(platform, user_id, role, actor(by))

    if not with_repos(db, work):
        fail(f"{who} did not have the role {role}")
    typer.echo(f"{who} is no longer {role}")


@admin_cli.command("list")
def list_roles(db: Db = None) -> None:
    """Everyone with a role."""

    async def work(_r: ContentRepo, _p: Publisher, admin: AdminRepo) -> list[Grant]:
        return await admin.grants()

    grants = with_repos(db, work)
    if not grants:
        typer.echo("nobody has a role yet: ketacompanion admin grant telegram:USER_ID owner")
    for g in grants:
        label = f"  {g.name}" + (f", {g.title}" if g.title else "") if g.name else ""
        typer.echo(f"{g.who:<28}{g.role:<10}{label}  (granted by {g.granted_by} {g.granted_at:%Y-%m-%d})")


@admin_cli.command("audit")
def audit(
    db: Db = None,
    limit: int = 100,
    action: Annotated[str | None, typer.Option(help="only this action (publish, rollback, grant ...)")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Every admin action, newest first: who, when, what (versions, hashes, counts)."""

    async def work(_r: ContentRepo, _p: Publisher, admin: AdminRepo) -> list[AuditEntry]:
        return await admin.audit_log(limit, action)

    for entry in with_repos(db, work):
        if as_json:
            typer.echo(json.dumps({"at": entry.at.isoformat(), "actor": entry.actor, "action": entry.action,
                                   "ok": entry.ok, "detail": entry.detail}))
        else:
            detail = " ".join(f"{k}={v}" for k, v in entry.detail.items() if v is not None)
            typer.echo(f"{entry.at:%Y-%m-%d %H:%M:%S}  {entry.actor:<24}{entry.action:<18}"
                       f"{'ok' if entry.ok else 'REFUSED':<8}{detail}")


@admin_cli.command("stats")
def stats(
    db: Db = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object")] = False,
    chart: Annotated[str | None, typer.Option(help="also write a PNG of weekly adherence here")] = None,
    by: By = None,
) -> None:
    """Adherence figures: counts only, per platform and enrolment code, cells under 5 people hidden."""
    from datetime import UTC, datetime, timedelta
    from pathlib import Path

    from ketacompanion.figures import (
        adherence_png,
        figure_lines,
        figures,
        read_activity,
        weekly_adherence,
    )

    if chart and not Path(chart).expanduser().parent.is_dir():
        fail(f"cannot write the chart to {chart}: its folder does not exist")

    async def work(repo: ContentRepo, _p: Publisher, admin: AdminRepo) -> tuple[dict[str, object], bytes | None]:
        now = datetime.now(UTC)
        activity = await read_activity(repo.engine, now - timedelta(weeks=8))
        found = figures(activity, now)
        png = adherence_png(weekly_adherence(activity, now)) if chart else None
        await admin.audit(actor(by), "stats_view", True, {"people": len(activity.people), "chart": bool(chart)})
        return found, png

    found, png = with_repos(db, work)
    if chart and png is not None:
        try:
            Path(chart).expanduser().write_bytes(png)
        except OSError as exc:
            fail(f"cannot write the chart to {chart}: {exc.strerror or exc}")
    if as_json:
        typer.echo(json.dumps(found))
        return
    for line in figure_lines(found):
        typer.echo(line)



@admin_cli.command("announce")
def announce(
    text: Annotated[str, typer.Argument(help="the message; never anyone's health data")],
    audience: Annotated[str, typer.Option(help="all, a platform (telegram), or code:ENROLMENT")] = "all",
    yes: Annotated[bool, typer.Option("--yes", help="send without asking")] = False,
    db: Db = None,
    by: By = None,
) -> None:
    """Preview, confirm and queue an announcement; it goes out through the outbox."""
    from ketacompanion.announcements import AudienceError, checked_text

    try:
        text = checked_text(text)  # before the preview: nothing empty is offered for sending
    except AudienceError as exc:
        fail(str(exc), code=2)

    def run_with(make: object) -> object:
        async def work(repo: ContentRepo, _p: Publisher, _a: AdminRepo) -> object:
            try:
                return await make(await _announcements(repo, db))  # type: ignore[operator]
            except AudienceError as exc:
                return exc

        result = with_repos(db, work)
        if isinstance(result, AudienceError):
            fail(str(result), code=2)
        return result

    reach, unreachable = run_with(lambda a: a.audience_size(audience))  # type: ignore[misc]
    typer.echo(f"To {audience}: {reach} people ({unreachable} unreachable, left out)\n---\n{text}\n---")
    if not yes and not typer.confirm("Send it?"):
        fail("not sent")
    report = run_with(lambda a: a.send(text, audience, actor(by)))
    typer.echo(f"announcement {report.id}: queued for {report.pending}, unreachable {report.unreachable}")  # type: ignore[attr-defined]


@admin_cli.command("announcement")
def announcement(number: int, db: Db = None) -> None:
    """How an announcement is doing: delivered, pending, unreachable, failed."""

    async def work(repo: ContentRepo, _p: Publisher, _a: AdminRepo) -> object:
        try:
            return await (await _announcements(repo, db)).report(number)  # type: ignore[attr-defined]
        except KeyError:
            return None

    report = with_repos(db, work)
    if report is None:
        fail(f"there is no announcement {number}")
    r = report
    typer.echo(f"announcement {r.id} to {r.audience}: delivered {r.delivered}, pending {r.pending}, "  # type: ignore[attr-defined]
               f"unreachable {r.unreachable}, failed {r.failed}")  # type: ignore[attr-defined]


async def _announcements(repo: ContentRepo, db: object) -> object:
    from ketacompanion.announcements import Announcements
    from ketacompanion.cli_settings import command_settings
    from ketacompanion.core.clock import SystemClock
    from ketacompanion.delivery.outbox import Outbox
    from ketacompanion.storage.keycheck import open_cipher

    settings = command_settings(db)  # type: ignore[arg-type]
    key = settings.data_key.get_secret_value() if settings.data_key else None
    cipher = await open_cipher(repo.engine, key, settings.key_file)  # rows are encrypted per person
    clock = SystemClock()
    return Announcements(Outbox(repo.engine, cipher, clock, {}, settings.send_rate_per_s), clock)
