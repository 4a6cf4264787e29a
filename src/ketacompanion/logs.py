"""Structured logging that never carries message text, health answers or tokens."""

from __future__ import annotations

import json
import logging
import sys
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


def configure(level: str = "INFO", fmt: str = "json", stream: object = None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # These libraries log whole update bodies and the webhook secret at DEBUG.
    for noisy in ("telegram", "httpx", "httpcore", "discord", "aiosqlite", "asyncio", "apscheduler"):
        logging.getLogger(noisy).setLevel(max(logging.INFO, logging.getLevelName(level)))
