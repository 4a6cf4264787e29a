"""The terminal chat: an interactive mode, and a JSON-lines mode for scripts and tests."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TextIO

from ketacompanion.core.model import Address, Attachment, Inbound, InboundKind, Reply
from ketacompanion.delivery.simulation import Simulation, parse_duration
from ketacompanion.files import write_private

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
        self._handle, self._user, self._files, self._language = handle, user_id, files_dir, language
        self.address = Address(PLATFORM, user_id)
        self._simulation = simulation
        self._scheduled: list[Reply] = []
        self._live_out: TextIO | None = None

    async def send(self, address: Address, reply: Reply) -> None:
        """Scheduled messages from the outbox (the ``Sender`` protocol)."""
        if address.chat_id != self._user:
            return  # another terminal user's message: nobody here to show it to
        if self._live_out is not None:  # interactive: show it as it arrives
            self._live_out.write("\n" + self.render(reply, []) + "\n> ")
            self._live_out.flush()
        else:
            self._scheduled.append(reply)

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
    def reply_json(self, reply: Reply) -> dict[str, Any]:
        return {
            "type": "reply",
            "text": reply.text,
            "choices": [
                {"id": c.id, "label": c.label, **({"url": c.url} if c.url else {})} for c in reply.choices
            ],
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
        else:
            return [{"type": "error", "error": "expected a \"text\", \"choice\" or \"document\" field"}, _DONE]
        return [self.reply_json(r) for r in await self._handle(inbound)] + [_DONE]

    async def _advance(self, value: object) -> list[dict[str, Any]]:
        if self._simulation is None:
            return [{"type": "error", "error": "advance_clock needs the simulated clock: chat --simulate START"}, _DONE]
        try:
            delta = parse_duration(str(value))
        except ValueError:
            return [{"type": "error", "error": "advance_clock takes an ISO 8601 duration such as P1D or PT2H"}, _DONE]
        await self._simulation.advance(delta)
        sent, self._scheduled = self._scheduled, []
        return [self.reply_json(r) | {"scheduled": True} for r in sent] + [_DONE]

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
        return "\n".join(lines)

    def parse(self, typed: str, choices: list[tuple[str, str]]) -> Inbound:
        stripped = typed.strip()
        # On a 0-10 scale the buttons are labelled with numbers too: "5" means the
        # button labelled 5, not the fifth button (which would be 4).
        for choice_id, label in choices:
            if stripped and label.strip() == stripped:
                return self.choice(choice_id)
        if stripped.isdigit() and 1 <= int(stripped) <= len(choices):
            return self.choice(choices[int(stripped) - 1][0])
        return self.text(typed)

    async def run_interactive(self, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> None:
        self._live_out = stdout
        stdout.write("ketacompanion terminal chat. Type /start to begin, numbers to tap buttons, Ctrl-D to leave.\n")
        choices: list[tuple[str, str]] = []
        while True:
            stdout.write("> ")
            stdout.flush()
            line = await asyncio.to_thread(stdin.readline)
            if not line:
                stdout.write("\n")
                return
            if not line.strip():
                continue
            new_choices: list[tuple[str, str]] = []
            for reply in await self._handle(self.parse(line.rstrip("\n"), choices)):
                stdout.write(self.render(reply, new_choices) + "\n\n")
            if new_choices:
                choices = new_choices
            stdout.flush()


_DONE = {"type": "done"}
