"""Structured logging that never carries message text, health answers or tokens."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime

# Keys that may appear in ``extra``; anything else is dropped so that a careless
# ``extra={"text": ...}`` cannot leak what someone wrote.
ALLOWED_EXTRA = frozenset(
    {"kind", "command", "error", "platform", "key_file", "adapter", "count", "status", "level",
     "category", "seconds", "method", "attempt", "retry_after", "revision", "mode", "due", "outbox_id"}
)
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key in ALLOWED_EXTRA:
                entry[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            # The exception type and where it happened, not its message: messages of
            # driver errors can quote the SQL parameters, which may be health data.
            entry["exc"] = record.exc_info[0].__name__
            entry["where"] = _where(record.exc_info[2])
        return json.dumps(entry, ensure_ascii=False, default=str)


def _where(tb: object) -> str:
    last = None
    while tb is not None:
        last = tb
        tb = tb.tb_next  # type: ignore[attr-defined]
    if last is None:
        return ""
    frame = last.tb_frame  # type: ignore[attr-defined]
    return f"{frame.f_code.co_filename.rsplit('/', 1)[-1]}:{last.tb_lineno}"  # type: ignore[attr-defined]


# Bot API tokens wherever they appear: in URLs (``/bot<TOKEN>/``) and on their own.
_TOKEN = re.compile(r"\d{3,}:[A-Za-z0-9_-]{30,}")  # also inside "bot<TOKEN>"
REDACTED = "[redacted]"


class Redactor:
    """Removes the configured secrets, and anything shaped like a bot token, from text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        variants: set[str] = set()
        for secret in secrets:
            if secret and len(secret) >= 4:  # a short value would blank ordinary words
                # As written, and as it appears inside a JSON string or a URL.
                variants |= {secret, json.dumps(secret)[1:-1], _quote(secret)}
        # Longest first, so a secret containing another is removed whole.
        self._secrets = sorted(variants, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return _TOKEN.sub(REDACTED, text)


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


class RedactingFormatter(logging.Formatter):
    """Formats with ``inner``, then redacts the whole line, traceback included. At the
    handler, so it covers every logger's records: ours and every library's."""

    def __init__(self, inner: logging.Formatter, redact: Redactor) -> None:
        super().__init__()
        self._inner, self._redact = inner, redact

    def format(self, record: logging.LogRecord) -> str:
        return self._redact(self._inner.format(record))


# These libraries log whole update bodies and the webhook secret at DEBUG.
NOISY = ("telegram", "httpx", "httpcore", "discord", "aiohttp", "tornado", "aiosqlite", "asyncio", "apscheduler")


def configure(level: str = "INFO", fmt: str = "json", stream: object = None, secrets: Iterable[str] = ()) -> None:
    """Log to ``stream`` (stderr); ``secrets`` (token, webhook secret, data key) never
    appear in a line, whichever logger wrote it."""
    handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    inner = JsonFormatter() if fmt == "json" else logging.Formatter("%(levelname)s %(name)s: %(message)s")
    handler.setFormatter(RedactingFormatter(inner, Redactor(secrets)))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(max(logging.INFO, logging.getLevelName(level)))
