"""The personal safety plan: built part by part, saved after each part, encrypted at rest,
exported, deleted, and rendered as plain text for the crisis flow."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from ketacompanion.app import App, build_app, texts
from ketacompanion.core.clock import FakeClock
from ketacompanion.core.model import Address, Inbound
from ketacompanion.core.safetyplan import (
    MAX_CHARS,
    MAX_ENTRIES,
    PARTS,
    TITLES,
    SafetyPlan,
    parse_entries,
    plan_text,
    render_plan,
)
from ketacompanion.core.turn import Turn
from ketacompanion.storage.tables import safety_plans

from conftest import Chat, make_settings

# One distinctive answer per part, in the order the parts are asked.
ANSWERS = {
    "warning_signs": "I stop answering texts\nI sleep all day",
    "coping": "walk the dog, hot shower, the blue playlist",
    "distractions": "Marguerite's bakery, the climbing gym",
    "helpers": "my brother Tomasz 555 0188",
    "professionals": "Dr Okafor at the clinic 555 0100",
    "safer_surroundings": "give the spare keys to Tomasz",
    "reasons": "my daughter Ilse, the garden",
}
EXPECTED = {
    "warning_signs": ("I stop answering texts", "I sleep all day"),
    "coping": ("walk the dog", "hot shower", "the blue playlist"),
    "distractions": ("Marguerite's bakery", "the climbing gym"),
    "helpers": ("my brother Tomasz 555 0188",),
    "professionals": ("Dr Okafor at the clinic 555 0100",),
    "safer_surroundings": ("give the spare keys to Tomasz",),
    "reasons": ("my daughter Ilse", "the garden"),
}
MARKUP = "*bold* _it_ <b>x</b> [a](https://e.x) `c` ~s~ ||sp|| #1 {x} \\ 🌊🧘‍♀️ ❤️"


async def stored_plan(app: App, user: str = "u1") -> SafetyPlan | None:
    async with app.store.transaction() as tx:
        found = await tx.users.find("console", user)
        assert found is not None
        return await tx.safety_plans.get(found[0].id)


def asked_part(chat: Chat) -> str:
    """Which part the last reply asks for, read from its Skip/Keep button."""
    for prefix in ("plan:skip:", "plan:keep:"):
        for c in chat.choices():
            if c.id.startswith(prefix):
                return c.id.removeprefix(prefix)
    raise AssertionError(f"no part asked in {[c.id for c in chat.choices()]}")


async def test_walk_through_every_part_then_see_the_whole_plan(chat: Chat) -> None:
    await chat.onboard()
    await chat.say("/safetyplan")
    assert "encrypted" in chat.text() and "emergency" in chat.text()
    await chat.tap("plan:all")
    for part in PARTS:
        assert asked_part(chat) == part
        await chat.say(ANSWERS[part])
    final = chat.text()
    for part in PARTS:
        assert TITLES[part] in final
        for entry in EXPECTED[part]:
            assert f"- {entry}" in final
    plan = await stored_plan(chat.app)
    assert plan is not None and plan.to_dict() == {k: list(v) for k, v in EXPECTED.items()}
    # The walk is over: the next text is not taken as a plan entry.
    await chat.say("hello there")
    assert (await stored_plan(chat.app)) == plan


async def test_stopping_halfway_keeps_what_was_written(chat: Chat) -> None:
    await chat.onboard()
    await chat.say("/safetyplan")
    await chat.tap("plan:all")
    await chat.say(ANSWERS["warning_signs"])
    await chat.tap(chat.choice("plan:stop"))
    assert "saved" in chat.text()
    plan = await stored_plan(chat.app)
    assert plan is not None and plan.warning_signs == EXPECTED["warning_signs"]
    assert plan.coping == ()


async def test_a_restart_mid_way_continues_at_the_same_part(tmp_path: Path, clock: FakeClock) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", tmp_path)
    first = await build_app(settings, clock)
    try:
        chat = Chat(first)
        await chat.onboard()
        await chat.say("/safetyplan")
        await chat.tap("plan:all")
        await chat.say(ANSWERS["warning_signs"])
        await chat.say(ANSWERS["coping"])
        assert asked_part(chat) == "distractions"
    finally:
        await first.close()
    second = await build_app(settings, clock)
    try:
        chat = Chat(second)
        await chat.say(ANSWERS["distractions"])
        assert asked_part(chat) == "helpers"
        plan = await stored_plan(second)
        assert plan is not None
        assert (plan.warning_signs, plan.coping, plan.distractions) == (
            EXPECTED["warning_signs"], EXPECTED["coping"], EXPECTED["distractions"],
        )
    finally:
        await second.close()


async def test_editing_one_part_leaves_the_others_alone(chat: Chat) -> None:
    await chat.onboard()
    await chat.say("/safetyplan")
    await chat.tap("plan:all")
    for part in PARTS:
        await chat.say(ANSWERS[part])
    await chat.say("/safetyplan")
    await chat.tap("plan:edit:coping")
    assert "- walk the dog" in chat.text()  # the part as it stands is shown
    await chat.say("call my cousin\nbake bread")
    assert "Your safety plan" in chat.text() and "- bake bread" in chat.text()
    plan = await stored_plan(chat.app)
    assert plan is not None
    assert plan.coping == ("call my cousin", "bake bread")
    assert {k: v for k, v in plan.to_dict().items() if k != "coping"} == {
        k: list(v) for k, v in EXPECTED.items() if k != "coping"
    }


async def test_keep_as_is_and_clear(chat: Chat) -> None:
    await chat.onboard()
    await chat.say("/safetyplan")
    await chat.tap("plan:edit:reasons")
    await chat.say(ANSWERS["reasons"])
    await chat.tap("plan:edit:reasons")
    await chat.tap("plan:keep:reasons")
    assert (await stored_plan(chat.app)).reasons == EXPECTED["reasons"]  # type: ignore[union-attr]
    await chat.tap("plan:edit:reasons")
    await chat.tap("plan:clear:reasons")
    assert "Cleared" in chat.text()
    plan = await stored_plan(chat.app)
    assert plan is not None and plan.reasons == ()


async def test_a_stale_part_button_changes_nothing(chat: Chat) -> None:
    await chat.onboard()
    await chat.say("/safetyplan")
    await chat.tap("plan:edit:reasons")
    await chat.say(ANSWERS["reasons"])
    await chat.tap("plan:edit:coping")
    await chat.tap("plan:clear:reasons")  # from the earlier message: reasons is not being asked
    plan = await stored_plan(chat.app)
    assert plan is not None and plan.reasons == EXPECTED["reasons"]
    assert asked_part(chat) == "coping"


async def test_skip_moves_on_without_saving(chat: Chat) -> None:
    await chat.onboard()
    await chat.say("/safetyplan")
    await chat.tap("plan:all")
    await chat.tap("plan:skip:warning_signs")
    assert asked_part(chat) == "coping"
    assert await stored_plan(chat.app) is None


async def test_local_crisis_lines_are_offered_in_part_five(chat: Chat) -> None:
    await chat.onboard("GB", "Europe/London")
    await chat.say("/safetyplan")
    await chat.tap("plan:edit:professionals")
    assert "116 123" in chat.text()  # Samaritans, from the helplines file
    await chat.tap("plan:keep:professionals")
    plan = await stored_plan(chat.app)
    assert plan is not None and any("116 123" in entry for entry in plan.professionals)


async def test_the_database_holds_only_ciphertext(tmp_path: Path, clock: FakeClock) -> None:
    db = tmp_path / "bot.db"
    url = f"sqlite+aiosqlite:///{db}"
    app = await build_app(make_settings(url, tmp_path), clock)
    try:
        chat = Chat(app)
        await chat.onboard()
        await chat.say("/safetyplan")
        await chat.tap("plan:edit:reasons")
        await chat.say("Zanzibar-canary-7731")
        assert (await stored_plan(app)).reasons == ("Zanzibar-canary-7731",)  # type: ignore[union-attr]
    finally:
        await app.close()
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            raw = (await conn.execute(select(safety_plans.c.plan_enc))).scalar_one()
    finally:
        await engine.dispose()
    assert isinstance(raw, bytes) and len(raw) > 20
    assert b"Zanzibar" not in raw and b"canary" not in raw
    assert b"Zanzibar" not in db.read_bytes()


async def test_export_contains_the_plan_decrypted(chat: Chat) -> None:
    await chat.onboard()
    await chat.say("/safetyplan")
    await chat.tap("plan:edit:helpers")
    await chat.say(ANSWERS["helpers"])
    replies = await chat.say("/export")
    document = json.loads(replies[0].file.data)  # type: ignore[union-attr]
    rows = document["tables"]["safety_plans"]
    assert len(rows) == 1
    assert rows[0]["plan"]["parts"]["helpers"] == list(EXPECTED["helpers"])


async def test_delete_removes_the_plan(chat: Chat) -> None:
    await chat.onboard()
    await chat.say("/safetyplan")
    await chat.tap("plan:edit:helpers")
    await chat.say(ANSWERS["helpers"])
    async with chat.app.store.transaction() as tx:
        found = await tx.users.find("console", "u1")
        assert found is not None
        user_id = found[0].id
    await chat.say("/delete")
    await chat.tap("delete:yes")
    async with chat.app.store.transaction() as tx:
        assert await tx.safety_plans.get(user_id) is None


async def test_enormous_input_is_trimmed_with_a_notice(chat: Chat) -> None:
    await chat.onboard()
    await chat.say("/safetyplan")
    await chat.tap("plan:edit:coping")
    await chat.say("x" * 5000)
    assert "kept the first" in chat.text()
    plan = await stored_plan(chat.app)
    assert plan is not None and plan.coping == ("x" * MAX_CHARS,)
    exported = json.loads((await chat.say("/export"))[0].file.data)  # type: ignore[union-attr]
    assert exported["tables"]["safety_plans"][0]["plan"]["parts"]["coping"] == ["x" * MAX_CHARS]

    await chat.tap("plan:edit:coping")
    await chat.say("\n".join(f"idea {n}" for n in range(25)))
    assert "kept the first" in chat.text()
    plan = await stored_plan(chat.app)
    assert plan is not None and plan.coping == tuple(f"idea {n}" for n in range(MAX_ENTRIES))


async def test_markup_and_emoji_round_trip_unchanged(chat: Chat) -> None:
    await chat.onboard()
    await chat.say("/safetyplan")
    await chat.tap("plan:edit:reasons")
    await chat.say(MARKUP)
    assert f"- {MARKUP}" in chat.text()
    plan = await stored_plan(chat.app)
    assert plan is not None and plan.reasons == (MARKUP,)
    assert render_plan(plan).endswith(f"\n\n7. {TITLES['reasons']}\n- {MARKUP}")


async def test_nothing_is_shown_or_taken_in_a_group(chat: Chat) -> None:
    await chat.onboard()
    await chat.say("/safetyplan")
    await chat.tap("plan:edit:reasons")
    await chat.say(ANSWERS["reasons"])
    await chat.tap("plan:edit:coping")
    group = Address("console", "group-1")
    # Typed in a group while a part is open: not saved, nothing shown.
    said = await chat.app.companion.handle(Inbound.from_text(group, "u1", "secret words", in_group=True))
    tapped = await chat.app.companion.handle(Inbound.from_choice(group, "u1", "plan:view", in_group=True))
    for reply in said + tapped:
        assert "my daughter Ilse" not in reply.text and "secret" not in reply.text
    plan = await stored_plan(chat.app)
    assert plan is not None and plan.coping == ()


async def test_the_plan_needs_consent(chat: Chat) -> None:
    await chat.say("/safetyplan")
    assert any(c.id == "start:agree" for c in chat.choices())
    await chat.tap("plan:all")
    assert any(c.id == "start:agree" for c in chat.choices())


def test_render_an_empty_plan() -> None:
    assert render_plan(SafetyPlan()) == ""
    assert SafetyPlan().is_empty
    placeholder = render_plan(SafetyPlan(), empty="(nothing yet)")
    assert placeholder.count("- (nothing yet)") == len(PARTS)


def test_render_a_full_plan_in_order_as_plain_text() -> None:
    plan = SafetyPlan(**EXPECTED)
    assert not plan.is_empty
    text = render_plan(plan)
    positions = [text.index(f"{n}. {TITLES[part]}") for n, part in enumerate(PARTS, start=1)]
    assert positions == sorted(positions)
    for part in PARTS:
        for entry in EXPECTED[part]:
            assert f"\n- {entry}" in text
    assert text.count("\n- ") == sum(len(v) for v in EXPECTED.values())


def test_parsing_splits_lines_and_commas_and_drops_list_markers() -> None:
    entries, trimmed = parse_entries("- walk, run\n\n2. swim\n*bold* stays\n  ,  \n-5 degrees")
    assert entries == ("walk", "run", "swim", "*bold* stays", "-5 degrees")
    assert not trimmed
    assert parse_entries(" \n , ") == ((), False)


def test_pasted_invisible_characters_at_an_entrys_ends_are_dropped_and_inner_ones_kept() -> None:
    entries, _ = parse_entries("\u200bcall Mum\u200b\n\ufeffwalk the dog \u200c\n\u200b\nfamily 👨\u200d👩\u200d👧")
    assert entries == ("call Mum", "walk the dog", "family 👨\u200d👩\u200d👧")


def test_a_comma_inside_a_sentence_does_not_split_it() -> None:
    assert parse_entries("When I'm tired, I withdraw")[0] == ("When I'm tired, I withdraw",)
    assert parse_entries("Sleeping badly, I snap at people")[0] == ("Sleeping badly, I snap at people",)
    assert parse_entries("Mum, Sam, my sister")[0] == ("Mum", "Sam", "my sister")


def test_a_plan_survives_its_dictionary_form() -> None:
    plan = SafetyPlan(**EXPECTED)
    assert SafetyPlan.from_dict(json.loads(json.dumps(plan.to_dict()))) == plan
    assert SafetyPlan.from_dict({"reasons": ["a", 3, ""], "unknown": ["b"]}) == SafetyPlan(reasons=("a",))


async def test_plan_text_for_the_crisis_flow(chat: Chat) -> None:
    await chat.onboard()

    async def text_now() -> str | None:
        async with chat.app.store.transaction() as tx:
            found = await tx.users.find("console", "u1")
            assert found is not None
            inbound = Inbound.from_text(chat.address, "u1", "x")
            turn = Turn(inbound, tx, found[0], found[1], chat.app.clock.now(), "en", texts(chat.app.content)("en"))
            return await plan_text(turn)

    assert await text_now() is None
    await chat.say("/safetyplan")
    await chat.tap("plan:edit:reasons")
    await chat.say(ANSWERS["reasons"])
    shown = await text_now()
    assert shown is not None and "- my daughter Ilse\n- the garden" in shown
    assert "nothing yet" not in shown  # only the parts that were filled in
    await chat.say("/safetyplan")
    for part in ("professionals", "reasons"):
        await chat.tap(f"plan:edit:{part}")
        await chat.tap(f"plan:clear:{part}")
    assert await text_now() is None
