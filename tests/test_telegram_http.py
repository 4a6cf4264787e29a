"""The whole stack (adapter, core, SQLite) against the fake Bot API over HTTP, in polling
and in webhook mode: onboarding, a lesson, a crisis, export, delete, and the faults."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

import ketacompanion.app as app_module
from ketacompanion.adapters.telegram.delivery import RetryPolicy
from ketacompanion.adapters.telegram.ingress import FairProcessor
from ketacompanion.adapters.telegram.runner import Timeouts
from ketacompanion.app import App, build_app
from ketacompanion.content.catalog import Content
from ketacompanion.content.instruments import ItemKind
from ketacompanion.core.clock import FakeClock
from ketacompanion.core.crisis.detector import Detector
from ketacompanion.core.model import Address, Attachment, Reply
from ketacompanion.core.scoring import Answer
from ketacompanion.storage import tables
from test_telegram_support import BOT_USERNAME, SECRET, SENDS, FakeTime, LiveRig, live_rig

from conftest import make_settings
from fakes.telegram_api import FakeBotAPI
from fakes.telegram_objects import render_text

MODES = ["polling", "webhook"]


@functools.cache
def _shared(content_dir: Path, day: date) -> tuple[Content, Detector]:
    # Loading and checking all content takes about a second; every test here reads the same.
    content = app_module.load_content(content_dir, day)
    return content, Detector.from_file(content_dir / "crisis" / "phrases.yaml")


@pytest.fixture
async def tg_app(
    sqlite_url: str, tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[App]:
    settings = make_settings(sqlite_url, tmp_path)
    content, detector = _shared(settings.content_dir, clock.now().date())
    monkeypatch.setattr(app_module, "load_all_content", lambda settings, clock: content)
    monkeypatch.setattr(Detector, "from_file", lambda path: detector)
    built = await build_app(settings, clock)
    yield built
    await built.close()


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
async def api(fake_time: FakeTime) -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI(clock=fake_time) as fake:
        yield fake


@pytest.fixture(params=MODES)
async def rig(
    request: pytest.FixtureRequest, api: FakeBotAPI, tg_app: App, fake_time: FakeTime
) -> AsyncIterator[LiveRig]:
    async with live_rig(api, tg_app, request.param, fake_time) as live:
        yield live


@pytest.fixture
async def polling(api: FakeBotAPI, tg_app: App, fake_time: FakeTime) -> AsyncIterator[LiveRig]:
    async with live_rig(api, tg_app, "polling", fake_time) as live:
        yield live


def shown(call: object) -> str:
    params = call.params  # type: ignore[attr-defined]
    key = "caption" if "caption" in params else "text"
    return render_text(params.get(key, ""), params.get("parse_mode"))


async def user_count(app: App) -> int:
    async with app.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(tables.users))).scalar_one())


async def stored_user(app: App, chat: int) -> object:
    async with app.store.transaction() as tx:
        found = await tx.users.find("telegram", str(chat))
    return found[0] if found else None


# --- scenarios, in both modes ------------------------------------------------------------------


async def test_onboarding_with_consent(rig: LiveRig) -> None:
    (intro,) = await rig.say(101, "/start")
    markup = intro.params["reply_markup"]["inline_keyboard"]
    assert "start:agree" in [b.get("callback_data") for row in markup for b in row]
    assert (await stored_user(rig.app, 101)).consented is False  # type: ignore[attr-defined]
    await rig.press(101, "start:agree")
    await rig.press(101, "start:country:US")
    done = await rig.press(101, "start:tz:America|New_York")
    user = await stored_user(rig.app, 101)
    assert user.consented and user.country == "US"  # type: ignore[attr-defined]
    assert user.timezone == "America/New_York"  # type: ignore[attr-defined]
    assert any("America/New_York" in shown(c) for c in done)
    assert all(c.status == 200 for c in rig.api.calls if c.method == "sendMessage")


async def test_crisis_message_from_a_us_user_gets_988_in_plain_text(rig: LiveRig) -> None:
    await rig.onboard(102)
    replies = await rig.say(102, "I want to kill myself")
    crisis = [c for c in replies if "988" in c.params.get("text", "")]
    assert crisis, [shown(c) for c in replies]
    assert all("parse_mode" not in c.params for c in crisis)
    assert crisis[0].status == 200


async def test_export_arrives_as_a_document(rig: LiveRig) -> None:
    await rig.onboard(103)
    sent = await rig.say(103, "/export")
    (document,) = [c for c in sent if c.method == "sendDocument"]
    upload = document.files["document"]
    assert upload.filename.endswith(".json")
    exported = json.loads(upload.data)
    (user_row,) = exported["tables"]["users"]
    assert user_row["country"] == "US"


async def test_delete_asks_first_then_erases(rig: LiveRig) -> None:
    await rig.onboard(104)
    await rig.say(104, "/delete")
    assert await stored_user(rig.app, 104) is not None
    await rig.press(104, "delete:yes")
    assert await stored_user(rig.app, 104) is None
    assert await user_count(rig.app) == 0


async def test_a_whole_lesson_with_cards_edited_in_place(rig: LiveRig) -> None:
    await rig.say(105, "/learn")
    await rig.press(105, "learn:topic:")
    opened = await rig.press(105, "learn:open:")
    card_ids = {c.result["message_id"] for c in opened}
    edits = 0
    for _ in range(40):  # no lesson has this many cards
        try:
            step = await rig.press(105, "learn:next:")
        except AssertionError:
            break
        edits += sum(c.method == "editMessageText" and c.status == 200 for c in step)
        card_ids |= {c.result["message_id"] for c in step if c.method == "editMessageText"}
    assert edits >= 1
    answered = await rig.press(105, "learn:ans:")
    assert answered
    assert len(card_ids) <= 2  # cards replaced one message, not a flood of new ones
    # Every button press was answered so the spinner stopped.
    presses = [c for c in rig.api.calls if c.method == "answerCallbackQuery"]
    assert presses and all(c.status == 200 for c in presses)


async def test_a_chart_reply_goes_out_as_a_photo(rig: LiveRig) -> None:
    from test_telegram_delivery import png

    picture = png(200, 100)
    reply = Reply("Your mood over 4 weeks", image=Attachment("mood.png", "image/png", picture))
    await rig.app.senders["telegram"].send(Address("telegram", "106"), reply)
    (photo,) = rig.api.sent_messages(106)
    assert photo.method == "sendPhoto" and photo.files["photo"].data == picture
    assert photo.result["photo"][-1]["width"] == 200


# --- the webhook's door ------------------------------------------------------------------------


async def test_webhook_refuses_a_wrong_or_missing_secret_and_writes_nothing(
    api: FakeBotAPI, tg_app: App, fake_time: FakeTime
) -> None:
    async with live_rig(api, tg_app, "webhook", fake_time) as live:
        assert live.webhook is not None
        update = api.message_update(107, "/start")
        assert await api.post_update(live.webhook.local_url, update, "wrong") == 403
        assert await api.post_update(live.webhook.local_url, update, None) == 403
        assert await api.post_update(live.webhook.local_url, update, SECRET[:-1]) == 403
        assert await user_count(tg_app) == 0
        assert api.sent_messages() == []
        assert api.state.webhook["secret_token"] == SECRET
        # The same update with the right secret is handled.
        await live.deliver(api.message_update(107, "/start"))
        assert await user_count(tg_app) == 1


async def test_webhook_takes_a_malformed_body_without_retries_or_rows(
    api: FakeBotAPI, tg_app: App, fake_time: FakeTime
) -> None:
    async with live_rig(api, tg_app, "webhook", fake_time) as live:
        assert live.webhook is not None
        broken = {"update_id": 1, "message": {"text": "/start"}}
        assert await api.post_update(live.webhook.local_url, broken, SECRET) == 200
        assert await api.post_update(live.webhook.local_url, [1, 2], SECRET) == 200  # type: ignore[arg-type]
        await live.deliver(api.message_update(108, "/help"))
        assert [c.params["chat_id"] for c in api.sent_messages()] == [108]
        assert await user_count(tg_app) == 0


# --- faults, polling ---------------------------------------------------------------------------


async def test_429_nothing_sent_before_retry_after_ends(polling: LiveRig) -> None:
    polling.api.fail_next("sendMessage", 429, retry_after=2)
    await polling.say(109, "/help")
    limited, sent = [c for c in polling.api.calls if c.method == "sendMessage"]
    assert (limited.status, sent.status) == (429, 200)
    assert sent.at - limited.at >= 2.0
    assert 2.0 in polling.time.sleeps


async def test_403_marks_the_user_unreachable_after_one_attempt(polling: LiveRig) -> None:
    await polling.onboard(110)
    polling.api.block_chat(110)
    before = len([c for c in polling.api.calls if c.params.get("chat_id") == 110])
    await polling.say(110, "/help")
    attempts = [c for c in polling.api.calls if c.params.get("chat_id") == 110][before:]
    assert [c.status for c in attempts] == [403]
    user = await stored_user(polling.app, 110)
    assert user.unreachable_at is not None  # type: ignore[attr-defined]


async def test_hung_request_is_retried_once_and_delivered(
    api: FakeBotAPI, tg_app: App, fake_time: FakeTime
) -> None:
    timeouts = Timeouts(connect=1, read=0.3, write=1, pool=1, poll=1)
    async with live_rig(api, tg_app, "polling", fake_time, RetryPolicy(), timeouts) as live:
        api.hang_next("sendMessage")
        await live.say(111, "/help")
        hung, delivered = [c for c in api.calls if c.method == "sendMessage"]
        assert hung.status is None and delivered.status == 200
        assert fake_time.sleeps  # backed off before trying again
        api.release()


async def test_malformed_updates_are_skipped_and_the_bot_keeps_going(polling: LiveRig) -> None:
    api = polling.api
    api.inject_update({"update_id": 500, "message": {"message_id": 1, "text": "no chat"}})
    api.inject_update({"update_id": 501, "callback_query": {"id": "x"}})
    api.inject_update({"update_id": 502, "message": "not an object"})
    api.inject_update({"update_id": 503, "unknown_kind": {"a": 1}})
    reply = await polling.say(112, "/help")
    assert [c.params["chat_id"] for c in api.sent_messages()] == [112]
    assert len(reply) == 1
    # Every update was confirmed, so Telegram will not send them again.
    await api.wait_for(lambda c: c.method == "getUpdates" and c.params.get("offset", 0) > 503,
                       pending=True)  # fmt: skip


# --- screened without a turn: group text and edited messages -----------------------------------

GROUP = -100777
PRIVATE_LINK = f"https://t.me/{BOT_USERNAME}?start=group"


def link_buttons(call: object) -> list[str]:
    markup = call.params.get("reply_markup") or {"inline_keyboard": []}  # type: ignore[attr-defined]
    return [b["url"] for row in markup["inline_keyboard"] for b in row if "url" in b]


def edit_of(api: FakeBotAPI, update: dict[str, object], text: str) -> dict[str, object]:
    """``update``'s message as Telegram sends it once the person has edited it to ``text``."""
    fresh = api.message_update(1, "x")  # only for a new update_id
    message = {**update["message"], "text": text, "edit_date": int(api.state.clock())}  # type: ignore[dict-item]
    return {"update_id": fresh["update_id"], "edited_message": message}


async def sends_after(rig: LiveRig, update: dict[str, object]) -> list[object]:
    before = len(rig.api.calls)
    await rig.deliver(update)
    return [c for c in rig.api.calls[before:] if c.method in SENDS]


async def answer_rows(app: App) -> list[tuple[object, ...]]:
    async with app.engine.connect() as conn:
        rows = await conn.execute(select(tables.checkin_answers).order_by("checkin_id", "item_id"))
        return [tuple(r) for r in rows]


async def dialogue_rows(app: App) -> list[tuple[object, ...]]:
    async with app.engine.connect() as conn:
        return [tuple(r) for r in await conn.execute(select(tables.dialogue))]


async def test_a_group_message_about_suicide_gets_crisis_lines_in_plain_text(rig: LiveRig) -> None:
    replies = await rig.say(GROUP, "I want to kill myself", user_id=7, chat_type="supergroup")
    assert replies, "concerning group text must be answered"
    card = replies[0]
    assert "988" in card.params["text"]  # the country is unknown: the big lines are listed
    assert all("parse_mode" not in c.params for c in replies)
    assert PRIVATE_LINK in link_buttons(card)
    assert all(c.params["chat_id"] == GROUP for c in replies)


async def test_an_ordinary_group_message_gets_no_health_question(rig: LiveRig) -> None:
    chatter = await rig.say(GROUP, "see you all at six", user_id=7, chat_type="supergroup")
    assert chatter == []  # talk among people is screened and left alone
    mention = await rig.say(GROUP, f"@{BOT_USERNAME} how are you?", user_id=7, chat_type="supergroup")
    checkin = await rig.say(GROUP, "/checkin", user_id=7, chat_type="supergroup")
    for replies in (mention, checkin):
        (offer,) = replies
        assert shown(offer) == rig.app.content.current.messages.text("telegram.group")
        assert link_buttons(offer) == [PRIVATE_LINK]
        buttons = [b for row in offer.params["reply_markup"]["inline_keyboard"] for b in row]
        assert not any(b.get("callback_data", "").startswith("checkin") for b in buttons)
    assert await user_count(rig.app) == 0  # nothing about them was stored either


async def test_an_edit_that_adds_crisis_words_gets_the_card(rig: LiveRig) -> None:
    await rig.onboard(201)
    await rig.say(201, "/checkin")
    typed = rig.api.message_update(201, "7")
    await rig.deliver(typed)
    stored = await answer_rows(rig.app)
    replies = await sends_after(rig, edit_of(rig.api, typed, "7, but honestly I want to kill myself"))
    crisis = [c for c in replies if "988" in c.params.get("text", "")]
    assert crisis and all("parse_mode" not in c.params for c in crisis)
    assert await answer_rows(rig.app) == stored  # the edit was screened, not taken as an answer


async def test_an_edited_harmless_message_changes_nothing(rig: LiveRig) -> None:
    await rig.onboard(202)
    await rig.say(202, "/checkin")
    typed = rig.api.message_update(202, "7")
    await rig.deliver(typed)
    answers, dialogue = await answer_rows(rig.app), await dialogue_rows(rig.app)
    assert len(answers) == 1  # the mood answer, typed
    replies = await sends_after(rig, edit_of(rig.api, typed, "3"))
    assert replies == []
    assert await answer_rows(rig.app) == answers
    assert await dialogue_rows(rig.app) == dialogue


async def test_edited_messages_are_asked_for(polling: LiveRig) -> None:
    call = await polling.api.wait_for(lambda c: c.method == "getUpdates")
    assert "edited_message" in call.params["allowed_updates"]


# --- a whole check-in with buttons -------------------------------------------------------------


async def test_a_whole_checkin_with_buttons(polling: LiveRig) -> None:
    chat = 203
    await polling.onboard(chat)
    started = await polling.say(chat, "/checkin")
    first = next(d for c in started for d in callback_data(c) if d.startswith("checkin:a:"))
    checkin_id = int(first.split(":")[2])
    ins = polling.app.content.current.instruments["daily"]
    expected: dict[str, Answer] = {}
    last: list[object] = []
    for index, item in enumerate(ins.items):
        # Tap what a person might: a middle value, the first option, "none of these".
        if item.kind is ItemKind.SCALE:
            assert item.min is not None and item.max is not None
            value = (item.min + item.max) // 2
            last = await polling.press(chat, f"checkin:a:{checkin_id}:{index}:{value}")
            expected[item.id] = Answer(value=value)
        elif item.kind is ItemKind.CHOICE:
            last = await polling.press(chat, f"checkin:a:{checkin_id}:{index}:0")
            expected[item.id] = Answer(value=item.options[0].score, options=(item.options[0].id,))
        elif item.kind is ItemKind.MULTI:
            n = next(n for n, opt in enumerate(item.options) if opt.exclusive)
            await polling.press(chat, f"checkin:a:{checkin_id}:{index}:{n}")
            last = await polling.press(chat, f"checkin:done:{checkin_id}:{index}")
            expected[item.id] = Answer(options=(item.options[n].id,))
        else:
            last = await polling.press(chat, f"checkin:skip:{checkin_id}:{index}")
            expected[item.id] = Answer()
    thanks = polling.app.content.current.messages.text("checkins.thanks")
    assert any(shown(c).startswith(thanks) for c in last), [shown(c) for c in last]
    assert not any("988" in shown(c) for c in polling.api.sent_messages(chat))  # no crisis card
    user = await stored_user(polling.app, chat)
    async with polling.app.store.transaction() as tx:
        record = await tx.checkins.get(user.id, checkin_id)  # type: ignore[attr-defined]
        answers = await tx.checkins.answers(user.id, checkin_id)  # type: ignore[attr-defined]
    assert record is not None and record.answered_at is not None
    assert answers == expected
    rows = [r for r in await answer_rows(polling.app) if r[0] == checkin_id]
    assert len(rows) == len(ins.items)
    presses = [c for c in polling.api.calls if c.method == "answerCallbackQuery"]
    assert presses and all(c.status == 200 for c in presses)


def callback_data(call: object) -> list[str]:
    markup = call.params.get("reply_markup") or {"inline_keyboard": []}  # type: ignore[attr-defined]
    return [b["callback_data"] for row in markup["inline_keyboard"] for b in row if "callback_data" in b]


async def test_timezone_buttons_cover_the_us_and_a_shared_city_name_asks(polling: LiveRig) -> None:
    chat = 207
    await polling.say(chat, "/start")
    await polling.press(chat, "start:agree")
    asked = await polling.press(chat, "start:country:US")
    offered = {d for c in asked for d in callback_data(c)}
    assert {f"start:tz:{z}" for z in ("America|Los_Angeles", "America|Denver", "America|Phoenix", "America|Chicago",
                                      "America|New_York", "America|Anchorage", "Pacific|Honolulu")} <= offered
    labels = [b["text"] for c in asked for row in (c.params.get("reply_markup") or {"inline_keyboard": []})["inline_keyboard"] for b in row]
    assert "Pacific Time (Los Angeles)" in labels
    both = await polling.say(chat, "Paris")
    assert {"start:tz:Europe|Paris", "start:tz:America|Chicago"} <= {d for c in both for d in callback_data(c)}
    await polling.press(chat, "start:tz:America|Chicago")
    assert (await stored_user(polling.app, chat)).timezone == "America/Chicago"  # type: ignore[attr-defined]


async def test_a_red_flag_on_the_emergency_list_says_call_now(polling: LiveRig) -> None:
    chat = 208
    await polling.onboard(chat)
    started = await polling.say(chat, "/checkin")
    checkin_id = int(next(d for c in started for d in callback_data(c) if d.startswith("checkin:a:")).split(":")[2])
    ins = polling.app.content.current.instruments["daily"]
    index = next(i for i, it in enumerate(ins.items) if it.kind is ItemKind.MULTI)
    for skipped in range(index):
        await polling.press(chat, f"checkin:skip:{checkin_id}:{skipped}")
    chest = next(n for n, o in enumerate(ins.items[index].options) if o.id == "chest_breathing")
    replies = await polling.press(chat, f"checkin:a:{checkin_id}:{index}:{chest}")
    assert any("Call 911 now; do not wait" in shown(c) for c in replies), [shown(c) for c in replies]


async def test_a_webhook_flood_past_the_cap_is_dropped_and_a_malformed_update_holds_no_place(
    api: FakeBotAPI, tg_app: App, fake_time: FakeTime
) -> None:
    async with live_rig(api, tg_app, "webhook", fake_time) as live:
        assert live.webhook is not None
        processor = live.adapter.application.update_processor
        assert isinstance(processor, FairProcessor)
        queue = processor.queue
        api.hold_replies(110)  # the first turn hangs: the rest stays queued
        broken = {"update_id": 999_999, "message": {"chat": {"id": 110, "type": "private"}, "text": "x"}}
        assert await api.post_update(live.webhook.local_url, broken, SECRET) == 200
        sent = queue.cap + 20
        for n in range(sent):
            assert await api.post_update(live.webhook.local_url, api.message_update(110, f"/help {n}"), SECRET) == 200
        async with asyncio.timeout(10):
            await live.adapter.application.update_queue.join()  # every accepted one is queued
        await api.wait_for(lambda c: c.method == "sendMessage" and c.params.get("chat_id") == 110, pending=True)
        # One running, a full queue (the malformed update took no place in it), the rest dropped.
        assert queue.queued(110) == queue.cap
        assert queue.dropped_total == sent - 1 - queue.cap
        api.stop_holding(110)
