"""The real bot process: a daily promise is made, nudged, kept and noticed, across restarts."""

from __future__ import annotations

import asyncio
from datetime import datetime, time, timedelta

import pytest

from sandbox import SimMessage
from tests.e2e.harness import Scene, form_couple

pytestmark = pytest.mark.e2e


async def _edited(world: Scene, message: SimMessage, contains: str) -> str:
    """Wait until the bot has edited `message` to say `contains`."""
    for _ in range(100):
        current = world.sandbox.message(message.chat, message.message_id)
        if current is not None and contains in (current.text or ""):
            return current.text or ""
        await asyncio.sleep(0.05)
    raise AssertionError(f"message {message.message_id} never said {contains!r}")


def _next_local(now: datetime, at: time) -> datetime:
    """The next `at` (UTC, the couple's default zone here) strictly after `now`."""
    candidate = now.replace(hour=at.hour, minute=at.minute, second=0, microsecond=0)
    return candidate if candidate > now else candidate + timedelta(days=1)


async def test_daily_promise_nudged_kept_noticed_and_counted(world: Scene) -> None:
    group = world.group
    ana_chat, ben_chat = world.private(world.ana), world.private(world.ben)
    await form_couple(world)

    mark = world.last_id(group)
    await world.say(world.ana, group, "/promise put my phone away at dinner daily")
    made = await world.expect(group, "Promise #1 to Ben", after=mark)
    assert "every day" in (made.text or "") and "09:00" in (made.text or "")

    # The process dies without warning; the promise and its timers are in the database.
    await world.bot.kill()
    world.transcript.append("--- bot process killed (SIGKILL) and started again ---")
    await world.bot.start()

    now = world.bot.clock.now()
    nudge_at = _next_local(now, time(9, 0))
    mark = world.last_id(ana_chat)
    world.advance(nudge_at - now + timedelta(seconds=5))
    world.transcript.append(f"--- clock moved to {nudge_at:%a %H:%M} UTC ---")
    nudge = await world.expect(ana_chat, "small reminder", after=mark)
    assert "put my phone away at dinner" in (nudge.text or "")
    assert "Sorry, this comes late" not in (nudge.text or "")

    now = world.bot.clock.now()
    mark = world.last_id(ana_chat)
    ask_at = _next_local(now, time(21, 0))
    world.advance(ask_at - now + timedelta(seconds=5))
    world.transcript.append(f"--- clock moved to {ask_at:%a %H:%M} UTC ---")
    question = await world.expect(ana_chat, "How did", after=mark)
    assert [b["text"] for b in question.buttons] == ["Kept", "Not this time", "Change it"]

    ben_mark = world.last_id(ben_chat)
    await world.press(world.ana, question, "Kept")
    told = await world.expect(ben_chat, "Ana kept a promise", after=ben_mark)
    # Ana sees her answer in place of the question.
    edited = await _edited(world, question, "kept 1 of 1")
    world.transcript.append(f"[private Ana] Mend (question edited): {edited}")

    # A clean restart before Ben answers: his button still works.
    assert await world.bot.stop() == 0
    world.transcript.append("--- bot process stopped (SIGTERM) and started again ---")
    await world.bot.start()

    # Ana cannot press Ben's button for him.
    answer = await world.press_data(world.ana, told, world.sandbox.button(told, "I noticed"))
    assert "for Ben" in str(answer.get("text"))
    world.transcript.append(
        f"[private Ben] Ana taps Ben's [I noticed] (forged press)\n"
        f"  (to Ana only: {answer.get('text')})"
    )

    ana_mark = world.last_id(ana_chat)
    await world.press(world.ben, told, "I noticed")
    await world.expect(ana_chat, "Ben noticed that you kept", after=ana_mark)

    mark = world.last_id(group)
    await world.say(world.ana, group, "/promises")
    listed = await world.expect(group, "Promises going", after=mark)
    assert "#1 Ana: “put my phone away at dinner”, every day" in (listed.text or "")
    assert "kept 1 of 1" in (listed.text or "")

    # No clear time: Ben picks one with a button (the "when?" handler with the configured cap).
    mark = world.last_id(group)
    await world.say(world.ben, group, "/promise plan a walk for us soon")
    asked = await world.expect(group, "when will you do it?", after=mark)
    await world.press(world.ben, asked, "Tomorrow")
    await _edited(world, asked, "Promise #2 to Ana")

    print("\n--- transcript ---\n" + "\n".join(world.transcript))
