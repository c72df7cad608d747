"""The real bot runs a weekly check-in: the schedule fires, Ana answers privately, Ben
replies in the group, nothing shows early, both are revealed together, and next week
Ana's "still needs care" comes back."""

from __future__ import annotations

import asyncio
from datetime import time, timedelta
from zoneinfo import ZoneInfo

import pytest

from flows.recurrence import next_weekly
from sandbox import SimMessage
from tests.e2e.harness import Scene, form_couple

pytestmark = pytest.mark.e2e

ANA_SAYS = (
    "the talk about the holidays",
    "I rushed you on Tuesday",
    "our long walk",
    "phones away at dinner",
)
BEN_SAYS = (
    "my sister's visit",
    "I forgot to text back",
    "cooking together",
    "check before making plans",
)
BERLIN = ZoneInfo("Europe/Berlin")


def _text(message: SimMessage) -> str:
    return message.text or ""


async def _to_next_sunday_evening(world: Scene) -> None:
    """Move the bot's clock just past the coming Sunday 19:00 in Berlin."""
    now = world.bot.clock.now()
    due = next_weekly(now, 6, time(19, 0), BERLIN)
    world.advance(due - now + timedelta(seconds=1))


async def _tidied(world: Scene, message: SimMessage, says: str) -> SimMessage:
    """`message` as it reads once Mend has edited it to one line without buttons (edits go
    through the outbox, behind the chat's rate limit)."""
    for _ in range(450):
        current = world.sandbox.message(message.chat, message.message_id)
        if current is not None and says in _text(current) and not current.buttons:
            return current
        await asyncio.sleep(0.1)
    raise AssertionError(f"not tidied: {_text(message)!r}")


async def test_weekly_checkin_end_to_end(world: Scene) -> None:
    group, ana_chat = world.group, world.private(world.ana)
    await form_couple(world, open_private=False)
    formed = next(m for m in world.sandbox.bot_messages(group) if "you're set up" in _text(m))
    payload = str(next(b["url"] for b in formed.buttons if "url" in b)).split("start=", 1)[1]
    await world.say(world.ana, ana_chat, f"/start {payload}")  # only Ana opens the private chat
    await world.expect(ana_chat, "connected")
    mark = world.last_id(group)
    await world.say(world.ana, group, "/timezone Berlin")
    await world.expect(group, "Europe/Berlin", after=mark)
    mark = world.last_id(group)
    await world.say(world.ben, group, "/checkin")
    await world.expect(group, "Sundays at 19:00", after=mark)

    # Sunday 19:00 in Berlin: the schedule fires by itself.
    group_mark, ana_mark = world.last_id(group), world.last_id(ana_chat)
    await _to_next_sunday_evening(world)
    opening = await world.expect(group, "weekly check-in", after=group_mark)
    assert any("Tomorrow" in b.get("text", "") for b in opening.buttons)
    ben_question = await world.expect(
        group, lambda m: "For Ben:" in _text(m) and "Question 1 of 4" in _text(m), after=group_mark
    )
    assert "visible to both" in _text(ben_question)
    await world.expect(ana_chat, "Question 1 of 4", after=ana_mark)

    # Ana answers privately, one question after the other.
    for number, said in enumerate(ANA_SAYS, start=1):
        mark = world.last_id(ana_chat)
        await world.say(world.ana, ana_chat, said)
        expected = f"Question {number + 1} of 4" if number < 4 else "That's all four"
        all_four = await world.expect(ana_chat, expected, after=mark)
    assert any("Change" in b.get("text", "") for b in all_four.buttons)

    # Ben replies in the group to each of his questions.
    for number, said in enumerate(BEN_SAYS, start=1):
        # Until Ben's last answer, nothing of Ana's is in the group, nothing of Ben's in
        # Ana's private chat, and the bot has shown no one's answers together.
        group_text = "\n".join(_text(m) for m in world.sandbox.bot_messages(group))
        assert not any(hers in group_text for hers in ANA_SAYS)
        private_text = "\n".join(_text(m) for m in world.sandbox.bot_messages(ana_chat))
        assert not any(his in private_text for his in BEN_SAYS)
        mark = world.last_id(group)
        await world.say(world.ben, group, said, reply_to=ben_question)
        if number < 4:
            ben_question = await world.expect(
                group, lambda m, n=number: f"Question {n + 1} of 4" in _text(m), after=mark
            )

    revealed = await world.expect(group, "side by side", after=mark)
    shown = _text(revealed)
    for hers, his in zip(ANA_SAYS, BEN_SAYS, strict=True):
        assert f"Ana: {hers}" in shown and f"Ben: {his}" in shown
    assert any("make it a promise" in b.get("text", "") for b in revealed.buttons)
    # The finished steps tidied up: Ana's "Change 1-4" and the group's "Not tonight?" are
    # one line each, without buttons.
    tidied = await _tidied(world, all_four, "This week's check-in: done")
    assert tidied.text == "Your answers are in. This week's check-in: done."
    assert (await _tidied(world, opening, "done")).text == "This week's check-in: done."

    mark = world.last_id(group)
    await world.say(world.ben, group, "/checkins")
    history = await world.expect(group, "recent check-ins", after=mark)
    assert ": done" in _text(history) and "Streak: 1 week done" in _text(history)

    # A week later Ana's "still needs care" comes back to her.
    ana_mark = world.last_id(ana_chat)
    await _to_next_sunday_evening(world)
    again = await world.expect(ana_chat, "Question 1 of 4", after=ana_mark)
    assert f'"{ANA_SAYS[0]}". Is it still?' in _text(again)

    print("\n".join(world.transcript))


async def test_with_a_third_person_in_the_group_the_answers_go_to_private_chats(
    world: Scene,
) -> None:
    group, sandbox = world.group, world.sandbox
    await form_couple(world)
    # Cleo joins the couple's group: Mend counts the members and says what changes.
    mark = world.last_id(group)
    sandbox.join_group(group, world.cleo)
    await world.expect(group, "Someone besides the two of you is in this group now", after=mark)
    mark = world.last_id(group)
    await world.say(world.ana, group, "/start")
    await world.expect(group, "someone besides the two of you is in this group", after=mark)

    mark = world.last_id(group)
    await world.say(world.ana, group, "/checkin now")
    await world.expect(group, "weekly check-in", after=mark)
    for user, says in ((world.ana, ANA_SAYS), (world.ben, BEN_SAYS)):
        chat = world.private(user)
        for number, said in enumerate(says, start=1):
            chat_mark = world.last_id(chat)
            await world.expect(chat, f"Question {number} of 4")
            await world.say(user, chat, said)
            if number < 4:
                await world.expect(chat, f"Question {number + 1} of 4", after=chat_mark)
    for user in (world.ana, world.ben):
        shown = await world.expect(world.private(user), "side by side")
        assert all(said in _text(shown) for said in ANA_SAYS + BEN_SAYS)
    await world.expect(group, "sent them to your private chats", after=mark)
    group_text = "\n".join(_text(m) for m in sandbox.bot_messages(group))
    assert not any(said in group_text for said in ANA_SAYS + BEN_SAYS)
