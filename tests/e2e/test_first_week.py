"""The first week against the local Bot API server: the time-zone step, every menu command
tapped bare, and an answer to every kind of reply (issue 16).

Each test waits on what the bot writes (never on a sweep interval) and keeps a group well
under Telegram's 20 messages a minute.
"""

from __future__ import annotations

import pytest

from sandbox.server import SimMessage
from tests.e2e.harness import Scene, form_couple

pytestmark = pytest.mark.e2e


def _text(message: SimMessage) -> str:
    return message.text or ""


def _asks_for_reply(message: SimMessage) -> bool:
    return bool((message.other_markup or {}).get("force_reply"))


async def test_time_zone_step_change_by_city_then_confirm(sqlite_world: Scene) -> None:
    world, group = sqlite_world, sqlite_world.group
    await form_couple(world, open_private=False)
    question = await world.expect(group, "Is that where you are?")
    assert "UTC time" in _text(question)
    assert [b["text"] for b in question.buttons] == ["That's right", "Change"]

    # Nothing weekly is planned yet in a zone nobody chose.
    mark = world.last_id(group)
    await world.say(world.ben, group, "/checkin")
    status = await world.expect(group, "Your weekly check-in", after=mark)
    assert "once one of you has confirmed your time zone" in _text(status)

    # A stranger's tap is told whose button it is, and changes nothing.
    answer = await world.press(world.cleo, question, "That's right")
    assert "This is for Ana and Ben" in str(answer.get("text"))

    # [Change] asks for a city as a reply prompt; a city in reply sets the zone.
    mark = world.last_id(group)
    await world.press(world.ana, question, "Change")
    ask = await world.expect(group, "Which city are you in?", after=mark)
    assert _asks_for_reply(ask)
    mark = world.last_id(group)
    await world.say(world.ben, group, "Berlin", reply_to=ask)
    await world.expect(group, "Time zone set to Europe/Berlin", after=mark)

    # The weekly check-in is planned now, Sunday 19:00 in Berlin.
    mark = world.last_id(group)
    await world.say(world.ana, group, "/checkin")
    status = await world.expect(group, "Your weekly check-in", after=mark)
    assert "Sundays at 19:00" in _text(status) and "confirmed" not in _text(status)

    # The city settled the question: it is one line now, without buttons.
    edited = await world.expect(
        group,
        lambda m: (
            m.message_id == question.message_id
            and "Europe" not in _text(m)
            and "Berlin time" in _text(m)
        ),
    )
    assert edited.buttons == [] and "\n" not in _text(edited)

    # At start-up Mend described itself (what people see before the first message).
    assert "couple" in world.sandbox.descriptions.get("", "")
    assert world.sandbox.short_descriptions.get("", "")


async def test_bare_promise_and_drop_ask_for_what_they_need(sqlite_world: Scene) -> None:
    world, group = sqlite_world, sqlite_world.group
    await form_couple(world, open_private=False)
    await world.expect(group, "Is that where you are?")

    # /promise: "What will you promise?" as a reply prompt; the answer goes on to "when?".
    mark = world.last_id(group)
    await world.say(world.ana, group, "/promise")
    ask = await world.expect(group, "what will you promise?", after=mark)
    assert _asks_for_reply(ask)
    mark = world.last_id(group)
    await world.say(world.ana, group, "make us coffee", reply_to=ask)
    when = await world.expect(group, "when will you do it?", after=mark)
    await world.press(world.ana, when, "Every day")
    await world.expect(
        group, lambda m: m.message_id == when.message_id and "Promise #1" in _text(m)
    )

    # /drop: one button per promise of one's own.
    mark = world.last_id(group)
    await world.say(world.ana, group, "/drop")
    choose = await world.expect(group, "Which of your promises", after=mark)
    assert [b["text"] for b in choose.buttons] == ["End #1 make us coffee"]


# Two scenes rather than one: each group hears at most 20 messages a minute, and one long
# story would spend most of its time waiting on that limit.
async def test_bare_checkin_and_pause_ask_for_what_they_need(sqlite_world: Scene) -> None:
    world, group = sqlite_world, sqlite_world.group
    await form_couple(world, open_private=False)
    await world.expect(group, "Is that where you are?")

    # /checkin: when it is, with [Start now] [Move] [Off]; Move asks for a day and time.
    mark = world.last_id(group)
    await world.say(world.ben, group, "/checkin")
    status = await world.expect(group, "Your weekly check-in", after=mark)
    assert [b["text"] for b in status.buttons] == ["Start now", "Move", "Off"]
    mark = world.last_id(group)
    await world.press(world.ben, status, "Move")
    move = await world.expect(group, "which day and time suit you both?", after=mark)
    assert _asks_for_reply(move)
    mark = world.last_id(group)
    await world.say(world.ben, group, "wed 20:30", reply_to=move)
    await world.expect(group, "moved the weekly check-in to Wednesdays at 20:30", after=mark)

    # /pause with a length Mend cannot read: the buttons; a number in reply starts it.
    mark = world.last_id(group)
    await world.say(world.ana, group, "/pause a little while")
    choose = await world.expect(group, "didn't catch how long", after=mark)
    assert [b["text"] for b in choose.buttons] == [
        "20 minutes",
        "30 minutes",
        "an hour",
        "two hours",
    ]
    mark = world.last_id(group)
    await world.say(world.ana, group, "45", reply_to=choose)
    await world.expect(group, "Ana asked for a break of 45 min", after=mark)


async def test_bare_zone_commands_and_a_stranger_in_private(sqlite_world: Scene) -> None:
    world, group = sqlite_world, sqlite_world.group
    await form_couple(world)
    ana_chat = world.private(world.ana)

    # /timezone: the zone now, and "Which city?" as a reply prompt.
    mark = world.last_id(group)
    await world.say(world.ana, group, "/timezone")
    ask = await world.expect(group, "You're on UTC time now", after=mark)
    assert _asks_for_reply(ask)
    mark = world.last_id(group)
    await world.say(world.ben, group, "Lisbon", reply_to=ask)
    await world.expect(group, "Time zone set to Europe/Lisbon", after=mark)

    # /mytimezone in private: a city typed next is the answer.
    mark = world.last_id(ana_chat)
    await world.say(world.ana, ana_chat, "/mytimezone")
    await world.expect(ana_chat, "Which city are you in?", after=mark)
    mark = world.last_id(ana_chat)
    await world.say(world.ana, ana_chat, "Tokyo")
    await world.expect(ana_chat, "times I show you will be in Asia/Tokyo", after=mark)

    # Someone with no couple writing privately gets the way in, as a button.
    cleo_chat = world.private(world.cleo)
    await world.say(world.cleo, cleo_chat, "/start")
    hello = await world.expect(cleo_chat, "add me to a group with your partner")
    (add,) = hello.buttons
    assert add["text"] == "Add Mend to your group"
    assert str(add["url"]).startswith(f"https://t.me/{world.sandbox.bot_username}?startgroup=")


async def test_every_reply_gets_an_answer(sqlite_world: Scene) -> None:
    world, group = sqlite_world, sqlite_world.group
    await form_couple(world)
    question = await world.expect(group, "Is that where you are?")
    ana_chat = world.private(world.ana)

    # Private text with no open question: only Mend saw it.
    mark = world.last_id(ana_chat)
    await world.say(world.ana, ana_chat, "Are you still mad at me?")
    await world.expect(ana_chat, "Only I can see this here; Ben didn't get it", after=mark)

    # A city in reply to the zone question itself is taken as the answer.
    mark = world.last_id(group)
    await world.say(world.ben, group, "Berlin", reply_to=question)
    await world.expect(group, "Time zone set to Europe/Berlin", after=mark)

    # Ben answers the check-in opening in the group while his questions wait in private.
    mark = world.last_id(group)
    await world.say(world.ana, group, "/checkin now")
    opening = await world.expect(group, "Time for your weekly check-in", after=mark)
    mark = world.last_id(group)
    await world.say(world.ben, group, "I felt far away this week", reply_to=opening)
    told = await world.expect(group, "Ben, I didn't keep this", after=mark)
    assert "your own questions come to you in our private chat" in _text(told)
    assert "may want to delete it" in _text(told)
    assert told.buttons and "private chat" in told.buttons[0]["text"]

    # A /command inside a promise is repeated as text, not as a tappable command.
    mark = world.last_id(group)
    await world.say(world.ana, group, "/promise use /pause before shouting daily")
    made = await world.expect(group, "Promise #1", after=mark)
    assert "/pause" not in _text(made) and "/\u2060pause" in _text(made)
    commands = [
        _text(made)[e["offset"] : e["offset"] + e["length"]]
        for e in made.entities
        if e.get("type") == "bot_command"
    ]
    assert "/pause" not in commands


async def test_a_reply_with_new_promise_words_is_taken(sqlite_world: Scene) -> None:
    """The one kind of question not met above: "the new words" of a promise, asked in the
    group (Ben never opened the private chat) and answered by a reply."""
    world, group = sqlite_world, sqlite_world.group
    await form_couple(world, open_private=False)
    await world.expect(group, "Is that where you are?")

    mark = world.last_id(group)
    await world.say(world.ben, group, "/promise call your mum back daily")
    await world.expect(group, "Promise #1", after=mark)
    mark = world.last_id(group)
    await world.say(world.ben, group, "/promises")
    listed = await world.expect(group, "Promises going", after=mark)
    mark = world.last_id(group)
    await world.press(world.ben, listed, "Change #1")
    menu = await world.expect(group, "What would you like to change?", after=mark)
    await world.press(world.ben, menu, "Change the words")
    ask = await world.expect(group, "Reply to this message with the new words", after=mark)
    assert _asks_for_reply(ask)
    mark = world.last_id(group)
    await world.say(world.ben, group, "call your mum back every evening", reply_to=ask)
    await world.expect(group, "Done: #1 is now “call your mum back every evening”", after=mark)
