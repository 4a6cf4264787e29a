"""Spec-shaped Bot API objects and the simulated bot that answers with them.

Shared by the HTTP fake (``telegram_api``) and the in-process request (``telegram_request``)
so both answer alike. Shapes follow https://core.telegram.org/bots/api: dates in seconds,
``is_bot`` on every user, ``chat_instance`` on callback queries, a Message from edits, and
error envelopes whose HTTP status equals ``error_code`` (python-telegram-bot maps the status).
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import struct
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

JSONDict = dict[str, Any]
ChatId = int

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
BLOCKED_DESCRIPTION = "Forbidden: bot was blocked by the user"
NOT_MODIFIED_DESCRIPTION = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
DEFAULT_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
}

# Telegram sends form fields as strings; these say how to give them back their JSON types.
JSON_FIELDS = frozenset(
    {
        "reply_markup", "entities", "caption_entities", "commands", "scope", "allowed_updates",
        "link_preview_options", "reply_parameters", "media", "message_ids",
    }
)  # fmt: skip
INT_FIELDS = frozenset(
    {
        "chat_id", "message_id", "offset", "limit", "timeout", "from_chat_id", "user_id",
        "message_thread_id", "reply_to_message_id", "cache_time", "max_connections",
        "width", "height", "duration",
    }
)  # fmt: skip
BOOL_FIELDS = frozenset(
    {
        "show_alert", "disable_notification", "protect_content", "drop_pending_updates",
        "has_spoiler", "disable_content_type_detection", "allow_sending_without_reply",
        "disable_web_page_preview", "is_personal", "allow_paid_broadcast",
        "show_caption_above_media", "revoke",
    }
)  # fmt: skip
METHODS_WITHOUT_CHAT = frozenset({"getMe", "getUpdates", "close", "logOut"})


@dataclass(frozen=True)
class UploadedFile:
    """One multipart file part as the server received it."""

    filename: str
    mime_type: str
    data: bytes


@dataclass
class Call:
    """One request as the server saw it, and what became of it (a Jepsen-style history entry)."""

    method: str
    params: JSONDict
    files: dict[str, UploadedFile]
    at: float
    status: int | None = None  # HTTP status answered; None while pending or if never answered
    applied: bool = False  # the method took effect on the server, whether or not the client heard
    done: bool = False  # the server finished with it (answered, dropped or abandoned)
    result: Any = None


class ApiError(Exception):
    """A Bot API error; ``envelope()`` is the JSON Telegram answers with."""

    def __init__(
        self, code: int, description: str | None = None, retry_after: int | None = None
    ) -> None:
        self.code = code
        self.description = description or DEFAULT_DESCRIPTIONS.get(code, "Error")
        self.retry_after = retry_after
        super().__init__(self.description)

    def envelope(self) -> JSONDict:
        parameters = {"retry_after": self.retry_after} if self.retry_after is not None else None
        return error_envelope(self.code, self.description, parameters)


def ok_envelope(result: Any) -> JSONDict:
    return {"ok": True, "result": result}


def error_envelope(code: int, description: str, parameters: JSONDict | None = None) -> JSONDict:
    envelope: JSONDict = {"ok": False, "error_code": code, "description": description}
    if parameters:
        envelope["parameters"] = parameters
    return envelope


def user_object(
    user_id: int, *, is_bot: bool = False, first_name: str | None = None,
    username: str | None = None,
) -> JSONDict:  # fmt: skip
    user: JSONDict = {
        "id": user_id,
        "is_bot": is_bot,
        "first_name": first_name or f"User{user_id}",
    }
    if username:
        user["username"] = username
    if not is_bot:
        user["language_code"] = "en"
    return user


def chat_object(chat_id: ChatId, chat_type: str = "private") -> JSONDict:
    if chat_type == "private":
        return {"id": chat_id, "type": "private", "first_name": f"User{chat_id}"}
    return {"id": chat_id, "type": chat_type, "title": f"Chat {chat_id}"}


def png_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG's IHDR chunk, or None when ``data`` is not a PNG."""
    if len(data) < 24 or not data.startswith(b"\x89PNG\r\n\x1a\n") or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def utf16_length(text: str) -> int:
    # Telegram measures text in UTF-16 code units: an astral emoji counts twice.
    return len(text.encode("utf-16-le")) // 2


def decode_form_params(raw: Mapping[str, str]) -> JSONDict:
    """Turn urlencoded or multipart string fields back into the JSON types a client meant."""
    params: JSONDict = {}
    for name, value in raw.items():
        params[name] = _decode_field(name, value)
    return params


def _decode_field(name: str, value: str) -> Any:
    if name in JSON_FIELDS:
        try:
            return json.loads(value)
        except ValueError:
            return value
    if name in INT_FIELDS and re.fullmatch(r"-?\d+", value):
        return int(value)
    if name in BOOL_FIELDS and value in ("true", "false"):
        return value == "true"
    return value


# --- parse modes: enough of Telegram's parsers to refuse what Telegram refuses -------------

_MDV2_RESERVED = set("_*[]()~`>#+-=|{}.!")
_HTML_TAGS = frozenset(
    {
        "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler",
        "a", "code", "pre", "blockquote", "tg-emoji",
    }
)  # fmt: skip


def _entity_error(detail: str) -> ApiError:
    return ApiError(400, f"Bad Request: can't parse entities: {detail}")


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


def render_text(text: str, parse_mode: str | None) -> str:
    """The plain text Telegram shows for ``text`` in ``parse_mode``; raises ApiError like it."""
    if not parse_mode:
        return text
    mode = parse_mode.lower()
    if mode == "markdownv2":
        return _render_markdown_v2(text)
    if mode == "html":
        return _render_html(text)
    if mode == "markdown":
        return _render_markdown(text)
    raise ApiError(400, f"Bad Request: unsupported parse_mode {parse_mode}")


def _render_markdown_v2(text: str) -> str:
    out: list[str] = []
    open_marks: list[tuple[str, int]] = []  # marker and where it opened
    i = 0
    while i < len(text):
        ch = text[i]
        in_code = bool(open_marks) and open_marks[-1][0] in ("`", "```")
        if ch == "\\" and i + 1 < len(text) and 0 < ord(text[i + 1]) < 127:
            out.append(text[i + 1])
            i += 2
            continue
        if in_code:
            marker = open_marks[-1][0]
            if text.startswith(marker, i):
                open_marks.pop()
                i += len(marker)
            else:
                out.append(ch)
                i += 1
            continue
        marker = None
        for candidate in ("```", "||", "__", "`", "*", "_", "~"):
            if text.startswith(candidate, i):
                marker = candidate
                break
        if marker:
            if open_marks and open_marks[-1][0] == marker:
                open_marks.pop()
            else:
                open_marks.append((marker, i))
            i += len(marker)
            continue
        if ch == "[":
            open_marks.append(("[", i))
            i += 1
            continue
        if ch == "]" and open_marks and open_marks[-1][0] == "[":
            open_marks.pop()
            i = _skip_link_url(text, i + 1)
            continue
        if ch == ">" and (i == 0 or text[i - 1] == "\n"):
            i += 1  # a blockquote line
            continue
        if ch in _MDV2_RESERVED:
            raise _entity_error(
                f"Character '{ch}' is reserved and must be escaped with the preceding '\\'"
            )
        out.append(ch)
        i += 1
    if open_marks:
        offset = _byte_offset(text, open_marks[-1][1])
        raise _entity_error(f"Can't find end of the entity starting at byte offset {offset}")
    return "".join(out)


def _skip_link_url(text: str, i: int) -> int:
    """Index after the ``(url)`` that must follow a link's ``]``."""
    if not text.startswith("(", i):
        raise _entity_error("Character ']' is reserved and must be escaped with the preceding '\\'")
    j = i + 1
    while j < len(text):
        if text[j] == "\\":
            j += 2
            continue
        if text[j] == ")":
            return j + 1
        j += 1
    raise _entity_error(f"Can't find end of a URL at byte offset {_byte_offset(text, i)}")


def _render_html(text: str) -> str:
    out: list[str] = []
    open_tags: list[tuple[str, int]] = []
    pos = 0
    for match in re.finditer(r"<(/?)([^\s>/]*)[^>]*>|<", text):
        out.append(text[pos : match.start()])
        pos = match.end()
        if match.group(0) == "<":
            offset = _byte_offset(text, match.start())
            raise _entity_error(f'Unsupported start tag "" at byte offset {offset}')
        closing, name = match.group(1) == "/", match.group(2).lower()
        if name not in _HTML_TAGS:
            kind = "end" if closing else "start"
            offset = _byte_offset(text, match.start())
            raise _entity_error(f'Unsupported {kind} tag "{name}" at byte offset {offset}')
        if not closing:
            open_tags.append((name, match.start()))
        elif not open_tags or open_tags[-1][0] != name:
            offset = _byte_offset(text, match.start())
            raise _entity_error(f'Unmatched end tag at byte offset {offset}, expected "</{name}>"')
        else:
            open_tags.pop()
    out.append(text[pos:])
    if open_tags:
        name = open_tags[-1][0]
        raise _entity_error(f'Can\'t find end tag corresponding to start tag "{name}"')
    return html.unescape("".join(out))


def _render_markdown(text: str) -> str:
    out: list[str] = []
    open_mark: tuple[str, int] | None = None
    for i, ch in enumerate(text):
        if ch in "*_`":
            if open_mark is None:
                open_mark = (ch, i)
            elif open_mark[0] == ch:
                open_mark = None
            else:
                out.append(ch)
            continue
        out.append(ch)
    if open_mark:
        offset = _byte_offset(text, open_mark[1])
        raise _entity_error(f"Can't find end of the entity starting at byte offset {offset}")
    return "".join(out)


# --- the simulated bot ------------------------------------------------------------------------


@dataclass
class _Fault:
    code: int
    description: str
    retry_after: int | None


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes | None


@dataclass
class _ChatState:
    chat: JSONDict
    next_message_id: int = 1
    messages: dict[int, JSONDict] = field(default_factory=dict)


Handler = Callable[[JSONDict, dict[str, UploadedFile]], Any]


class BotApiState:
    """One bot account as Telegram holds it: chats, messages, updates, commands, webhook.

    ``clock`` gives seconds since the epoch; pass a fake one to control message dates and
    ``Call.at``.
    """

    def __init__(
        self,
        token: str = "123:ABC",
        *,
        bot_username: str = "ketacompanion_test_bot",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.token = token
        self.clock = clock
        bot_id = int(token.split(":", 1)[0]) if token.split(":", 1)[0].isdigit() else 1
        self.bot_user = user_object(
            bot_id, is_bot=True, first_name="KetaCompanion", username=bot_username
        )
        self.calls: list[Call] = []
        self.commands: dict[str, list[JSONDict]] = {}
        self.webhook: JSONDict = {}
        self.files: dict[str, StoredFile] = {}
        self.closed = False
        self._updates: deque[JSONDict] = deque()
        self._next_update_id = 1
        self._chats: dict[ChatId, _ChatState] = {}
        self._open_queries: set[str] = set()
        self._next_query_id = 1
        self._next_file_number = 1
        self._faults: dict[str, deque[_Fault]] = {}
        self._blocked: set[ChatId] = set()
        self._changed = asyncio.Event()
        self._handlers: dict[str, Handler] = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "deleteWebhook": self._delete_webhook,
            "setWebhook": self._set_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "sendPhoto": self._send_photo,
            "sendDocument": self._send_document,
            "sendChatAction": self._send_chat_action,
            "getFile": self._get_file,
            "close": self._true,
            "logOut": self._true,
        }
        self._canonical = {name.lower(): name for name in self._handlers}

    # --- injection ---------------------------------------------------------------------------

    def inject_update(self, update: JSONDict) -> JSONDict:
        """Queue an update for getUpdates; gives it the next update_id unless it has one."""
        if "update_id" not in update:
            update = {"update_id": self._take_update_id(), **update}
        else:
            self._next_update_id = max(self._next_update_id, update["update_id"] + 1)
        self._updates.append(update)
        self._notify()
        return update

    def message_update(
        self,
        chat_id: ChatId,
        text: str,
        user_id: int | None = None,
        chat_type: str = "private",
        **extra: Any,
    ) -> JSONDict:
        """An Update carrying a user's text message (not queued: pass it to inject_update)."""
        if user_id is None:
            user_id = chat_id if chat_type == "private" else 1
        chat = self._chat(chat_id, chat_type)
        message: JSONDict = {
            "message_id": self._take_message_id(chat_id),
            "date": int(self.clock()),
            "chat": chat.chat,
            "text": text,
        }
        if chat_type != "channel":
            message["from"] = user_object(user_id)
        if text.startswith("/"):
            # CommandHandler only reacts to a bot_command entity, as Telegram sends it.
            command = text.split(maxsplit=1)[0]
            message["entities"] = [
                {"type": "bot_command", "offset": 0, "length": utf16_length(command)}
            ]
        message.update(extra)
        chat.messages[message["message_id"]] = message
        key = "channel_post" if chat_type == "channel" else "message"
        return {"update_id": self._take_update_id(), key: message}

    def callback_update(
        self, chat_id: ChatId, data: str, message_id: int, user_id: int | None = None
    ) -> JSONDict:
        """An Update for a press on an inline button of message ``message_id``."""
        chat = self._chat(chat_id)
        message = chat.messages.get(message_id) or {
            "message_id": message_id,
            "date": int(self.clock()),
            "chat": chat.chat,
            "from": self.bot_user,
            "text": "",
        }
        query_id = str(self._next_query_id)
        self._next_query_id += 1
        self._open_queries.add(query_id)
        return {
            "update_id": self._take_update_id(),
            "callback_query": {
                "id": query_id,
                "from": user_object(user_id if user_id is not None else chat_id),
                "message": message,
                # Stable per chat, as Telegram's is.
                "chat_instance": str(abs(chat_id) * 7919 + 13),
                "data": data,
            },
        }

    @property
    def pending_updates(self) -> list[JSONDict]:
        return list(self._updates)

    # --- faults ------------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        error_code: int,
        description: str | None = None,
        retry_after: int | None = None,
        count: int = 1,
    ) -> None:
        """The next ``count`` calls of ``method`` answer Telegram's error envelope."""
        if description is None and error_code == 429 and retry_after is not None:
            description = f"Too Many Requests: retry after {retry_after}"
        fault = _Fault(error_code, description or DEFAULT_DESCRIPTIONS.get(error_code, "Error"),
                       retry_after)  # fmt: skip
        self._faults.setdefault(self.canonical(method), deque()).extend([fault] * count)

    def block_chat(self, chat_id: ChatId) -> None:
        """Every call aimed at ``chat_id`` answers 403, as when the user blocked the bot."""
        self._blocked.add(chat_id)

    def unblock_chat(self, chat_id: ChatId) -> None:
        self._blocked.discard(chat_id)

    # --- inspection --------------------------------------------------------------------------

    def sent_messages(self, chat_id: ChatId | None = None) -> list[Call]:
        """Sends and edits that took effect, in order, optionally for one chat."""
        kinds = {"sendMessage", "sendPhoto", "sendDocument", "editMessageText",
                 "editMessageReplyMarkup"}  # fmt: skip
        return [
            call
            for call in self.calls
            if call.method in kinds
            and call.applied
            and (chat_id is None or call.params.get("chat_id") == chat_id)
        ]

    async def wait_for(
        self,
        predicate: Callable[[Call], bool],
        timeout: float = 5.0,  # noqa: ASYNC109 - a bounded wait is the point of this helper
        *,
        pending: bool = False,
    ) -> Call:
        """First call matching ``predicate``, waiting until one is recorded.

        Only finished calls are offered unless ``pending``. The predicate is re-run on every
        change, so it may also look at other state (``lambda c: len(api.sent_messages()) > 2``).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for call in self.calls:
                if (call.done or pending) and predicate(call):
                    return call
            changed = self._changed
            remaining = deadline - loop.time()
            try:
                if remaining <= 0:
                    raise TimeoutError
                async with asyncio.timeout(remaining):
                    await changed.wait()
            except TimeoutError:
                seen = [(c.method, c.status) for c in self.calls]
                raise TimeoutError(f"no matching call within {timeout}s; calls: {seen}") from None

    # --- dispatch ----------------------------------------------------------------------------

    def canonical(self, method: str) -> str:
        # Telegram matches method names case-insensitively.
        return self._canonical.get(method.lower(), method)

    def record(self, method: str, params: JSONDict, files: dict[str, UploadedFile]) -> Call:
        call = Call(self.canonical(method), params, files, self.clock())
        self.calls.append(call)
        self._notify()
        return call

    async def execute(self, call: Call, token: str | None = None) -> tuple[int, JSONDict]:
        """Apply ``call`` (faults first) and give the HTTP status and envelope to answer."""
        try:
            if token is not None and token != self.token:
                raise ApiError(401, "Unauthorized")
            handler = self._handlers.get(call.method)
            if handler is None:
                raise ApiError(404, "Not Found")
            faults = self._faults.get(call.method)
            if faults:
                fault = faults.popleft()
                raise ApiError(fault.code, fault.description, fault.retry_after)
            if call.method not in METHODS_WITHOUT_CHAT and call.params.get("chat_id") in (
                self._blocked
            ):
                raise ApiError(403, BLOCKED_DESCRIPTION)
            result = handler(call.params, call.files)
            if asyncio.iscoroutine(result):
                result = await result
        except ApiError as error:
            return error.code, error.envelope()
        call.applied = True
        call.result = result
        self._notify()
        return 200, ok_envelope(result)

    def finish(self, call: Call, status: int | None) -> None:
        call.status = status
        call.done = True
        self._notify()

    async def handle(
        self, method: str, params: JSONDict, files: dict[str, UploadedFile],
        token: str | None = None,
    ) -> tuple[int, JSONDict]:  # fmt: skip
        call = self.record(method, params, files)
        status, envelope = await self.execute(call, token)
        self.finish(call, status)
        return status, envelope

    def close(self) -> None:
        """Wake every long poll and waiter so a server can shut down at once."""
        self.closed = True
        self._notify()

    # --- helpers -----------------------------------------------------------------------------

    def _notify(self) -> None:
        # Waiters hold the old event, which stays set; new waiters get a fresh one.
        self._changed.set()
        self._changed = asyncio.Event()

    def _take_update_id(self) -> int:
        update_id = self._next_update_id
        self._next_update_id += 1
        return update_id

    def _take_message_id(self, chat_id: ChatId) -> int:
        chat = self._chat(chat_id)
        message_id = chat.next_message_id
        chat.next_message_id += 1
        return message_id

    def _chat(self, chat_id: ChatId, chat_type: str | None = None) -> _ChatState:
        state = self._chats.get(chat_id)
        if state is None:
            kind = chat_type or ("private" if chat_id > 0 else "supergroup")
            state = self._chats[chat_id] = _ChatState(chat_object(chat_id, kind))
        return state

    def _target_chat(self, params: JSONDict) -> _ChatState:
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise ApiError(400, "Bad Request: chat_id is empty")
        if not isinstance(chat_id, int):
            raise ApiError(400, "Bad Request: chat not found")
        return self._chat(chat_id)

    def _new_message(self, chat: _ChatState, params: JSONDict, **content: Any) -> JSONDict:
        message: JSONDict = {
            "message_id": self._take_message_id(chat.chat["id"]),
            "date": int(self.clock()),
            "chat": chat.chat,
            "from": self.bot_user,
            **content,
        }
        markup = params.get("reply_markup")
        # Telegram echoes only inline keyboards; reply keyboards are not part of the Message.
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        chat.messages[message["message_id"]] = message
        return message

    def _stored_message(self, params: JSONDict, missing: str) -> JSONDict:
        chat = self._target_chat(params)
        message = chat.messages.get(params.get("message_id", 0))
        if message is None:
            raise ApiError(400, f"Bad Request: {missing}")
        return message

    def _store_file(self, prefix: str, folder: str, data: bytes | None, name: str) -> StoredFile:
        number = self._next_file_number
        self._next_file_number += 1
        suffix = name.rsplit(".", 1)[-1] if "." in name else "bin"
        stored = StoredFile(
            file_id=f"{prefix}{number:08d}",
            file_unique_id=f"U{prefix}{number}",
            file_path=f"{folder}/file_{number}.{suffix}",
            data=data,
        )
        self.files[stored.file_id] = stored
        return stored

    def _incoming_file(
        self, name: str, params: JSONDict, files: dict[str, UploadedFile]
    ) -> tuple[UploadedFile | None, StoredFile | None]:
        """An upload (multipart part), a known file_id, or a URL for Telegram to fetch."""
        value = params.get(name)
        if isinstance(value, str) and value.startswith("attach://"):
            upload = files.get(value.removeprefix("attach://"))
        else:
            upload = files.get(name)
        if upload is not None:
            return upload, None
        if isinstance(value, str) and value in self.files:
            return None, self.files[value]
        if isinstance(value, str) and value:
            return None, None
        raise ApiError(400, f"Bad Request: there is no {name} in the request")

    def _caption(self, params: JSONDict) -> JSONDict:
        caption = params.get("caption")
        if not caption:
            return {}
        rendered = render_text(caption, params.get("parse_mode"))
        if utf16_length(rendered) > MAX_CAPTION_LENGTH:
            raise ApiError(400, "Bad Request: message caption is too long")
        return {"caption": rendered}

    # --- methods -----------------------------------------------------------------------------

    def _true(self, params: JSONDict, files: dict[str, UploadedFile]) -> bool:
        return True

    def _get_me(self, params: JSONDict, files: dict[str, UploadedFile]) -> JSONDict:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    async def _get_updates(self, params: JSONDict, files: dict[str, UploadedFile]) -> list:
        if self.webhook.get("url"):
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = int(params.get("offset") or 0)
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = max(float(params.get("timeout") or 0), 0.0)
        if offset < 0:
            # A negative offset keeps only the last -offset updates and forgets the rest.
            while len(self._updates) > -offset:
                self._updates.popleft()
        else:
            while self._updates and self._updates[0]["update_id"] < offset:
                self._updates.popleft()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self._updates and not self.closed:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            changed = self._changed
            try:
                async with asyncio.timeout(remaining):
                    await changed.wait()
            except TimeoutError:
                break
        return list(self._updates)[:limit]

    def _delete_webhook(self, params: JSONDict, files: dict[str, UploadedFile]) -> bool:
        self.webhook = {}
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _set_webhook(self, params: JSONDict, files: dict[str, UploadedFile]) -> bool:
        url = params.get("url") or ""
        if not url:
            return self._delete_webhook(params, files)
        if not url.startswith("https://") and not url.startswith("http://"):
            raise ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided")
        self.webhook = {k: v for k, v in params.items() if k != "certificate"}
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _get_webhook_info(self, params: JSONDict, files: dict[str, UploadedFile]) -> JSONDict:
        info: JSONDict = {
            "url": self.webhook.get("url", ""),
            "has_custom_certificate": "certificate" in files,
            "pending_update_count": len(self._updates),
        }
        for key in ("max_connections", "allowed_updates", "ip_address"):
            if key in self.webhook:
                info[key] = self.webhook[key]
        return info

    @staticmethod
    def _commands_key(params: JSONDict) -> str:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps([scope, params.get("language_code", "")], sort_keys=True)

    def _set_my_commands(self, params: JSONDict, files: dict[str, UploadedFile]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise ApiError(400, "Bad Request: can't parse commands JSON object")
        for command in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", str(command.get("command", ""))):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
        self.commands[self._commands_key(params)] = commands
        return True

    def _get_my_commands(self, params: JSONDict, files: dict[str, UploadedFile]) -> list:
        return self.commands.get(self._commands_key(params), [])

    def _delete_my_commands(self, params: JSONDict, files: dict[str, UploadedFile]) -> bool:
        self.commands.pop(self._commands_key(params), None)
        return True

    def _send_message(self, params: JSONDict, files: dict[str, UploadedFile]) -> JSONDict:
        chat = self._target_chat(params)
        text = params.get("text")
        if not text:
            raise ApiError(400, "Bad Request: message text is empty")
        rendered = render_text(str(text), params.get("parse_mode"))
        if utf16_length(rendered) > MAX_TEXT_LENGTH:
            raise ApiError(400, "Bad Request: message is too long")
        content: JSONDict = {"text": rendered}
        if params.get("entities"):
            content["entities"] = params["entities"]
        return self._new_message(chat, params, **content)

    def _edit_target(self, params: JSONDict) -> JSONDict:
        message = self._stored_message(params, "message to edit not found")
        if message.get("from", {}).get("id") != self.bot_user["id"]:
            raise ApiError(400, "Bad Request: message can't be edited")
        return message

    def _edit_message_text(self, params: JSONDict, files: dict[str, UploadedFile]) -> Any:
        if params.get("inline_message_id"):
            return True  # inline messages are not stored; Telegram answers True for them
        message = self._edit_target(params)
        text = params.get("text")
        if not text:
            raise ApiError(400, "Bad Request: text must be non-empty")
        rendered = render_text(str(text), params.get("parse_mode"))
        if utf16_length(rendered) > MAX_TEXT_LENGTH:
            raise ApiError(400, "Bad Request: message is too long")
        markup = params.get("reply_markup")
        if rendered == message.get("text") and markup == message.get("reply_markup"):
            raise ApiError(400, NOT_MODIFIED_DESCRIPTION)
        message["text"] = rendered
        message["edit_date"] = int(self.clock())
        # An edit without reply_markup removes the inline keyboard, as on Telegram.
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        else:
            message.pop("reply_markup", None)
        return dict(message)

    def _edit_message_reply_markup(self, params: JSONDict, files: dict[str, UploadedFile]) -> Any:
        if params.get("inline_message_id"):
            return True
        message = self._edit_target(params)
        markup = params.get("reply_markup")
        if markup == message.get("reply_markup"):
            raise ApiError(400, NOT_MODIFIED_DESCRIPTION)
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        else:
            message.pop("reply_markup", None)
        message["edit_date"] = int(self.clock())
        return dict(message)

    def _delete_message(self, params: JSONDict, files: dict[str, UploadedFile]) -> bool:
        message = self._stored_message(params, "message to delete not found")
        del self._chat(message["chat"]["id"]).messages[message["message_id"]]
        return True

    def _answer_callback_query(self, params: JSONDict, files: dict[str, UploadedFile]) -> bool:
        query_id = str(params.get("callback_query_id", ""))
        if query_id not in self._open_queries:
            raise ApiError(
                400,
                "Bad Request: query is too old and response timeout expired or query ID is invalid",
            )
        self._open_queries.discard(query_id)
        return True

    def _send_photo(self, params: JSONDict, files: dict[str, UploadedFile]) -> JSONDict:
        chat = self._target_chat(params)
        upload, known = self._incoming_file("photo", params, files)
        caption = self._caption(params)
        if upload is not None:
            stored = self._store_file("AgAC", "photos", upload.data, upload.filename)
            width, height = png_size(upload.data) or (800, 600)
            size = len(upload.data)
        else:
            stored = known or self._store_file("AgAC", "photos", None, "photo.jpg")
            width, height, size = 800, 600, 0
        photo = [{"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                  "width": width, "height": height, "file_size": size}]  # fmt: skip
        if max(width, height) > 90:
            # Telegram also returns a thumbnail no larger than 90 pixels.
            scale = 90 / max(width, height)
            thumb = {"file_id": stored.file_id + "t", "file_unique_id": stored.file_unique_id + "t",
                     "width": max(1, round(width * scale)), "height": max(1, round(height * scale))}  # fmt: skip
            photo.insert(0, thumb)
        return self._new_message(chat, params, photo=photo, **caption)

    def _send_document(self, params: JSONDict, files: dict[str, UploadedFile]) -> JSONDict:
        chat = self._target_chat(params)
        upload, known = self._incoming_file("document", params, files)
        caption = self._caption(params)
        if upload is not None:
            stored = self._store_file("BQAC", "documents", upload.data, upload.filename)
            document = {"file_name": upload.filename, "mime_type": upload.mime_type,
                        "file_size": len(upload.data)}  # fmt: skip
        else:
            stored = known or self._store_file("BQAC", "documents", None, "document.bin")
            document = {}
        document = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id, **document}
        return self._new_message(chat, params, document=document, **caption)

    def _send_chat_action(self, params: JSONDict, files: dict[str, UploadedFile]) -> bool:
        self._target_chat(params)
        if not params.get("action"):
            raise ApiError(400, "Bad Request: wrong parameter action in request")
        return True

    def _get_file(self, params: JSONDict, files: dict[str, UploadedFile]) -> JSONDict:
        stored = self.files.get(str(params.get("file_id", "")))
        if stored is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        result: JSONDict = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                            "file_path": stored.file_path}  # fmt: skip
        if stored.data is not None:
            result["file_size"] = len(stored.data)
        return result
