"""The adapter over the in-process fake: updates become Inbound, replies become calls."""

from __future__ import annotations

from typing import Any

import yaml
from telegram.constants import ParseMode

from ketacompanion.adapters.telegram.adapter import COMMANDS
from ketacompanion.core.model import Choice, InboundKind, Reply, Urgency
from test_telegram_support import BOT_USERNAME, unit_rig

from conftest import CONTENT
from fakes.telegram_objects import render_text, user_object

GROUP = -100500


def shown(call: Any) -> str:
    key = "caption" if "caption" in call.params else "text"
    return render_text(call.params[key], call.params.get("parse_mode"))


def buttons(call: Any) -> list[dict[str, str]]:
    markup = call.params.get("reply_markup") or {"inline_keyboard": []}
    return [b for row in markup["inline_keyboard"] for b in row]


async def test_text_becomes_inbound_and_reply_arrives_as_written() -> None:
    async with unit_rig() as rig:
        rig.core.answer = lambda inbound: [Reply("1 < 2 & <b>not bold</b> *nor* _this_")]
        await rig.feed(rig.state.message_update(42, "hello"))
    (inbound,) = rig.core.seen
    assert (inbound.kind, inbound.text, inbound.user_id) == (InboundKind.TEXT, "hello", "42")
    assert (inbound.address.platform, inbound.address.chat_id) == ("telegram", "42")
    assert inbound.language == "en" and inbound.in_group is False
    (sent,) = rig.called("sendMessage")
    assert sent.params["parse_mode"] == ParseMode.HTML
    assert shown(sent) == "1 < 2 & <b>not bold</b> *nor* _this_"


async def test_commands_with_and_without_the_bot_name_and_deep_link_codes() -> None:
    async with unit_rig() as rig:
        await rig.feed(rig.state.message_update(42, f"/help@{BOT_USERNAME}"))
        await rig.feed(rig.state.message_update(42, "/start clinic-ab12"))
        await rig.feed(rig.state.message_update(GROUP, "/learn@SomeOtherBot", 7, "supergroup"))
    assert [(i.kind, i.command, i.text) for i in rig.core.seen] == [
        (InboundKind.COMMAND, "help", ""),
        (InboundKind.COMMAND, "start", "clinic-ab12"),  # the enrolment code reaches the core
    ]


async def test_button_press_is_answered_and_edits_the_card_in_place() -> None:
    async with unit_rig() as rig:
        first = await rig.application.bot.send_message(42, "Card 1", reply_markup=None)
        rig.core.answer = lambda inbound: [
            Reply("Card 2", (Choice("learn:next:a:2", "Next"),), replaces_card=True),
            Reply("a second reply goes out as a new message", replaces_card=True),
        ]
        update = rig.state.callback_update(42, "learn:next:a:1", first.message_id)
        await rig.feed(update)
    (inbound,) = rig.core.seen
    assert (inbound.kind, inbound.choice) == (InboundKind.CHOICE, "learn:next:a:1")
    (answer,) = rig.called("answerCallbackQuery")
    assert answer.params["callback_query_id"] == update["callback_query"]["id"]
    assert answer.status == 200
    (edit,) = rig.called("editMessageText")
    assert edit.params["message_id"] == first.message_id and shown(edit) == "Card 2"
    assert buttons(edit) == [{"text": "Next", "callback_data": "learn:next:a:2"}]
    assert [shown(c) for c in rig.called("sendMessage")][1:] == [
        "a second reply goes out as a new message"
    ]


async def test_edit_that_fails_becomes_a_new_message() -> None:
    async with unit_rig() as rig:
        rig.core.answer = lambda inbound: [Reply("Card 2", replaces_card=True)]
        # A forged or very old button: the message it claims to be on does not exist.
        await rig.feed(rig.state.callback_update(42, "learn:next:a:1", 999))
    (edit,) = rig.called("editMessageText")
    assert edit.status == 400
    (sent,) = rig.called("sendMessage")
    assert shown(sent) == "Card 2"
    assert len(rig.called("answerCallbackQuery")) == 1


async def test_crisis_reply_is_plain_text_never_edited_and_survives_a_refused_keyboard() -> None:
    crisis = Reply(
        "Please reach out now. <You matter>",
        (Choice("crisis:danger", "I'm in danger"), Choice("link:0", "Call 988", "tel:988")),
        urgency=Urgency.CRISIS,
        replaces_card=True,
    )
    async with unit_rig() as rig:
        first = await rig.application.bot.send_message(42, "Card")
        rig.core.answer = lambda inbound: [crisis]
        rig.state.fail_next("sendMessage", 400, "Bad Request: BUTTON_DATA_INVALID")
        await rig.feed(rig.state.callback_update(42, "crisis:unsafe", first.message_id))
    assert rig.called("editMessageText") == []
    refused, bare = rig.called("sendMessage")[1:]
    assert refused.status == 400 and "reply_markup" in refused.params
    assert bare.status == 200 and "reply_markup" not in bare.params
    for call in (refused, bare):
        assert "parse_mode" not in call.params
        assert "988" in call.params["text"] and "<You matter>" in call.params["text"]


async def test_media_gets_one_notice_and_a_caption_is_screened_as_text() -> None:
    async with unit_rig() as rig:
        sticker = {"file_id": "s", "file_unique_id": "s", "width": 1, "height": 1,
                   "is_animated": False, "is_video": False, "type": "regular"}  # fmt: skip
        raw = rig.state.message_update(42, "x")
        del raw["message"]["text"]
        raw["message"]["sticker"] = sticker
        await rig.feed(raw)
        voice = rig.state.message_update(42, "x")
        del voice["message"]["text"]
        voice["message"]["voice"] = {"file_id": "v", "file_unique_id": "v", "duration": 2}
        await rig.feed(voice)
        photo = rig.state.message_update(42, "x")
        del photo["message"]["text"]
        photo["message"]["photo"] = [{"file_id": "p", "file_unique_id": "p", "width": 1, "height": 1}]
        photo["message"]["caption"] = "I want to end it"
        await rig.feed(photo)
    assert [shown(c) for c in rig.called("sendMessage")][:2] == ["<common.not_understood>"] * 2
    assert [i.text for i in rig.core.seen] == ["I want to end it"]


def edit_of(update: dict[str, Any], text: str) -> dict[str, Any]:
    """``update``'s message as Telegram sends it after the person edited it to ``text``."""
    message = {**update["message"], "text": text, "edit_date": 1}
    return {"update_id": update["update_id"] + 10_000, "edited_message": message}


async def test_an_edit_is_screened_alone_and_never_handled_as_a_turn() -> None:
    crisis = Reply("Please reach out now: call or text 988.", urgency=Urgency.CRISIS)
    async with unit_rig() as rig:
        rig.core.screen = lambda inbound: [crisis] if "die" in inbound.text else []
        first = rig.state.message_update(42, "/checkin")
        await rig.feed(first)
        await rig.feed(edit_of(first, "/delete"))  # an edited command runs nothing
        second = rig.state.message_update(42, "7")
        await rig.feed(second)
        await rig.feed(edit_of(second, "7, I want to die"))
    assert [(i.kind, i.command or i.text) for i in rig.core.seen] == [
        (InboundKind.COMMAND, "checkin"), (InboundKind.TEXT, "7"),
    ]
    assert [(i.kind, i.text) for i in rig.core.screened] == [
        (InboundKind.TEXT, "/delete"), (InboundKind.TEXT, "7, I want to die"),
    ]
    sent = rig.called("sendMessage")
    assert [shown(c) for c in sent] == ["ok", "ok", crisis.text]
    assert "parse_mode" not in sent[-1].params


async def test_service_messages_and_unknown_kinds_are_ignored() -> None:
    async with unit_rig() as rig:
        joined = rig.state.message_update(GROUP, "x", 5, "supergroup")
        del joined["message"]["text"]
        joined["message"]["new_chat_members"] = [user_object(9)]
        await rig.feed(joined)
        await rig.feed({"update_id": 9001, "poll": {"id": "1", "question": "q", "options": [],
                        "total_voter_count": 0, "is_closed": False, "is_anonymous": True,
                        "type": "regular", "allows_multiple_answers": False,
                        "allows_revoting": False, "members_only": False}})  # fmt: skip
        await rig.feed({"update_id": 9002, "some_future_kind": {"x": 1}})
        channel = rig.state.message_update(-1009, "post", chat_type="channel")
        await rig.feed(channel)
        await rig.feed({"update_id": 9003, "callback_query": {
            "id": "77", "from": user_object(42), "chat_instance": "1", "game_short_name": "g"}})  # fmt: skip
    assert rig.core.seen == []
    assert rig.called("sendMessage") == []
    # The game button still had its spinner stopped (answered, even if the fake refuses it).
    assert [c.params["callback_query_id"] for c in rig.called("answerCallbackQuery")] == ["77"]


async def test_forwarded_text_is_screened_like_any_text() -> None:
    async with unit_rig() as rig:
        raw = rig.state.message_update(42, "forwarded words")
        raw["message"]["forward_origin"] = {"type": "hidden_user", "date": 1, "sender_user_name": "X"}
        await rig.feed(raw)
    assert [(i.kind, i.text) for i in rig.core.seen] == [(InboundKind.TEXT, "forwarded words")]


async def test_group_answers_lessons_and_crisis_and_offers_a_private_chat_for_the_rest() -> None:
    async with unit_rig() as rig:
        await rig.feed(rig.state.message_update(GROUP, "/learn", 7, "supergroup"))
        await rig.feed(rig.state.message_update(GROUP, "/crisis", 7, "supergroup"))
        await rig.feed(rig.state.message_update(GROUP, "/checkin", 7, "supergroup"))
        await rig.feed(rig.state.message_update(GROUP, "people chatting", 7, "supergroup"))
        await rig.feed(rig.state.message_update(GROUP, f"@{BOT_USERNAME} am I ok?", 7, "supergroup"))
        card = await rig.application.bot.send_message(GROUP, "a card")
        await rig.feed(rig.state.callback_update(GROUP, "learn:open:basics", card.message_id, 7))
        await rig.feed(rig.state.callback_update(GROUP, "checkin:answer:3", card.message_id, 7))
    assert [(i.command or i.choice, i.in_group) for i in rig.core.seen] == [
        ("learn", True), ("crisis", True), ("learn:open:basics", True),
    ]
    # Group text is screened (all of it, the command included), never handled as a turn.
    assert [(i.kind, i.text, i.in_group) for i in rig.core.screened] == [
        (InboundKind.TEXT, "/checkin", True), (InboundKind.TEXT, "people chatting", True),
        (InboundKind.TEXT, f"@{BOT_USERNAME} am I ok?", True),
    ]
    offers = [c for c in rig.called("sendMessage") if shown(c) == "<telegram.group>"]
    assert len(offers) == 3  # /checkin, the mention, the check-in button; not the chatter
    assert buttons(offers[0]) == [
        {"text": "<telegram.continue_privately>", "url": f"https://t.me/{BOT_USERNAME}?start=group"}
    ]


async def test_concerning_group_text_gets_plain_crisis_lines_and_a_private_button() -> None:
    crisis = Reply("Call or text 988 <now>", (Choice("crisis:ok", "I'm OK"),), urgency=Urgency.CRISIS)
    async with unit_rig() as rig:
        rig.core.screen = lambda inbound: [crisis] if "end it" in inbound.text else []
        await rig.feed(rig.state.message_update(GROUP, "I want to end it", 7, "supergroup"))
        await rig.feed(rig.state.message_update(GROUP, "see you at 6", 8, "supergroup"))
    assert rig.core.seen == []
    (sent,) = rig.called("sendMessage")  # the chatter that was not concerning: no answer
    assert sent.params["text"] == crisis.text and "parse_mode" not in sent.params
    assert buttons(sent) == [
        {"text": "I'm OK", "callback_data": "crisis:ok"},
        {"text": "<telegram.continue_privately>", "url": f"https://t.me/{BOT_USERNAME}?start=group"},
    ]


async def test_command_menus_are_registered_for_private_chats_and_groups() -> None:
    async with unit_rig() as rig:
        await rig.adapter.register_commands()
    private, group = (c.params for c in rig.called("setMyCommands"))
    assert [c["command"] for c in private["commands"]] == list(COMMANDS)
    assert len(COMMANDS) == len(set(COMMANDS))
    assert {"start", "crisis", "privacy", "delete", "resume", "history", "journal"} <= set(COMMANDS)
    menu = yaml.safe_load((CONTENT / "messages" / "en.yaml").read_text(encoding="utf-8"))["telegram"]["commands"]
    assert set(menu) == set(COMMANDS) and "phq9" in menu["checkin"]
    assert all(c["description"] for c in private["commands"])
    assert group["scope"] == {"type": "all_group_chats"}
    assert {c["command"] for c in group["commands"]} == {"learn", "crisis", "help", "privacy"}


async def test_blocking_the_bot_marks_the_chat_unreachable() -> None:
    async with unit_rig() as rig:
        await rig.feed({"update_id": 5, "my_chat_member": {
            "chat": {"id": 42, "type": "private", "first_name": "A"}, "from": user_object(42),
            "date": 1, "old_chat_member": {"status": "member", "user": user_object(1, is_bot=True)},
            "new_chat_member": {"status": "kicked", "user": user_object(1, is_bot=True),
                                "until_date": 0}}})  # fmt: skip
    assert rig.store.unreachable == [("telegram", "42")]
    assert rig.called("sendMessage") == []


async def test_a_failing_core_does_not_escape() -> None:
    def boom(inbound: object) -> list[Reply]:
        raise RuntimeError("core bug")

    async with unit_rig() as rig:
        rig.core.answer = boom
        await rig.feed(rig.state.message_update(42, "hello"))
        rig.core.answer = lambda inbound: [Reply("still here")]
        await rig.feed(rig.state.message_update(42, "hello again"))
    assert [shown(c) for c in rig.called("sendMessage")] == ["still here"]


async def test_a_content_file_is_fetched_for_the_core_and_other_files_stay_media() -> None:
    data = b"---\nid: x\n---\n## Card\n\nText.\n"
    async with unit_rig() as rig:
        stored = rig.state._store_file("D", "documents", data, "blood-pressure.md")
        raw = rig.state.message_update(42, "x")
        del raw["message"]["text"]
        raw["message"]["document"] = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                                      "file_name": "blood-pressure.md", "file_size": len(data)}
        await rig.feed(raw)
        pdf = rig.state.message_update(42, "x")
        del pdf["message"]["text"]
        pdf["message"]["document"] = {"file_id": "P1", "file_unique_id": "P1", "file_name": "scan.pdf",
                                      "file_size": 10}
        await rig.feed(pdf)
        huge = rig.state.message_update(42, "x")
        del huge["message"]["text"]
        huge["message"]["document"] = {"file_id": stored.file_id, "file_unique_id": "H", "file_name": "big.zip",
                                       "file_size": 50 * 1024 * 1024}
        await rig.feed(huge)
    (inbound,) = rig.core.seen
    assert inbound.attachment is not None and inbound.attachment.data == data
    assert inbound.attachment.filename == "blood-pressure.md"
    assert [shown(c) for c in rig.called("sendMessage")][-2:] == ["<common.not_understood>"] * 2
