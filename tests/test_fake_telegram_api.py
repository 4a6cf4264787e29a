"""Real python-telegram-bot against the fake Bot API: polling, callbacks, uploads, faults."""

from __future__ import annotations

import asyncio
import datetime as dtm
import json
import struct
import time
import zlib
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import (
    BadRequest,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from fakes.telegram_api import FakeBotAPI
from fakes.telegram_objects import BotApiState, render_text
from fakes.telegram_request import RecordingRequest

TOKEN = "123:ABC"
POLL = {"poll_interval": 0.0, "timeout": dtm.timedelta(seconds=2)}


def png_bytes(width: int, height: int) -> bytes:
    """A valid greyscale PNG of the given size."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def build_app(api: FakeBotAPI) -> Application:
    return (
        ApplicationBuilder()
        .token(api.token)
        .base_url(api.base_url)
        .base_file_url(api.base_file_url)
        .build()
    )


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI(token=TOKEN) as fake:
        yield fake


@pytest.fixture
async def polling_app(api: FakeBotAPI) -> AsyncIterator[Application]:
    """An Application polling the fake; handlers may be added before updates are injected."""
    app = build_app(api)
    async with app:
        await app.start()
        await app.updater.start_polling(**POLL)
        try:
            yield app
        finally:
            await app.updater.stop()
            await app.stop()


async def test_polled_message_reaches_handler_and_reply_is_recorded(
    api: FakeBotAPI, polling_app: Application
) -> None:
    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.effective_message.reply_text(f"you said {update.effective_message.text}")

    polling_app.add_handler(MessageHandler(filters.TEXT, echo))
    update = api.inject_update(api.message_update(42, "hello there"))

    call = await api.wait_for(lambda c: c.method == "sendMessage")

    assert call.params["chat_id"] == 42
    assert call.params["text"] == "you said hello there"
    assert call.status == 200
    reply = call.result
    assert reply["from"]["is_bot"] is True
    assert reply["message_id"] == update["message"]["message_id"] + 1
    assert abs(reply["date"] - time.time()) < 60  # seconds, not milliseconds
    # The bot confirmed the update on its next poll, so the fake forgot it.
    await api.wait_for(
        lambda c: c.method == "getUpdates" and c.params.get("offset") == 2, pending=True
    )
    assert api.state.pending_updates == []


async def test_command_entity_lets_command_handler_fire(
    api: FakeBotAPI, polling_app: Application
) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.effective_message.reply_text(f"args={context.args}")

    polling_app.add_handler(CommandHandler("start", start))
    api.inject_update(api.message_update(7, "/start abc"))

    call = await api.wait_for(lambda c: c.method == "sendMessage")
    assert call.params["text"] == "args=['abc']"


async def test_callback_query_round_trip(api: FakeBotAPI, polling_app: Application) -> None:
    async def on_press(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None and query.message is not None
        await query.answer("noted")
        await query.edit_message_text(f"You chose {query.data}")

    polling_app.add_handler(CallbackQueryHandler(on_press))
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Yes", callback_data="yes")]])
    sent = await polling_app.bot.send_message(42, "Did it help?", reply_markup=keyboard)
    assert sent.reply_markup == keyboard  # inline keyboards are echoed back

    update = api.inject_update(api.callback_update(42, "yes", sent.message_id))
    assert update["callback_query"]["chat_instance"]
    assert update["callback_query"]["message"]["text"] == "Did it help?"

    edit = await api.wait_for(lambda c: c.method == "editMessageText")
    answer = next(c for c in api.calls if c.method == "answerCallbackQuery")
    assert answer.params["callback_query_id"] == update["callback_query"]["id"]
    assert answer.params["text"] == "noted"
    assert answer.status == 200
    assert edit.params["message_id"] == sent.message_id
    assert edit.result["text"] == "You chose yes"
    assert "reply_markup" not in edit.result  # an edit without markup drops the keyboard
    assert [c.method for c in api.sent_messages(42)] == ["sendMessage", "editMessageText"]


async def test_send_photo_records_the_uploaded_png(
    api: FakeBotAPI, polling_app: Application
) -> None:
    png = png_bytes(120, 60)

    message = await polling_app.bot.send_photo(42, png, caption="chart", filename="mood.png")

    call = api.sent_messages(42)[-1]
    upload = call.files["photo"]
    assert upload.data == png
    assert upload.filename == "mood.png"
    assert upload.mime_type == "image/png"
    assert call.params["caption"] == "chart"
    assert (message.photo[-1].width, message.photo[-1].height) == (120, 60)
    assert max(message.photo[0].width, message.photo[0].height) <= 90
    assert message.caption == "chart"


async def test_send_document_and_download_it_back(
    api: FakeBotAPI, polling_app: Application
) -> None:
    data = b"date,phq9\n2024-01-01,12\n"

    message = await polling_app.bot.send_document(42, data, filename="scores.csv")

    upload = api.sent_messages(42)[-1].files["document"]
    assert upload.data == data and upload.filename == "scores.csv"
    assert message.document is not None
    assert message.document.file_name == "scores.csv"
    remote = await polling_app.bot.get_file(message.document.file_id)
    assert bytes(await remote.download_as_bytearray()) == data


async def test_rate_limit_surfaces_as_retry_after(
    api: FakeBotAPI, polling_app: Application, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # opt in to timedelta, no deprecation warning
    api.fail_next("sendMessage", 429, retry_after=7)

    with pytest.raises(RetryAfter) as caught:
        await polling_app.bot.send_message(42, "check-in")

    assert caught.value.retry_after == dtm.timedelta(seconds=7)
    assert [c.status for c in api.calls if c.method == "sendMessage"] == [429]
    assert api.sent_messages() == []
    assert (await polling_app.bot.send_message(42, "check-in")).text == "check-in"


async def test_blocked_chat_surfaces_as_forbidden(
    api: FakeBotAPI, polling_app: Application
) -> None:
    api.block_chat(99)

    with pytest.raises(Forbidden, match="(?i)bot was blocked by the user"):
        await polling_app.bot.send_message(99, "hello")
    with pytest.raises(Forbidden):
        await polling_app.bot.send_photo(99, png_bytes(2, 2))
    assert (await polling_app.bot.send_message(98, "hello")).chat.id == 98
    assert [c.status for c in api.calls if c.params.get("chat_id") == 99] == [403, 403]


async def test_hung_request_times_out_in_ptb(api: FakeBotAPI, polling_app: Application) -> None:
    api.hang_next("sendMessage")

    with pytest.raises(TimedOut):
        await polling_app.bot.send_message(42, "slow", read_timeout=0.2)

    hung = await api.wait_for(lambda c: c.method == "sendMessage", pending=True)
    assert hung.params["text"] == "slow"
    assert hung.status is None  # the client never got an answer
    api.release()
    assert (await polling_app.bot.send_message(42, "next")).text == "next"


async def test_hang_then_release_answers_normally(api: FakeBotAPI) -> None:
    app = build_app(api)
    async with app:
        api.hang_next("sendMessage")
        pending = asyncio.create_task(app.bot.send_message(42, "held"))
        await api.wait_for(lambda c: c.method == "sendMessage", pending=True)
        assert api.sent_messages() == []
        api.release()
        assert (await pending).text == "held"
    assert len(api.sent_messages(42)) == 1


async def test_dropped_connection_is_a_network_error_with_or_without_delivery(
    api: FakeBotAPI,
) -> None:
    app = build_app(api)
    async with app:
        api.drop_next("sendMessage")
        with pytest.raises(NetworkError):
            await app.bot.send_message(42, "lost before delivery")
        api.drop_next("sendMessage", processed=True)
        with pytest.raises(NetworkError):
            await app.bot.send_message(42, "delivered, answer lost")

    assert [c.params["text"] for c in api.sent_messages()] == ["delivered, answer lost"]
    assert [c.status for c in api.calls if c.method == "sendMessage"] == [None, None]


async def test_wrong_token_and_unknown_method(api: FakeBotAPI) -> None:
    wrong = (
        ApplicationBuilder()
        .token("123:WRONG")
        .base_url(api.base_url)
        .base_file_url(api.base_file_url)
        .build()
    )
    with pytest.raises(InvalidToken):
        await wrong.bot.initialize()
    await wrong.bot.shutdown()

    app = build_app(api)
    async with app:
        with pytest.raises(EndPointNotFound):
            await app.bot.do_api_request("sendTelepathy", api_kwargs={"chat_id": 1})


async def test_get_updates_offset_limit_and_long_poll_wakeup(api: FakeBotAPI) -> None:
    app = build_app(api)
    async with app:
        first = api.inject_update(api.message_update(1, "a"))
        api.inject_update(api.message_update(1, "b"))
        api.inject_update(api.message_update(1, "c"))

        assert [u.message.text for u in await app.bot.get_updates(limit=2)] == ["a", "b"]
        after = await app.bot.get_updates(offset=first["update_id"] + 1)
        assert [u.message.text for u in after] == ["b", "c"]
        assert await app.bot.get_updates(offset=after[-1].update_id + 1) == ()

        # A long poll returns as soon as an update arrives, well before its timeout.
        poll = asyncio.create_task(app.bot.get_updates(offset=after[-1].update_id + 1, timeout=30))
        await api.wait_for(lambda c: c.method == "getUpdates" and c.params.get("timeout") == 30,
                           pending=True)  # fmt: skip
        started = time.monotonic()
        api.inject_update(api.message_update(1, "d"))
        assert [u.message.text for u in await poll] == ["d"]
        assert time.monotonic() - started < 5


async def test_webhook_set_blocks_polling_and_reports_info(api: FakeBotAPI) -> None:
    app = build_app(api)
    async with app:
        await app.bot.set_webhook("https://bot.example/hook", secret_token="s3cret")
        with pytest.raises(Conflict):
            await app.bot.get_updates()
        api.inject_update(api.message_update(1, "queued"))
        info = await app.bot.get_webhook_info()
        assert info.url == "https://bot.example/hook"
        assert info.pending_update_count == 1
        await app.bot.delete_webhook(drop_pending_updates=True)
        assert await app.bot.get_updates() == ()


async def test_commands_are_stored_per_scope(api: FakeBotAPI) -> None:
    app = build_app(api)
    async with app:
        await app.bot.set_my_commands([("checkin", "Start a check-in"), ("privacy", "Privacy")])
        assert [c.command for c in await app.bot.get_my_commands()] == ["checkin", "privacy"]
        await app.bot.delete_my_commands()
        assert await app.bot.get_my_commands() == ()


async def test_parse_mode_errors_match_telegram(api: FakeBotAPI) -> None:
    app = build_app(api)
    async with app:
        with pytest.raises(BadRequest, match=r"(?i)character '\.' is reserved"):
            await app.bot.send_message(42, "Dose was 0.5 mg/kg", parse_mode="MarkdownV2")
        ok = await app.bot.send_message(42, r"*Dose* was 0\.5", parse_mode="MarkdownV2")
        assert ok.text == "Dose was 0.5"
        with pytest.raises(BadRequest, match="(?i)can't parse entities"):
            await app.bot.send_message(42, "<script>x</script>", parse_mode="HTML")
        with pytest.raises(BadRequest, match="(?i)message is too long"):
            await app.bot.send_message(42, "x" * 4097)
        with pytest.raises(BadRequest, match="(?i)not modified"):
            await app.bot.edit_message_text("Dose was 0.5", chat_id=42, message_id=ok.message_id)


def test_render_text_handles_escapes_links_and_html_entities() -> None:
    assert render_text(r"[site](https://x.org/a\)b) \_ok\_", "MarkdownV2") == "site _ok_"
    assert render_text("<b>5 &lt; 6</b>", "HTML") == "5 < 6"
    assert render_text("plain *as is*", None) == "plain *as is*"


async def test_json_and_urlencoded_bodies_decode_alike(api: FakeBotAPI) -> None:
    markup = {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}
    url = f"{api.base_url}{api.token}/sendMessage"
    async with aiohttp.ClientSession() as session:
        async with session.post(
            url, json={"chat_id": 5, "text": "json", "reply_markup": markup}
        ) as response:
            assert response.status == 200
        form = {"chat_id": "5", "text": "form", "reply_markup": json.dumps(markup)}
        async with session.post(url, data=form) as response:
            assert (await response.json())["result"]["reply_markup"] == markup
        async with session.get(f"{url}?chat_id=5&text=query") as response:
            assert response.status == 200
    params = [c.params for c in api.sent_messages(5)]
    assert [p["text"] for p in params] == ["json", "form", "query"]
    assert params[0]["reply_markup"] == params[1]["reply_markup"] == markup


async def test_post_update_sends_secret_header_to_webhook(api: FakeBotAPI) -> None:
    received: list[tuple[str | None, dict]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(
            (request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json())
        )
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        update = api.message_update(3, "via webhook")
        status = await api.post_update(f"http://127.0.0.1:{port}/hook", update, "s3cret")
    finally:
        await runner.cleanup()

    assert status == 200
    assert received == [("s3cret", update)]


async def test_recording_request_drives_a_thousand_updates() -> None:
    state = BotApiState(TOKEN)
    app = (
        ApplicationBuilder()
        .token(TOKEN)
        .request(RecordingRequest(state))
        .get_updates_request(RecordingRequest(state))
        .build()
    )

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.effective_message.reply_text(update.effective_message.text.upper())

    app.add_handler(MessageHandler(filters.TEXT, echo))
    async with app:
        for n in range(1000):
            raw = state.message_update(1000 + n % 10, f"note {n}")
            await app.process_update(Update.de_json(raw, app.bot))

    sent = state.sent_messages()
    assert len(sent) == 1000
    assert sent[0].params == {"chat_id": 1000, "text": "NOTE 0"}
    assert sent[-1].params == {"chat_id": 1009, "text": "NOTE 999"}
    # Each chat numbers its messages on its own: 100 user messages and 100 replies each.
    assert max(c.result["message_id"] for c in state.sent_messages(1003)) == 200
    assert state.calls[0].method == "getMe"


async def test_recording_request_shares_faults_and_uploads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    state = BotApiState(TOKEN)
    request = RecordingRequest(state)
    app = ApplicationBuilder().token(TOKEN).request(request).get_updates_request(request).build()
    async with app:
        state.fail_next("sendMessage", 429, retry_after=3)
        with pytest.raises(RetryAfter):
            await app.bot.send_message(1, "x")
        state.block_chat(2)
        with pytest.raises(Forbidden):
            await app.bot.send_message(2, "x")
        png = png_bytes(4, 4)
        message = await app.bot.send_photo(1, png, filename="p.png")
    assert request.calls[-1].files["photo"].data == png
    assert message.photo[-1].width == 4
