"""``content publish|history|diff|rollback|export|review`` and ``admin grant|revoke|list|audit``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ketacompanion.cli import cli
from ketacompanion.content.bundle import read_directory, zip_files
from test_content_versions import _link, _zip

from conftest import CONTENT


def run(db: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, [*args, "--db", str(db)])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "admin.db"
    code, out, err = run(path, "content", "publish", str(CONTENT), "--note", "first", "--by", "cli:ann")
    assert code == 0, err
    assert "published version 1" in out
    return path


def test_publish_refusal_is_one_line_and_nonzero(db: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(CONTENT, bad)
    (bad / "checkins" / "daily.yaml").write_text("items: [\n", encoding="utf-8")
    code, out, err = run(db, "content", "publish", str(bad), "--note", "broken")
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("ketacompanion: publish refused: checkins/daily.yaml:")
    assert "checkins/daily.yaml:" in out
    code, out, _ = run(db, "content", "history")
    assert out.splitlines()[0].startswith("* version 1 ")


def test_zip_publish_diff_export_and_rollback_restore_bytes(db: Path, tmp_path: Path) -> None:
    files = read_directory(CONTENT)
    files["lessons/en/topics.yaml"] += b"\n# reordered later\n"
    archive = tmp_path / "content.zip"
    archive.write_bytes(zip_files(files))
    code, out, err = run(db, "content", "publish", str(archive), "--note", "zip")
    assert code == 0, err
    assert "other files changed: lessons/en/topics.yaml" in out
    code, out, _ = run(db, "content", "diff", "1", "2")
    assert "+# reordered later" in out
    code, out, err = run(db, "content", "rollback")
    assert code == 0 and "version 3" in out and "restores 1" in out, err
    code, _, err = run(db, "content", "export", "3", str(tmp_path / "out"))
    assert code == 0, err
    assert read_directory(tmp_path / "out") == read_directory(CONTENT)
    for original in CONTENT.rglob("*"):
        if original.is_file() and "__pycache__" not in original.parts:
            assert (tmp_path / "out" / original.relative_to(CONTENT)).read_bytes() == original.read_bytes()
    code, _, err = run(db, "content", "rollback", "9")
    assert code == 1 and "there is no version 9" in err


def test_roles_review_and_audit(db: Path) -> None:
    assert run(db, "admin", "grant", "telegram:42", "chef")[0] == 2
    assert run(db, "admin", "grant", "telegram42", "owner")[0] == 2
    code, out, _ = run(db, "admin", "grant", "telegram:42", "reviewer", "--name", "Dr Ada Lee", "--title", "psychiatrist")
    assert code == 0 and "now reviewer" in out
    code, out, _ = run(db, "admin", "list")
    assert "telegram:42" in out and "Dr Ada Lee, psychiatrist" in out
    code, out, _ = run(db, "content", "review")
    assert "en/blood-pressure  (never reviewed" in out and "source: https://" in out
    code, _, err = run(db, "content", "review", "blood-pressure", "--as", "Dr Nobody")
    assert code == 1 and "not a registered reviewer" in err
    code, out, err = run(db, "content", "review", "blood-pressure", "--as", "Dr Ada Lee")
    assert code == 0 and "version 2" in out, err
    code, out, _ = run(db, "content", "review")
    assert "en/blood-pressure " not in out and "en/integration " in out
    code, out, _ = run(db, "content", "export", "2", str(db.parent / "v2"))
    stamped = (db.parent / "v2" / "lessons/en/blood-pressure.md").read_text(encoding="utf-8")
    assert 'reviewed_by: "Dr Ada Lee, psychiatrist"' in stamped
    assert run(db, "admin", "revoke", "telegram:42", "reviewer")[0] == 0
    assert run(db, "admin", "revoke", "telegram:42", "reviewer")[0] == 1
    code, out, _ = run(db, "admin", "audit", "--json")
    actions = [json.loads(line)["action"] for line in out.splitlines()]
    assert actions[:4] == ["revoke", "revoke", "review", "reviewed"]
    assert "review_refused" in actions and "grant" in actions and "publish" in actions


def _lying_header() -> bytes:
    """An entry whose header claims 10 bytes but inflates to 3 MB."""
    data = bytearray(_zip([("lessons/en/x.md", b"\0" * 3_000_000)]))
    for sig, at in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = data.index(sig)
        data[start + at:start + at + 4] = (10).to_bytes(4, "little")
    return bytes(data)


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        (lambda: _zip([("../../etc/passwd", b"root:x:0:0")]), "climbs out"),
        (lambda: _zip([("/etc/passwd", b"root:x:0:0")]), "absolute path"),
        (lambda: _zip([(_link("lessons/en/x.md"), b"/etc/passwd")]), "symbolic link"),
        (lambda: _zip([("lessons/en/bomb.md", b"\0" * 3_000_000)]), "zip bomb"),
        (_lying_header, "cannot unpack"),  # zipfile reads no further than the header says, then the CRC fails
    ],
    ids=["dotdot", "absolute", "symlink", "bomb", "lying-header"],
)
def test_a_dangerous_archive_is_refused_named_audited_and_changes_nothing(
    db: Path, tmp_path: Path, entries: object, expected: str
) -> None:
    archive = tmp_path / "content.zip"
    archive.write_bytes(entries())  # type: ignore[operator]
    code, out, err = run(db, "content", "publish", str(archive), "--note", "bad")
    assert code == 1 and err.startswith("ketacompanion: publish refused: ") and expected in err + out
    assert not (tmp_path / "etc").exists()
    code, out, _ = run(db, "content", "history")
    assert out.splitlines()[0].startswith("* version 1 ") and len(out.splitlines()) == 1
    code, out, _ = run(db, "admin", "audit", "--action", "publish_refused", "--json")
    (entry,) = [json.loads(line) for line in out.splitlines()]
    assert expected in entry["detail"]["reason"] and entry["ok"] is False


def test_export_onto_a_file_fails_with_one_line(db: Path, tmp_path: Path) -> None:
    target = tmp_path / "a-file"
    target.write_text("keep me", encoding="utf-8")
    code, _, err = run(db, "content", "export", "1", str(target))
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("ketacompanion: ") and "Traceback" not in err
    assert target.read_text(encoding="utf-8") == "keep me"


def test_stats_chart_into_a_missing_folder_fails_with_one_line(db: Path, tmp_path: Path) -> None:
    code, _, err = run(db, "admin", "stats", "--chart", str(tmp_path / "no" / "such" / "chart.png"))
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("ketacompanion: ") and "chart" in err


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("", "--audience", "all"), "an announcement is 1 to"),
        (("   ", "--audience", "all"), "an announcement is 1 to"),
        (("Closed on Friday.", "--audience", "mars"), "audience must be all, a platform"),
    ],
)
def test_announce_refuses_empty_text_and_unknown_audiences_before_any_preview(
    db: Path, args: tuple[str, ...], says: str
) -> None:
    code, out, err = run(db, "admin", "announce", *args, "--yes")
    assert code == 2
    assert err.count("\n") == 1 and says in err
    assert "To " not in out and "queued" not in out  # no preview, nothing sent
