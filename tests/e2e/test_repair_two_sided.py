"""Repair from both sides, /thanks and a reassuring pause, end to end.

The real bot process: Ben says privately what hurt and lets Ana read it; Ana writes her
repair with Ben's note beside the impact question and posts it; Ben answers with
[Thank you] and only Ana hears it, privately. /thanks goes to the partner's private
chat and is counted on /checkins. /pause from a private chat is announced in the group,
and /back from one partner asks the other instead of ending the break.

Nothing here waits on a timer, so the tests hold with the production sweep (30 s) and
rate limiter; every wait is for a message, never a fixed sleep. Each group sees well
under 20 bot messages a minute.
"""

from __future__ import annotations

import pytest

from sandbox import SimChat
from tests.e2e.harness import Scene, form_couple

pytestmark = pytest.mark.e2e

HAPPENED = "You checked your phone while I told you about my day at the clinic."
MEANT = "It made me believe my day is boring to you."
OWNERSHIP = "I scrolled my phone while you were telling me about the clinic."
IMPACT = "You felt unheard, like you were talking to a wall."
CHANGE = "When you talk to me, my phone goes face down on the table."


def _texts(world: Scene, chat: SimChat) -> str:
    return "\n".join(m.text or "" for m in world.sandbox.bot_messages(chat))


async def test_repair_with_the_hurt_partners_note_posted_and_answered_with_thank_you(
    sqlite_world: Scene,
) -> None:
    world = sqlite_world
    group, ana, ben = world.group, world.ana, world.ben
    await form_couple(world)
    ana_chat, ben_chat = world.private(ana), world.private(ben)

    # Ben starts from his side: what hurt, privately, and he lets Ana read it.
    mark = world.last_id(ben_chat)
    await world.say(ben, ben_chat, "/repair")
    choice = await world.expect(ben_chat, "Where would you like to start?", after=mark)
    await world.press(ben, choice, "I want to say what hurt")
    await world.expect(ben_chat, "1 of 2: what happened?", after=mark)
    await world.say(ben, ben_chat, HAPPENED)
    await world.expect(ben_chat, "2 of 2", after=mark)
    ana_mark = world.last_id(ana_chat)
    await world.say(ben, ben_chat, MEANT)
    review = await world.expect(ben_chat, "Should Ana read it", after=mark)
    assert HAPPENED in (review.text or "") and MEANT in (review.text or "")
    await world.press(ben, review, "Let Ana read it")
    told = await world.expect(ana_chat, "written down what hurt", after=ana_mark)
    assert HAPPENED not in (told.text or "")

    # Ana writes her repair; Ben's note is beside the impact question, in private.
    group_mark = world.last_id(group)
    await world.say(ana, group, "/repair")
    await world.expect(group, "let's go on in our private chat", after=group_mark)
    choice = await world.expect(ana_chat, "You'll see it while you write, at step 2", after=told)
    await world.press(ana, choice, "I want to apologise")
    await world.expect(ana_chat, "Step 1 of 4", after=ana_mark)
    await world.say(ana, ana_chat, OWNERSHIP)
    impact = await world.expect(ana_chat, "Step 2 of 4", after=ana_mark)
    assert HAPPENED in (impact.text or "") and MEANT in (impact.text or "")
    await world.say(ana, ana_chat, IMPACT)
    await world.expect(ana_chat, "Step 3 of 4", after=ana_mark)
    await world.say(ana, ana_chat, CHANGE)
    last = await world.expect(ana_chat, "Step 4 of 4", after=ana_mark)
    await world.press(ana, last, "Use this question")
    review = await world.expect(ana_chat, "as Ben will read it", after=last)
    assert world.last_id(group) == group_mark + 2  # only "/repair" and the pointer so far
    await world.press(ana, review, "Post it")
    posted = await world.expect(group, f"Ben,\n\nI'm sorry. {OWNERSHIP}", after=group_mark)
    body = posted.text or ""
    assert IMPACT in body and CHANGE in body and "tonight?\n\n— Ana\n\n" in body
    assert "My part" not in body
    assert [b.get("text") for b in posted.buttons] == [
        "Thank you",
        "I need some time",
        "Can we talk tonight?",
    ]

    # Ana cannot answer for Ben; Ben answers, and only Ana hears it, privately.
    answer = await world.press(ana, posted, "Thank you")
    assert "for Ben to tap" in str(answer.get("text"))
    ana_mark = world.last_id(ana_chat)
    answer = await world.press(ben, posted, "Thank you")
    assert "Sent to Ana" in str(answer.get("text"))
    await world.expect(ana_chat, "Ben read your message and said thank you", after=ana_mark)
    # Ben's note never reached the group, and the answer was not announced there.
    group_texts = _texts(world, group)
    assert HAPPENED not in group_texts and MEANT not in group_texts
    assert "said thank you" not in group_texts
    print("\n".join(world.transcript))


async def test_thanks_bare_asks_what_for_reaches_the_partner_privately_and_is_counted(
    sqlite_world: Scene,
) -> None:
    world = sqlite_world
    group, ana, ben = world.group, world.ana, world.ben
    await form_couple(world)
    ben_chat = world.private(ben)

    mark = world.last_id(group)
    await world.say(ana, group, "/thanks")
    prompt = await world.expect(group, "What would you like to thank Ben for?", after=mark)
    await world.say(ana, group, "for making breakfast", reply_to=prompt)
    choice = await world.expect(group, "Your thanks to Ben", after=prompt)
    ben_mark = world.last_id(ben_chat)
    await world.press(ana, choice, "Send to Ben privately")
    await world.expect(
        ben_chat, 'A note from Ana: thank you "for making breakfast".', after=ben_mark
    )
    assert "A note from Ana" not in _texts(world, group)

    mark = world.last_id(group)
    await world.say(ben, group, "/checkins")
    history = await world.expect(group, "Thanks shared in the last four weeks: 1.", after=mark)
    assert "Ana" not in (history.text or "")  # counted together, never per partner
    print("\n".join(world.transcript))


async def test_pause_from_private_is_announced_and_back_asks_the_other(sqlite_world: Scene) -> None:
    world = sqlite_world
    group, ana, ben = world.group, world.ana, world.ben
    await form_couple(world)
    ana_chat, ben_chat = world.private(ana), world.private(ben)

    mark, group_mark = world.last_id(ana_chat), world.last_id(group)
    await world.say(ana, ana_chat, "/pause 60")
    started = await world.expect(group, "Ana asked for a break of an hour", after=group_mark)
    assert "Ana is taking a break to come back to this well, not to leave." in (started.text or "")
    await world.expect(ana_chat, "posted your break in the group", after=mark)
    await world.press(ben, started, "OK, that works")
    await world.expect(group, "Ben agreed", after=group_mark)

    group_mark = world.last_id(group)
    await world.say(ben, group, "/back")
    asked = await world.expect(group, "Ben is ready early. Ana, are you?", after=group_mark)
    ben_mark = world.last_id(ben_chat)
    await world.press(ana, asked, "I'm ready")
    await world.expect(group, "Welcome back, both of you", after=asked)
    await world.expect(ben_chat, "Ana is back too", after=ben_mark)
    print("\n".join(world.transcript))
