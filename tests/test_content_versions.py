"""Content versions: publish, refuse bad sets, roll back byte for byte, follow the live version."""

from __future__ import annotations

import asyncio
import io
import stat
import zipfile
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from ketacompanion.app import App, build_app
from ketacompanion.content.bundle import (
    BundleError,
    content_hash,
    read_directory,
    read_zip,
    zip_files,
)
from ketacompanion.content.catalog import Content, ContentHolder
from ketacompanion.core.clock import FakeClock
from ketacompanion.publishing import Publisher, PublishRefused
from ketacompanion.storage import tables as t
from ketacompanion.storage.admin_repo import AdminRepo
from ketacompanion.storage.content_repo import ContentRepo

from conftest import CONTENT, Chat, make_settings

TODAY = date(2026, 11, 23)
UNKNOWN = 'unknown_command: "I don\'t know /{command}. Send /help to see what I can do."'


def shipped() -> dict[str, bytes]:
    return read_directory(CONTENT)


def edited(marker: str = "v2") -> dict[str, bytes]:
    files = shipped()
    text = files["messages/en.yaml"].decode()
    assert UNKNOWN in text
    files["messages/en.yaml"] = text.replace(UNKNOWN, UNKNOWN.replace("I don't know", f"[{marker}] I don't know")).encode()
    return files


@pytest.fixture
async def live_app(database_url: str, tmp_path: Path, clock: FakeClock, content_set: Content) -> AsyncIterator[App]:
    built = await build_app(make_settings(database_url, tmp_path), clock, content_set)
    yield built
    await built.close()


def publisher(app: App) -> tuple[Publisher, ContentRepo, AdminRepo]:
    repo, admin = ContentRepo(app.engine, app.clock), AdminRepo(app.engine, app.clock)
    return Publisher(repo, admin, lambda: TODAY), repo, admin


async def test_a_fresh_database_is_seeded_with_the_shipped_folder(live_app: App) -> None:
    repo = ContentRepo(live_app.engine, live_app.clock)
    live = await repo.live()
    assert live is not None and (live.number, live.kind) == (1, "seed")
    assert await repo.files(1) == shipped()
    assert live.hash == content_hash(shipped())
    assert live_app.live is not None and live_app.live.loaded == 1


async def test_publish_goes_live_in_a_running_process_and_rollback_restores_the_bytes(live_app: App) -> None:
    pub, repo, admin = publisher(live_app)
    chat = Chat(live_app)
    assert "[v2]" not in "".join(r.text for r in await chat.say("/nosuch"))
    info = await pub.publish(edited(), "cli:editor", "say which version")
    assert (info.number, info.changes["other_changed"]) == (2, ["messages/en.yaml"])
    assert live_app.live is not None
    assert await live_app.live.poll() is True
    assert "[v2] I don't know /nosuch" in "".join(r.text for r in await chat.say("/nosuch"))
    loads = await repo.loads(version=2)
    assert [(x.process, x.status) for x in loads] == [(live_app.live.process, "loaded")]

    back = await pub.rollback("cli:owner")
    assert (back.number, back.restored_from, back.kind) == (3, 1, "rollback")
    assert await repo.files(3) == await repo.files(1) == shipped()  # byte for byte
    assert back.hash == (await repo.version(1)).hash  # type: ignore[union-attr]
    assert await live_app.live.poll() is True
    assert "[v2]" not in "".join(r.text for r in await chat.say("/nosuch"))
    actions = [(e.action, e.ok) for e in await admin.audit_log()]
    assert actions[:3] == [("rollback", True), ("publish", True), ("seed", True)]


async def test_a_turn_is_answered_wholly_by_the_set_it_started_with(live_app: App, content_set: Content) -> None:
    holder = ContentHolder(content_set)
    newer = replace(content_set)
    with holder.pinned() as first:
        holder.swap(newer)
        assert holder.current is first  # mid-turn: still the old set
        await asyncio.sleep(0)
        assert holder.current is first
    assert holder.current is newer


async def test_a_version_that_fails_to_load_here_is_recorded_and_the_old_one_kept(live_app: App) -> None:
    _, repo, _ = publisher(live_app)
    broken = shipped()
    broken["crisis/phrases.yaml"] = b"rules: [unclosed"
    # Stored directly, as a version published by a newer release might be.
    await repo.publish(broken, by="cli:x", note="n", kind="publish", validation={}, changes={}, base=1)
    before = live_app.content.current
    assert live_app.live is not None
    assert await live_app.live.poll() is False
    assert live_app.content.current is before
    (load,) = await repo.loads(version=2)
    assert load.status == "failed" and "phrases.yaml" in load.detail
    assert await live_app.live.poll() is False  # not retried on every poll
    assert live_app.live.loaded == 1


async def test_at_start_the_live_version_in_the_database_wins(
    database_url: str, tmp_path: Path, clock: FakeClock, content_set: Content
) -> None:
    first = await build_app(make_settings(database_url, tmp_path), clock, content_set)
    pub, _, _ = publisher(first)
    await pub.publish(edited("db"), "cli:editor", "n")
    await first.close()
    second = await build_app(make_settings(database_url, tmp_path), clock, content_set)
    try:
        assert second.live is not None and second.live.loaded == 2
        assert "[db]" in "".join(r.text for r in await Chat(second).say("/nosuch"))
    finally:
        await second.close()


async def test_a_publish_that_crashes_half_way_leaves_nothing(
    live_app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    pub, repo, admin = publisher(live_app)

    async def crash(*_: object) -> None:
        raise RuntimeError("power cut")

    monkeypatch.setattr(ContentRepo, "_switch_live", crash)
    with pytest.raises(PublishRefused) as refused:
        await pub.publish(edited(), "cli:editor", "n")
    assert refused.value.reason == "publish failed half-way (RuntimeError); nothing was stored and version 1 is still live"
    async with live_app.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(t.content_versions)) == 1
        assert await conn.scalar(select(func.count()).where(t.content_files.c.version == 2)) == 0
    assert await repo.live_number() == 1
    (entry,) = await admin.audit_log(action="publish_refused")
    assert entry.actor == "cli:editor" and "half-way" in entry.detail["reason"]


async def test_a_version_whose_stored_bytes_were_altered_is_never_loaded(live_app: App) -> None:
    pub, repo, _ = publisher(live_app)
    await pub.publish(edited(), "cli:editor", "fix")
    async with live_app.engine.begin() as conn:  # a half-written or tampered file row
        await conn.execute(
            update(t.content_files).where(t.content_files.c.version == 2, t.content_files.c.path == "messages/en.yaml")
            .values(data=b"greeting: tampered\n")
        )
    assert live_app.live is not None and not await live_app.live.poll()
    assert live_app.live.loaded == 1 and live_app.content.version == 1
    (load,) = [x for x in await repo.loads() if x.version == 2]
    assert load.status == "failed" and "do not match" in load.detail


async def test_two_editors_at_once_one_wins_one_is_told(live_app: App) -> None:
    pub, repo, admin = publisher(live_app)
    results = await asyncio.gather(
        pub.publish(edited("a"), "telegram:1", "a"), pub.publish(edited("b"), "telegram:2", "b"),
        return_exceptions=True,
    )  # fmt: skip
    refused = [r for r in results if isinstance(r, PublishRefused)]
    assert len(refused) == 1 and "another version" in refused[0].reason
    assert await repo.live_number() == 2
    assert [e.action for e in await admin.audit_log(action="publish_refused")] == ["publish_refused"]


async def test_a_rollback_to_a_version_that_no_longer_validates_is_refused(live_app: App) -> None:
    pub, repo, admin = publisher(live_app)
    old = shipped()
    old["lessons/en/blood-pressure.md"] = old["lessons/en/blood-pressure.md"].replace(b"reviewed_on:", b"reviewd_on:")
    await repo.publish(old, by="cli:x", note="older code", kind="publish", validation={}, changes={}, base=1)
    await pub.publish(edited(), "cli:editor", "fix")
    with pytest.raises(PublishRefused) as refused:
        await pub.rollback("cli:owner", 2)
    assert refused.value.reason.startswith("rollback to version 2 refused: lessons/en/blood-pressure.md:")
    assert await repo.live_number() == 3
    assert (await admin.audit_log(1))[0].action == "rollback_refused"


def _with(path: str, data: bytes) -> dict[str, bytes]:
    files = shipped()
    files[path] = data
    return files


def _hard_lesson() -> bytes:
    text = shipped()["lessons/en/blood-pressure.md"].decode()
    head, _, _ = text.partition("\n## ")
    words = ("Notwithstanding considerable interindividual pharmacokinetic heterogeneity, cardiovascular "
             "haemodynamic perturbations necessitate comprehensive institutional monitoring protocols. ") * 4
    return (head + "\n## Why it rises\n\n" + words + "\n").encode()


def _helplines_without_gb() -> bytes:
    import yaml

    data = yaml.safe_load(shipped()["crisis/helplines.yaml"])
    data["countries"] = [c for c in data["countries"] if c["code"] != "GB"]
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False).encode()


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (lambda: _with("checkins/daily.yaml", b"id: daily\nitems: [\n"), "checkins/daily.yaml:"),
        (lambda: _with("messages/en.yaml", shipped()["messages/en.yaml"] + b"\n# caf\xe9\n"), "not UTF-8"),
        (
            lambda: _with("lessons/en/blood-pressure-2.md", shipped()["lessons/en/blood-pressure.md"]),
            "duplicate lesson id 'blood-pressure'",
        ),
        (lambda: _with("lessons/en/blood-pressure.md", _hard_lesson()), "reading grade"),
        (lambda: _with("crisis/helplines.yaml", _helplines_without_gb()), "the lines for GB are missing"),
        (lambda: _with("lessons/en/big.md", b"x" * 5_000_000), "a content file may hold at most"),
    ],
    ids=["broken-yaml", "not-utf8", "duplicate-id", "reading-level", "helplines-missing", "5mb-file"],
)
async def test_bad_sets_are_refused_with_the_problem_named(
    live_app: App, files: object, expected: str
) -> None:
    pub, repo, admin = publisher(live_app)
    with pytest.raises(PublishRefused) as refused:
        await pub.publish(files(), "cli:editor", "bad")  # type: ignore[operator]
    assert expected in refused.value.reason + "\n".join(refused.value.problems)
    assert refused.value.reason.startswith("publish refused: ")
    assert await repo.live_number() == 1
    (entry,) = await admin.audit_log(1)
    assert (entry.action, entry.ok) == ("publish_refused", False)


def _zip(entries: list[tuple[zipfile.ZipInfo | str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


def _link(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


@pytest.mark.parametrize(
    ("archive", "expected"),
    [
        (lambda: _zip([("../../etc/passwd", b"root:x:0:0")]), "climbs out"),
        (lambda: _zip([("/etc/passwd", b"root:x:0:0")]), "absolute path"),
        (lambda: _zip([(_link("lessons/en/x.md"), b"/etc/passwd")]), "symbolic link"),
        (lambda: _zip([("lessons/en/bomb.md", b"\0" * 3_000_000)]), "zip bomb"),
        (lambda: _zip([(f"f{i}.txt", b"a" * 3_000_000) for i in range(12)]), "unpacks to"),
        (lambda: b"PK\x03\x04 not really", "not a zip archive"),
    ],
    ids=["dotdot", "absolute", "symlink", "ratio", "total", "not-zip"],
)
def test_dangerous_archives_are_refused_before_any_file_is_read(archive: object, expected: str) -> None:
    with pytest.raises(BundleError) as refused:
        read_zip(archive())  # type: ignore[operator]
    assert expected in "; ".join(refused.value.problems)


def test_a_zip_of_the_folder_reads_as_the_same_set() -> None:
    files = shipped()
    wrapped = _zip([(f"content/{p}", b) for p, b in files.items()])
    assert read_zip(wrapped) == files
    assert read_zip(zip_files(files)) == files


def test_a_link_in_a_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "lessons").mkdir()
    (tmp_path / "lessons" / "x.md").symlink_to("/etc/passwd")
    with pytest.raises(BundleError, match="link"):
        read_directory(tmp_path)
