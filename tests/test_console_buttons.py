"""Terminal chat: typed numbers press the latest message's buttons, files stay per person."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from pathlib import Path
from typing import Any

from ketacompanion.adapters.console import ConsoleAdapter
from ketacompanion.app import App
from ketacompanion.core.clock import FakeClock
from ketacompanion.core.model import Choice, Inbound, InboundKind, Reply
from ketacompanion.delivery.simulation import Simulation


class Terminal:
    """One terminal user speaking the JSON protocol to the real app."""

    def __init__(self, app: App, clock: FakeClock, files: Path, user: str = "local") -> None:
        self.console = ConsoleAdapter(app.companion.handle, user, files, simulation=Simulation(clock, app.delivery))
        app.add_sender(self.console)
        self.last: list[dict[str, Any]] = []

    async def send(self, **request: object) -> list[dict[str, Any]]:
        out = await self.console.json_request(json.dumps(request))
        assert out[-1] == {"type": "done"}
        self.last = [o for o in out if o["type"] == "reply"]
        return self.last

    def text(self) -> str:
        return "\n".join(str(o["text"]) for o in self.last)

    def keys(self) -> dict[str, str]:
        return {c["key"]: c["id"] for o in self.last for c in o["choices"] if "key" in c}

    async def onboard(self) -> None:
        await self.send(text="/start")
        await self.send(choice="start:agree")
        await self.send(choice="start:country:GB")  # one zone: Europe/London


async def test_a_scheduled_messages_buttons_are_numbered_and_a_number_presses_them(
    app: App, clock: FakeClock, tmp_path: Path
) -> None:
    term = Terminal(app, clock, tmp_path / "exports")
    await term.onboard()
    await term.send(text="/schedule 20:00")
    await term.send(text="/delete")  # the confirmation is the last menu on screen...
    assert "delete:yes" in term.keys().values()
    arrived = await term.send(advance_clock="PT12H")  # ...until the evening check-in arrives
    assert arrived and arrived[0]["scheduled"] is True
    keys = term.keys()
    assert keys["1"].startswith("checkin:start:") and "delete:yes" not in keys.values()
    await term.send(press="1")
    assert "erased" not in term.text().lower() and "deleted" not in term.text().lower()
    assert any(str(c["id"]).startswith("checkin:") for o in term.last for c in o["choices"])
    await term.send(text="/settings")
    assert "Europe/London" in term.text()  # still here


async def test_on_a_0_to_10_scale_numbers_are_values_and_out_of_range_is_refused(
    app: App, clock: FakeClock, tmp_path: Path
) -> None:
    term = Terminal(app, clock, tmp_path / "exports")
    await term.onboard()
    await term.send(text="/checkin")
    question = term.text()
    assert "0 (worst) to 10 (best)" in question
    for typed in ("11", "12", "13", "😀"):
        await term.send(press=typed)
        assert "number from 0 to 10" in term.text(), typed
        assert question.splitlines()[-1] in term.text()  # the same question again
    await term.send(press="10")
    assert "(2 of 5)" in term.text()  # 10 was taken as the answer...
    await term.send(text="/export")
    export = next(o["file"] for o in term.last if o.get("file"))
    tables = _read(Path(export))["tables"]
    answers = [row for name, rows in tables.items() if "answer" in name for row in rows]
    assert len(answers) == 1 and "10" in json.dumps(answers[0])  # ...and saved once, as 10


def test_typed_labels_press_their_buttons_in_any_case(tmp_path: Path) -> None:
    console = ConsoleAdapter(_nothing, "u", tmp_path)  # type: ignore[arg-type]
    card_one = [("learn:next:x:1", "Next ▶"), ("learn:menu", "Lessons")]
    card_two = [("learn:back:x:2", "◀ Back"), ("learn:next:x:2", "Next ▶"), ("learn:menu", "Lessons")]
    for typed in ("Next", "next", " NEXT "):
        assert console.parse(typed, card_one).choice == "learn:next:x:1"
        assert console.parse(typed, card_two).choice == "learn:next:x:2"
    assert console.parse("back", card_two).choice == "learn:back:x:2"
    assert console.parse("back", card_one).kind is InboundKind.TEXT


def _read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


async def _nothing(_inbound: object) -> list[object]:
    return []


async def test_interactive_a_number_typed_while_new_buttons_arrived_presses_nothing(tmp_path: Path) -> None:
    seen: list[Inbound] = []

    async def handle(inbound: Inbound) -> list[Reply]:
        seen.append(inbound)
        return [Reply("Sure?", choices=(Choice("delete:yes", "Yes, delete everything"), Choice("delete:no", "Cancel")))]

    console = ConsoleAdapter(handle, "local", tmp_path)
    read_fd, write_fd = os.pipe()
    stdin, out = os.fdopen(read_fd, "r"), _Screen()
    task = asyncio.create_task(console.run_interactive(stdin, out))  # type: ignore[arg-type]
    os.write(write_fd, b"/delete\n")
    await out.wait_for("[1] Yes, delete everything")
    # A check-in arrives while the person types "1" meaning the old menu.
    await console.send(console.address, Reply("Time for your check-in", choices=(Choice("checkin:start:7", "Start"),), scheduled=True))
    os.write(write_fd, b"1\n")
    await out.wait_for("arrived while you were typing")
    assert [i.kind for i in seen] == [InboundKind.COMMAND]  # nothing pressed
    os.write(write_fd, b"1\n")  # typed again, now meaning the check-in's button
    await out.wait_for("Sure?", count=2)
    assert seen[-1].choice == "checkin:start:7"
    os.close(write_fd)
    await asyncio.wait_for(task, 2)
    stdin.close()


class _Screen:
    def __init__(self) -> None:
        self.text = ""

    def write(self, s: str) -> None:
        self.text += s

    def flush(self) -> None:
        pass

    async def wait_for(self, needle: str, count: int = 1) -> None:
        for _ in range(200):
            if self.text.count(needle) >= count:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"{needle!r} not shown: {self.text[-500:]}")


async def test_files_are_per_person_private_and_gone_after_delete(
    app: App, clock: FakeClock, tmp_path: Path
) -> None:
    root = tmp_path / "exports"
    ann, bob = Terminal(app, clock, root, "ann"), Terminal(app, clock, root, "bob")
    for term in (ann, bob):
        await term.onboard()
        await term.send(text="/export")
    files = {who: Path(next(o["file"] for o in t.last if o.get("file"))) for who, t in (("ann", ann), ("bob", bob))}
    assert files["ann"] != files["bob"] and files["ann"].exists() and files["bob"].exists()
    assert _read(files["ann"])["tables"]["users"][0]["platform_user_id"] == "ann"
    for who, path in files.items():
        assert who not in str(path.relative_to(root))  # no user id in the name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    await ann.send(text="/delete")
    await ann.send(press=next(k for k, v in ann.keys().items() if v == "delete:yes"))
    assert not files["ann"].parent.exists()
    assert not any(p.is_file() and "ann" in p.read_text(errors="ignore") for p in root.rglob("*") if p != files["bob"])
    assert files["bob"].exists()  # the other person's files stay


async def test_typed_next_and_back_walk_a_real_lesson(app: App, clock: FakeClock, tmp_path: Path) -> None:
    term = Terminal(app, clock, tmp_path / "exports")
    await term.send(text="/learn")
    await term.send(press="1")
    await term.send(press="1")
    for typed, card in (("next", 1), ("Next", 2), ("back", 1), ("NEXT", 2)):
        await term.send(press=typed)
        ids = list(term.keys().values())
        assert any(i.startswith("learn:next:") and i.endswith(f":{card}") for i in ids), (typed, ids)
