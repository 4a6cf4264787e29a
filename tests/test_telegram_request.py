"""AiohttpRequest driven by python-telegram-bot's Bot against the fake Bot API on loopback."""

from __future__ import annotations

import io
import logging
import time
from collections.abc import AsyncIterator

import pytest
from telegram import Bot
from telegram.error import Forbidden, NetworkError, RetryAfter, TimedOut

from ketacompanion.adapters.telegram.gate import GatedRequest
from ketacompanion.adapters.telegram.request import AiohttpRequest
from ketacompanion.adapters.telegram.runner import build_application
from ketacompanion.logs import configure

from fakes.telegram_api import FakeBotAPI

TOKEN = "987654321:AAH-canary_token_value_abcdefghij"
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15"
    b"\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI(token=TOKEN) as fake:
        yield fake


@pytest.fixture
async def bot(api: FakeBotAPI) -> AsyncIterator[Bot]:
    request = AiohttpRequest(connection_pool_size=4, read_timeout=2.0, connect_timeout=1.0)
    async with Bot(
        TOKEN, base_url=api.base_url, base_file_url=api.base_file_url, request=request
    ) as b:
        yield b


async def test_text_reaches_the_server_and_the_reply_is_parsed(api: FakeBotAPI, bot: Bot) -> None:
    message = await bot.send_message(42, "hello *there* & you", parse_mode="MarkdownV2")
    call = api.sent_messages(42)[-1]
    assert call.params["text"] == "hello *there* & you"
    assert call.params["parse_mode"] == "MarkdownV2"
    assert (
        message.text == "hello there & you" and message.chat.id == 42
    )  # rendered, as Telegram does


async def test_photo_and_document_upload_as_multipart(api: FakeBotAPI, bot: Bot) -> None:
    photo = await bot.send_photo(42, PNG, caption="your week", filename="chart.png")
    data = b"%PDF-1.4 not really\n" * 100
    doc = await bot.send_document(42, io.BytesIO(data), filename="export.pdf", caption="export")
    photo_call, doc_call = [c for c in api.calls if c.method in ("sendPhoto", "sendDocument")]
    assert photo_call.files["photo"].data == PNG
    assert photo_call.files["photo"].filename == "chart.png"
    assert photo_call.params["caption"] == "your week"
    assert doc_call.files["document"].data == data
    assert doc_call.files["document"].filename == "export.pdf"
    assert doc_call.files["document"].mime_type == "application/pdf"
    assert photo.photo and doc.document is not None and doc.document.file_size == len(data)


async def test_connections_are_kept_alive(api: FakeBotAPI, bot: Bot) -> None:
    request = bot.request
    assert isinstance(request, AiohttpRequest)
    for n in range(5):
        await bot.send_message(42, f"n{n}")
    session = request._session
    assert session is not None
    assert len(session.connector._conns) == 1  # type: ignore[union-attr]  # one idle connection, reused


async def test_a_hanging_server_times_out_per_call(api: FakeBotAPI, bot: Bot) -> None:
    api.hang_next("sendMessage")
    started = time.monotonic()
    with pytest.raises(TimedOut):
        await bot.send_message(42, "anyone?", read_timeout=0.2)
    assert time.monotonic() - started < 1.5  # the call's 0.2 s, not the 2 s default
    api.release()
    assert (await bot.send_message(42, "still works")).text == "still works"


async def test_a_dropped_connection_is_a_network_error(api: FakeBotAPI, bot: Bot) -> None:
    api.drop_next("sendMessage")
    with pytest.raises(NetworkError) as caught:
        await bot.send_message(42, "lost")
    assert not isinstance(caught.value, TimedOut)
    assert TOKEN not in str(caught.value)
    assert (await bot.send_message(42, "after")).text == "after"


async def test_connection_refused_is_a_network_error_marked_unsent() -> None:
    from ketacompanion.adapters.telegram.delivery import surely_unsent

    request = AiohttpRequest(connect_timeout=1.0)
    await request.initialize()
    try:
        with pytest.raises(NetworkError) as caught:
            await request.post(f"http://127.0.0.1:9/bot{TOKEN}/sendMessage")
    finally:
        await request.shutdown()
    assert surely_unsent(caught.value)
    assert TOKEN not in str(caught.value)


async def test_429_and_403_envelopes_become_ptb_errors(api: FakeBotAPI, bot: Bot) -> None:
    api.fail_next("sendMessage", 429, retry_after=7)
    with pytest.raises(RetryAfter) as slow:
        await bot.send_message(42, "flood")
    assert slow.value.retry_after in (7, __import__("datetime").timedelta(seconds=7))
    api.block_chat(43)
    with pytest.raises(Forbidden):
        await bot.send_message(43, "blocked")


async def test_not_initialised_refuses() -> None:
    with pytest.raises(RuntimeError):
        await AiohttpRequest().do_request(f"http://127.0.0.1:9/bot{TOKEN}/getMe", "POST")


async def test_no_log_line_holds_the_token(
    api: FakeBotAPI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    stream = io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    configure(level="DEBUG", fmt="plain", stream=stream, secrets=[TOKEN])
    try:
        application = build_application(
            TOKEN, base_url=api.base_url, base_file_url=api.base_file_url
        )
        gated = application.bot.request
        assert isinstance(gated, GatedRequest) and isinstance(gated.inner, AiohttpRequest)
        async with application:
            await application.bot.send_message(42, "hi")
            api.drop_next("sendMessage")
            with pytest.raises(NetworkError) as dropped:
                await application.bot.send_message(42, "dropped")
            logging.getLogger("ketacompanion.test").warning("send failed", exc_info=dropped.value)
            api.hang_next("sendMessage")
            with pytest.raises(TimedOut):
                await application.bot.send_message(42, "hangs", read_timeout=0.1)
            api.release()
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    written = stream.getvalue()
    assert "send failed" in written and "NetworkError" in written
    assert TOKEN not in written and TOKEN.split(":")[1] not in written
    # Nothing this request class or aiohttp logs holds it either, before any redaction.
    ours = [r for r in caplog.records if r.name.startswith(("aiohttp", "ketacompanion.adapters"))]
    for record in ours:
        assert TOKEN.split(":")[1] not in record.getMessage() + (record.exc_text or "")
