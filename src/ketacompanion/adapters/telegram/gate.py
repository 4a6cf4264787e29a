"""The last check before a request is written: nothing goes to Telegram during a 429 hold.

The rate limiter already waits out a 429 before it hands out a send, but requests past it
(waiting for a connection, say) would still go out. ``GatedRequest`` wraps the request
object python-telegram-bot writes with and waits on the same ``Hold`` just before each
request; a 429 it reads sets the hold at once, before the sender even sees the error.
"""

from __future__ import annotations

import json
from typing import Any

from telegram.request import BaseRequest, RequestData

from ketacompanion.adapters.telegram.limits import Hold


class GatedRequest(BaseRequest):
    def __init__(self, inner: BaseRequest, hold: Hold | None = None) -> None:
        self.inner = inner
        self.hold = hold  # None until an adapter shares its limiter's hold

    @property
    def read_timeout(self) -> float | None:
        return self.inner.read_timeout

    async def initialize(self) -> None:
        await self.inner.initialize()

    async def shutdown(self) -> None:
        await self.inner.shutdown()

    async def do_request(
        self, url: str, method: str, request_data: RequestData | None = None, **timeouts: Any
    ) -> tuple[int, bytes]:
        hold = self.hold
        if hold is not None:
            await hold.wait()
        status, payload = await self.inner.do_request(url, method, request_data, **timeouts)
        if status == 429 and hold is not None:
            seconds = retry_after(payload)
            if seconds is not None:
                hold.hold(seconds)
        return status, payload


def retry_after(payload: bytes) -> float | None:
    try:
        value = json.loads(payload).get("parameters", {}).get("retry_after")
    except (ValueError, AttributeError):
        return None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
