"""Delivery over the in-process fake: 429 waits, 403 stops, network errors retry, bounded."""

from __future__ import annotations

import struct
import zlib
from typing import Any

import httpx
import pytest
from telegram.error import NetworkError, TimedOut
from telegram.request import RequestData

from ketacompanion.adapters.telegram.delivery import RetryPolicy
from ketacompanion.core.model import (
    Address,
    Attachment,
    Choice,
    DeliveryError,
    OutcomeUnknown,
    Reply,
    Unreachable,
    Urgency,
)
from test_telegram_support import unit_rig

from fakes.telegram_request import RecordingRequest

CHAT = Address("telegram", "42")


def png(width: int = 64, height: int = 32) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


class FlakyRequest(RecordingRequest):
    """Fails the next ``failures`` sendMessage calls with a network error, before sending."""

    failures = 0
    error: type[NetworkError] = TimedOut

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         **timeouts: Any) -> tuple[int, bytes]:  # fmt: skip
        if url.endswith("/sendMessage") and FlakyRequest.failures > 0:
            FlakyRequest.failures -= 1
            self.state.record("sendMessage", {"lost": True}, {})
            raise self.error("network down")
        return await super().do_request(url, method, request_data, **timeouts)


def flaky(failures: int, error: type[NetworkError] = TimedOut) -> type[FlakyRequest]:
    FlakyRequest.failures, FlakyRequest.error = failures, error
    return FlakyRequest


async def test_429_waits_retry_after_then_sends_once() -> None:
    async with unit_rig() as rig:
        rig.state.fail_next("sendMessage", 429, retry_after=3)
        start = rig.time.now
        await rig.adapter.send(CHAT, Reply("check-in time"))
    first, second = rig.called("sendMessage")
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 3.0  # nothing was sent before retry_after ended
    assert rig.time.now - start >= 3.0
    assert len(rig.state.sent_messages(42)) == 1


async def test_429_storm_is_bounded_and_ends_as_delivery_error() -> None:
    async with unit_rig(RetryPolicy(rate_limited_attempts=3)) as rig:
        rig.state.fail_next("sendMessage", 429, retry_after=2, count=10)
        with pytest.raises(DeliveryError) as caught:
            await rig.adapter.send(CHAT, Reply("check-in time"))
    assert not isinstance(caught.value, Unreachable)
    assert [c.status for c in rig.called("sendMessage")] == [429, 429, 429]


async def test_retry_after_longer_than_allowed_goes_back_to_the_caller_at_once() -> None:
    async with unit_rig(RetryPolicy(max_retry_after_s=30)) as rig:
        rig.state.fail_next("sendMessage", 429, retry_after=120)
        with pytest.raises(DeliveryError):
            await rig.adapter.send(CHAT, Reply("check-in time"))
        assert len(rig.called("sendMessage")) == 1
        # ...and the next send, for anyone, still waits out the pause.
        start = rig.time.now
        await rig.adapter.send(Address("telegram", "43"), Reply("hello"))
        assert rig.time.now - start >= 119


async def test_blocked_user_one_attempt_marked_unreachable() -> None:
    async with unit_rig() as rig:
        rig.state.block_chat(42)
        with pytest.raises(Unreachable):
            await rig.adapter.send(CHAT, Reply("first of three", (Choice("a:b", "B"),)))
        assert rig.store.unreachable == [("telegram", "42")]
        assert len(rig.called("sendMessage")) == 1


async def test_blocked_user_mid_conversation_gets_no_retry_storm() -> None:
    async with unit_rig() as rig:
        rig.core.answer = lambda inbound: [Reply("one"), Reply("two"), Reply("three")]
        rig.state.block_chat(42)
        await rig.feed(rig.state.message_update(42, "hello"))  # no exception escapes
    assert [c.status for c in rig.called("sendMessage")] == [403]
    assert rig.store.unreachable == [("telegram", "42")]


async def test_chat_not_found_is_unreachable_too() -> None:
    async with unit_rig() as rig:
        rig.state.fail_next("sendMessage", 400, "Bad Request: chat not found")
        with pytest.raises(Unreachable):
            await rig.adapter.send(CHAT, Reply("hello"))
    assert rig.store.unreachable == [("telegram", "42")]
    assert len(rig.called("sendMessage")) == 1


async def test_network_error_retries_with_backoff_then_succeeds() -> None:
    async with unit_rig(RetryPolicy(network_attempts=3, backoff_s=0.5), request=flaky(2)) as rig:
        await rig.adapter.send(CHAT, Reply("hello"))
    assert [c.params.get("lost", False) for c in rig.called("sendMessage")] == [True, True, False]
    assert rig.time.sleeps == [0.5, 1.0]


async def test_a_timed_out_reply_is_tried_at_most_once_more() -> None:
    async with unit_rig(request=flaky(5)) as rig:
        with pytest.raises(DeliveryError):
            await rig.adapter.send(CHAT, Reply("hello"))
    assert len(rig.called("sendMessage")) == 2


async def test_crisis_reply_gets_more_network_attempts() -> None:
    async with unit_rig(request=flaky(3, NetworkError)) as rig:
        await rig.adapter.send(CHAT, Reply("Call 988.", urgency=Urgency.CRISIS))
    assert [c.status for c in rig.called("sendMessage")][-1] == 200
    assert len(rig.called("sendMessage")) == 4


async def test_group_upgraded_to_supergroup_follows_the_new_id() -> None:
    async with unit_rig() as rig:
        # python-telegram-bot raises ChatMigrated from the parameters Telegram sends.
        original = rig.state.execute

        async def migrate_once(call: Any, token: str | None = None) -> tuple[int, dict]:
            if call.method == "sendMessage" and call.params["chat_id"] == -5:
                return 400, {"ok": False, "error_code": 400, "description": "migrated",
                             "parameters": {"migrate_to_chat_id": -1007}}  # fmt: skip
            return await original(call, token)

        rig.state.execute = migrate_once  # type: ignore[method-assign]
        await rig.adapter.send(Address("telegram", "-5"), Reply("lesson"))
    assert [c.params["chat_id"] for c in rig.called("sendMessage")] == [-5, -1007]


async def test_image_goes_as_photo_and_file_as_document() -> None:
    picture = png()
    async with unit_rig() as rig:
        await rig.adapter.send(CHAT, Reply("Your mood, 4 weeks", image=Attachment("mood.png", "image/png", picture)))
        await rig.adapter.send(CHAT, Reply("Your data", file=Attachment("export.json", "application/json", b"{}")))
    photo, document = rig.state.sent_messages(42)
    assert photo.method == "sendPhoto" and photo.files["photo"].data == picture
    assert photo.files["photo"].filename == "mood.png"
    assert photo.result["caption"] == "Your mood, 4 weeks"
    assert document.method == "sendDocument" and document.files["document"].data == b"{}"
    assert document.files["document"].filename == "export.json"


async def test_long_reply_arrives_in_order_with_buttons_on_the_last_part() -> None:
    text = "\n\n".join(f"Paragraph {n}: " + "word " * 300 for n in range(6))
    async with unit_rig() as rig:
        await rig.adapter.send(CHAT, Reply(text, (Choice("learn:next:x:1", "Next"),)))
    sent = rig.called("sendMessage")
    assert len(sent) >= 2 and all(c.status == 200 for c in sent)
    assert "".join(c.result["text"] for c in sent) == text
    assert ["reply_markup" in c.params for c in sent] == [False] * (len(sent) - 1) + [True]


async def test_not_a_telegram_address_is_unreachable() -> None:
    async with unit_rig() as rig:
        with pytest.raises(Unreachable):
            await rig.adapter.send(Address("telegram", "someone"), Reply("hello"))


class RefusedConnection(RecordingRequest):
    """The next ``failures`` sendMessage calls fail to connect: nothing left the machine."""

    failures = 0

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         **timeouts: Any) -> tuple[int, bytes]:  # fmt: skip
        if url.endswith("/sendMessage") and RefusedConnection.failures > 0:
            RefusedConnection.failures -= 1
            self.state.record("sendMessage", {"lost": True}, {})
            try:
                raise httpx.ConnectError("connection refused")
            except httpx.ConnectError as exc:
                raise NetworkError("httpx.ConnectError: connection refused") from exc
        return await super().do_request(url, method, request_data, **timeouts)


async def test_a_scheduled_reply_whose_outcome_is_unknown_goes_back_to_the_outbox_at_once() -> None:
    async with unit_rig(RetryPolicy(network_attempts=4), request=flaky(5)) as rig:
        with pytest.raises(OutcomeUnknown):
            await rig.adapter.sender.send(CHAT, Reply("time to check in", scheduled=True))
    assert len(rig.called("sendMessage")) == 1  # the outbox, not the sender, may try once more


async def test_a_scheduled_reply_is_retried_here_when_no_connection_was_made() -> None:
    RefusedConnection.failures = 2
    async with unit_rig(RetryPolicy(network_attempts=3), request=RefusedConnection) as rig:
        await rig.adapter.sender.send(CHAT, Reply("time to check in", scheduled=True))
    assert [c.params.get("lost", False) for c in rig.called("sendMessage")] == [True, True, False]
