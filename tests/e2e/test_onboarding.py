"""The real bot process onboards a couple, refuses a stranger, and remembers after a restart."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlmodel import Session, select
from telegram import BotCommandScopeAllGroupChats, BotCommandScopeAllPrivateChats

from bot.db import make_engine
from flows.models import Couple
from tests.e2e.harness import Scene, form_couple

pytestmark = pytest.mark.e2e


async def test_couple_forms_stranger_is_refused_and_survives_restart(world: Scene) -> None:
    sandbox, group = world.sandbox, world.group
    await form_couple(world)

    # The command menu is registered for both scopes; /safety is offered in private only.
    group_menu = [
        c["command"] for c in sandbox.get_commands(BotCommandScopeAllGroupChats().to_dict())
    ]
    private_menu = [
        c["command"] for c in sandbox.get_commands(BotCommandScopeAllPrivateChats().to_dict())
    ]
    assert {"start", "pause", "checkin", "promise", "repair"} <= set(group_menu)
    assert "safety" in private_menu and "safety" not in group_menu

    # A third person joins the group; pressing "I'm in" (the button is gone, the payload
    # forged) is refused kindly and changes nothing.
    world.sandbox.join_group(group, world.cleo)
    invite = next(
        m
        for m in sandbox.bot_messages(group)
        if 'tap "I\'m in"' in (m.text or "") or "/help shows how" in (m.text or "")
    )
    answer = await world.press_data(world.cleo, invite, "v1|join|1|in")
    assert "exactly two" in str(answer.get("text"))

    # The stranger cannot change the couple's settings.
    mark = world.last_id(group)
    await world.say(world.cleo, group, "/timezone Europe/Berlin")
    await world.expect(group, "only they can use it", after=mark)

    # /timezone works and rejects nonsense.
    mark = world.last_id(group)
    await world.say(world.ana, group, "/timezone Mars/Olympus")
    await world.expect(group, "don't know the time zone", after=mark)
    mark = world.last_id(group)
    await world.say(world.ben, group, "/timezone Berlin")
    await world.expect(group, "Time zone set to Europe/Berlin", after=mark)

    # Stopped and started again: the couple is still there.
    assert await world.bot.stop() == 0
    await world.bot.start()
    mark = world.last_id(group)
    await world.say(world.ana, group, "/settings")
    settings = await world.expect(group, "Settings for", after=mark)
    assert "Europe/Berlin" in (settings.text or "")
    assert "Ana" in (settings.text or "") and "Ben" in (settings.text or "")
    mark = world.last_id(group)
    await world.say(world.ana, group, "/start")
    await world.expect(group, "set up for Ana and Ben", after=mark)


async def test_plain_group_chat_never_reaches_the_bot(world: Scene) -> None:
    await form_couple(world, open_private=False)
    # What forming the couple queued may still be waiting on the group's limit: count after.
    await world.bot.settled()
    before = world.sandbox.calls["sendMessage"]
    await world.say(world.ana, world.group, "we need to talk about the dishes")
    await world.say(world.ben, world.group, "/pause@some_other_bot")
    assert world.sandbox.calls["sendMessage"] == before


async def test_the_token_never_reaches_the_log(world: Scene) -> None:
    from sandbox.testing import TEST_TOKEN

    await form_couple(world)
    await world.bot.stop()
    logs = world.bot.logs()
    assert "Mend is ready" in logs
    assert TEST_TOKEN not in logs and TEST_TOKEN.split(":")[1] not in logs


async def test_a_group_upgraded_to_a_supergroup_keeps_its_couple(world: Scene) -> None:
    await form_couple(world, open_private=False)
    supergroup = world.sandbox.migrate_to_supergroup(world.group)
    await asyncio.sleep(1.0)  # the migration update reaches the bot
    await world.say(world.ana, supergroup, "/settings")
    settings = await world.expect(supergroup, "Settings for")
    assert "Ana" in (settings.text or "") and "Ben" in (settings.text or "")


async def test_a_partner_who_blocked_the_bot_is_written_to_in_the_group(world: Scene) -> None:
    await form_couple(world)
    world.sandbox.block_bot(world.ben)
    mark = world.last_id(world.group)
    await world.say(world.ana, world.group, "/pause 30")
    agree = await world.expect(world.group, "is that return time OK", after=mark)
    await world.press(world.ben, agree, "OK")
    world.advance(timedelta(minutes=31))
    asked = await world.expect(world.group, "For Ben:", after=mark)
    assert "Ready to come back" in (asked.text or "")


async def test_mend_counts_the_group_when_added_and_when_someone_leaves(world: Scene) -> None:
    engine = make_engine(world.bot.database_url)

    async def count_becomes(expected: int) -> None:
        for _ in range(300):
            with Session(engine) as session:
                couple = session.exec(select(Couple)).first()
                if couple is not None and couple.member_count == expected:
                    return
            await asyncio.sleep(0.1)
        raise AssertionError(f"member_count never became {expected}")

    try:
        world.sandbox.join_group(world.group, world.cleo)
        world.sandbox.add_bot_to_group(world.group, by=world.ana)
        await count_becomes(4)  # Ana, Ben, Cleo and Mend, known as soon as Mend is added
        world.sandbox.leave_group(world.group, world.cleo)
        await count_becomes(3)
    finally:
        engine.dispose()
