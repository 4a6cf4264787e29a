"""The terminal chat: an interactive mode, and a JSON-lines mode for scripts and tests."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import secrets
import shutil
import sys
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TextIO

from ketacompanion.core.model import Address, Attachment, Inbound, InboundKind, Reply
from ketacompanion.delivery.simulation import Simulation, parse_duration
from ketacompanion.files import private_dir, write_private

PLATFORM = "console"
MAX_LINE = 100_000  # a JSON line longer than this is refused, not parsed
MAX_DOCUMENT = 20 * 1024 * 1024  # a sent file larger than this is refused unread

Handle = Callable[[Inbound], Awaitable[list[Reply]]]


class ConsoleAdapter:
    platform = PLATFORM

    def __init__(
        self, handle: Handle, user_id: str, files_dir: Path, language: str | None = None,
        simulation: Simulation | None = None,
    ) -> None:
        self._handle, self._user, self._language = handle, user_id, language
        self._root = files_dir
        self._files = person_folder(files_dir, user_id)
        self.address = Address(PLATFORM, user_id)
        self._simulation = simulation
        self._scheduled: list[Reply] = []
        self._live_out: TextIO | None = None
        # The buttons a typed number presses: always those of the latest message with
        # buttons (``_generation`` counts how often they changed).
        self.numbered: list[tuple[str, str]] = []
        self._generation = 0

    async def send(self, address: Address, reply: Reply) -> None:
        """Scheduled messages from the outbox (the ``Sender`` protocol)."""
        if address.chat_id != self._user:
            return  # another terminal user's message: nobody here to show it to
        if self._live_out is not None:  # interactive: show it as it arrives
            numbered: list[tuple[str, str]] = []
            self._live_out.write("\n" + self.render(reply, numbered) + "\n> ")
            self._take(numbered)
            self._live_out.flush()
        else:
            self._scheduled.append(reply)

    def _take(self, numbered: list[tuple[str, str]]) -> None:
        if numbered:
            self.numbered = numbered
            self._generation += 1

    def text(self, text: str) -> Inbound:
        return Inbound.from_text(self.address, self._user, text, language=self._language)

    def choice(self, choice_id: str) -> Inbound:
        return Inbound.from_choice(self.address, self._user, choice_id, language=self._language)

    def document(self, path: Path, caption: str = "") -> Inbound | None:
        """A file sent as a document (an editor's lesson or content zip), capped in size."""
        try:
            if not path.is_file() or path.stat().st_size > MAX_DOCUMENT:
                return None
            data = path.read_bytes()
        except OSError:
            return None
        attachment = Attachment(path.name, "application/octet-stream", data)
        return Inbound(self.address, self._user, InboundKind.TEXT, text=caption, language=self._language,
                       attachment=attachment)

    def save(self, attachment: Attachment) -> Path:
        # May hold health data: 0600 in a 0700 directory.
        return write_private(self._files / attachment.filename, attachment.data).resolve()

    # --- JSON lines -------------------------------------------------------------------
    def forget_files(self) -> None:
        """After ``/delete``: every file this person was given goes too."""
        shutil.rmtree(self._files, ignore_errors=True)

    def _after(self, reply: Reply) -> None:
        if reply.meta.get("erased"):
            self.forget_files()

    def reply_json(self, reply: Reply, numbered: list[tuple[str, str]] | None = None) -> dict[str, Any]:
        numbered = [] if numbered is None else numbered
        choices: list[dict[str, Any]] = []
        for c in reply.choices:
            if c.url:
                choices.append({"id": c.id, "label": c.label, "url": c.url})
            else:
                numbered.append((c.id, c.label))
                choices.append({"id": c.id, "label": c.label, "key": str(len(numbered))})
        self._after(reply)
        return {
            "type": "reply",
            "text": reply.text,
            "choices": choices,
            "image": str(self.save(reply.image)) if reply.image else None,
            "file": str(self.save(reply.file)) if reply.file else None,
            "urgency": reply.urgency.value,
            **({"scheduled": True} if reply.scheduled else {}),
        }

    async def json_request(self, line: str) -> list[dict[str, Any]]:
        """One input line in, the output objects (ending with ``done``) out."""
        try:
            request = json.loads(line) if len(line) <= MAX_LINE else None
        except ValueError:
            request = None
        if not isinstance(request, dict):
            return [{"type": "error", "error": "each line must be a JSON object such as {\"text\": \"hi\"}"}, _DONE]
        if "advance_clock" in request:
            return await self._advance(request["advance_clock"])
        if isinstance(request.get("text"), str):
            inbound = self.text(request["text"])
        elif isinstance(request.get("choice"), str):
            inbound = self.choice(request["choice"])
        elif isinstance(request.get("document"), str):
            inbound = self.document(Path(request["document"]), str(request.get("caption", "")))
            if inbound is None:
                return [{"type": "error", "error": f"cannot read a file of at most {MAX_DOCUMENT:,} bytes there"}, _DONE]
        elif isinstance(request.get("press"), str):
            # What the interactive chat does with a typed line: numbers press the
            # latest message's buttons.
            inbound = self.parse(request["press"], self.numbered)
        else:
            return [{"type": "error", "error": "expected a \"text\", \"choice\", \"press\" or \"document\" field"}, _DONE]
        return self._emit(await self._handle(inbound), scheduled=False)

    def _emit(self, replies: list[Reply], scheduled: bool) -> list[dict[str, Any]]:
        numbered: list[tuple[str, str]] = []
        out = [self.reply_json(r, numbered) | ({"scheduled": True} if scheduled else {}) for r in replies]
        self._take(numbered)
        return [*out, _DONE]

    async def _advance(self, value: object) -> list[dict[str, Any]]:
        if self._simulation is None:
            return [{"type": "error", "error": "advance_clock needs the simulated clock: chat --simulate START"}, _DONE]
        try:
            delta = parse_duration(str(value))
        except ValueError:
            return [{"type": "error", "error": "advance_clock takes an ISO 8601 duration such as P1D or PT2H"}, _DONE]
        await self._simulation.advance(delta)
        sent, self._scheduled = self._scheduled, []
        return self._emit(sent, scheduled=True)

    async def run_json(self, stdin: TextIO, stdout: TextIO) -> None:
        while True:
            line = await asyncio.to_thread(stdin.readline)
            if not line:
                return
            if not line.strip():
                continue
            for obj in await self.json_request(line):
                stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
            stdout.flush()

    # --- interactive --------------------------------------------------------------------
    def render(self, reply: Reply, numbered: list[tuple[str, str]]) -> str:
        """Text with buttons as numbers; ``numbered`` collects them across one answer."""
        lines = [("[!] " if reply.urgency.value == "crisis" else "") + reply.text]
        for choice in reply.choices:
            if choice.url:
                lines.append(f"    -> {choice.label}: {choice.url}")
            else:
                numbered.append((choice.id, choice.label))
                lines.append(f"  [{len(numbered)}] {choice.label}")
        for attachment, word in ((reply.image, "picture"), (reply.file, "file")):
            if attachment is not None:
                lines.append(f"  ({word} saved to {self.save(attachment)})")
        self._after(reply)
        return "\n".join(lines)

    def parse(self, typed: str, choices: list[tuple[str, str]]) -> Inbound:
        stripped = typed.strip()
        folded = stripped.casefold()
        # On a 0-10 scale the buttons are labelled with numbers too: "5" means the
        # button labelled 5, not the fifth button (which would be 4). A typed label
        # ("next", "Back") presses its button whatever its position.
        for choice_id, label in choices:
            if folded and _plain(label) == _plain(stripped):
                return self.choice(choice_id)
        numeric_labels = any(label.strip().isdigit() for _, label in choices)
        if stripped.isdigit() and not numeric_labels and 1 <= int(stripped) <= len(choices):
            return self.choice(choices[int(stripped) - 1][0])
        # Any other number (11 on a 0-10 scale) goes to the open question as text,
        # which answers it kindly.
        return self.text(typed)

    async def run_interactive(self, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> None:
        self._live_out = stdout
        stdout.write("ketacompanion terminal chat. Type /start to begin, numbers to tap buttons, Ctrl-D or Ctrl-C to leave.\n")
        lines = _LineReader(stdin)
        while True:
            stdout.write("> ")
            stdout.flush()
            seen = self._generation
            line = await lines.next()
            if not line:
                stdout.write("\n")
                return
            if not line.strip():
                continue
            if self._generation != seen and line.strip().isdigit():
                # New buttons arrived while this was typed: the number may have been
                # meant for the old ones, so press nothing.
                stdout.write(_NEW_BUTTONS + "\n\n")
                continue
            new_choices: list[tuple[str, str]] = []
            for reply in await self._handle(self.parse(line.rstrip("\n"), self.numbered)):
                stdout.write(self.render(reply, new_choices) + "\n\n")
            self._take(new_choices)
            stdout.flush()


class _LineReader:
    """Lines from a blocking stream on a daemon thread, so that Ctrl-C ends the chat at
    once instead of waiting for the read to return."""

    def __init__(self, stream: TextIO) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        threading.Thread(target=self._read, args=(stream,), daemon=True, name="console-stdin").start()

    def _read(self, stream: TextIO) -> None:
        while True:
            try:
                line = stream.readline()
            except (OSError, ValueError):
                line = ""
            try:
                self._loop.call_soon_threadsafe(self._queue.put_nowait, line)
            except RuntimeError:  # the loop has closed
                return
            if not line:
                return

    async def next(self) -> str:
        return await self._queue.get()


def _plain(label: str) -> str:
    """A label as typed: no arrows or emoji around it, any case ("Next ▶" is "next")."""
    return "".join(ch for ch in label.casefold() if ch.isalnum() or ch.isspace()).strip()


def person_folder(root: Path, user_id: str) -> Path:
    """One folder per terminal user, named by a keyed hash: two users never share a file,
    and the name neither shows nor lets anyone guess whose it is."""
    private_dir(root)  # and its missing parents: all 0700
    salt_file = root / ".salt"
    try:
        fd = os.open(salt_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    salt = salt_file.read_text().strip().encode()
    name = hashlib.blake2b(f"{PLATFORM}:{user_id}".encode(), key=salt[:64], digest_size=12).hexdigest()
    return root / name


_NEW_BUTTONS = "A new message with buttons arrived while you were typing. Please check it and type your choice again."


_DONE = {"type": "done"}
