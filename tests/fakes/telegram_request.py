"""An in-process python-telegram-bot request: no sockets, same answers as the HTTP fake.

state = BotApiState(token)
app = (ApplicationBuilder().token(token)
       .request(RecordingRequest(state)).get_updates_request(RecordingRequest(state))
       .build())
async with app:
    await app.process_update(Update.de_json(state.message_update(42, "/start"), app.bot))
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from telegram._utils.defaultvalue import DEFAULT_NONE
from telegram._utils.types import ODVInput
from telegram.request import BaseRequest, RequestData

from .telegram_objects import BotApiState, Call, JSONDict, UploadedFile


class RecordingRequest(BaseRequest):
    """Answers every Bot API call from a ``BotApiState`` and records it there."""

    def __init__(self, state: BotApiState | None = None, *, token: str = "123:ABC") -> None:
        self.state = state if state is not None else BotApiState(token)

    @property
    def calls(self) -> list[Call]:
        return self.state.calls

    @property
    def read_timeout(self) -> float | None:
        return None

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        """Nothing to close."""

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = DEFAULT_NONE,
        write_timeout: ODVInput[float] = DEFAULT_NONE,
        connect_timeout: ODVInput[float] = DEFAULT_NONE,
        pool_timeout: ODVInput[float] = DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        # The URL ends in /bot{token}/{method}, as on the wire.
        path = urlsplit(url).path
        if "/file/bot" in path:  # a file download (getFile's file_path)
            wanted = path.split("/file/bot", 1)[1].split("/", 1)[1]
            for stored in self.state.files.values():
                if stored.file_path == wanted and stored.data is not None:
                    return 200, stored.data
            return 404, b""
        prefix, _, api_method = path.rpartition("/")
        token = prefix.rpartition("/bot")[2]
        params: JSONDict = {}
        files: dict[str, UploadedFile] = {}
        if request_data is not None:
            # Round-trip through JSON so params hold exactly what the HTTP fake would decode.
            params = {k: _json_roundtrip(v) for k, v in request_data.parameters.items()}
            for name, field_tuple in request_data.multipart_data.items():
                files[name] = _uploaded(field_tuple)
        status, envelope = await self.state.handle(api_method, params, files, token)
        return status, json.dumps(envelope).encode("utf-8")


def _json_roundtrip(value: Any) -> Any:
    return json.loads(json.dumps(value)) if isinstance(value, dict | list | tuple) else value


def _uploaded(field_tuple: tuple[Any, ...]) -> UploadedFile:
    filename, content, mime_type = field_tuple[0], field_tuple[1], field_tuple[2]
    if hasattr(content, "read"):
        # PTB may hand over an open file instead of bytes.
        content = content.read()
    return UploadedFile(str(filename), str(mime_type), bytes(content))
