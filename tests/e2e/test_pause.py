"""The real bot process runs a pause: asked, agreed, the return time, both ready, ended;
and a pause that outlives a restart of the bot."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest

from sandbox import SimMessage
from tests.e2e.harness import Scene, form_couple

pytestmark = pytest.mark.e2e


def _save_transcript(scene: Scene, name: str) -> None:
    """Kept for the issue note: MEND_TRANSCRIPTS=<dir> writes what each partner saw."""
    folder = os.environ.get("MEND_TRANSCRIPTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / f"{name}.txt").write_text("\n".join(scene.transcript) + "\n")


async def _pause_agreed(world: Scene) -> SimMessage:
    """Ana asks for an hour, Ben agrees; returns the group's announcement."""
    group = world.group
    mark = world.last_id(group)
    await world.say(world.ana, group, "/pause 60")
    asked = await world.expect(group, "Ana asked for a break of an hour", after=mark)
    assert "rehearse the argument" in (asked.text or "")
    # Only Ben's agreement counts.
    answer = await world.press(world.ana, asked, "OK, that works")
    assert "for Ben to answer" in str(answer.get("text"))
    await world.press(world.ben, asked, "OK, that works")
    await world.expect(group, "Ben agreed. See you both back at", after=mark)
    return asked


async def _both_come_back(world: Scene, until_return: timedelta) -> None:
    """Time moves just past the return time; both are asked and both tap "I'm ready"."""
    ana_chat, ben_chat = world.private(world.ana), world.private(world.ben)
    ana_mark, ben_mark = world.last_id(ana_chat), world.last_id(ben_chat)
    world.advance(until_return + timedelta(minutes=1))
    ana_ask = await world.expect(ana_chat, "Ready to come back", after=ana_mark)
    ben_ask = await world.expect(ben_chat, "Ready to come back", after=ben_mark)
    stale = world.sandbox.button(ben_ask, "I need 20 more minutes")
    mark = world.last_id(world.group)
    await world.press(world.ana, ana_ask, "I'm ready")
    # Her question turns into a quiet confirmation; nothing is said to Ben yet.
    await world.expect(ana_chat, "as soon as Ben is too", after=ana_mark)
    await world.press(world.ben, ben_ask, "I'm ready")
    back = await world.expect(world.group, "You're both back", after=mark)
    assert "/repair" in (back.text or "")
    # Ana, who was waiting, hears privately that Ben is back too.
    await world.expect(ana_chat, "Ben is back too", after=ana_mark)
    # Asked once each, even across a restart: the question (since edited into its
    # confirmation) and no second question.
    for chat, chat_mark in ((ana_chat, ana_mark), (ben_chat, ben_mark)):
        since = [m for m in world.sandbox.bot_messages(chat) if m.message_id > chat_mark]
        assert (
            sum(
                "Ready to come back" in (m.text or "")
                or "You're ready" in (m.text or "")
                or "You're both ready" in (m.text or "")
                for m in since
            )
            == 1
        ), [m.text for m in since]
    # The pause is over: the old button, pressed anyway, changes nothing.
    answer = await world.press_data(world.ben, ben_ask, stale)
    assert "done its job" in str(answer.get("text"))


async def test_pause_agreed_returned_and_ended_by_both_being_ready(world: Scene) -> None:
    await form_couple(world)
    world.transcript.clear()
    await _pause_agreed(world)

    # A second /pause shows the one that is on instead of starting another.
    mark = world.last_id(world.group)
    await world.say(world.ben, world.group, "/pause 30")
    await world.expect(world.group, "A break is on: Ana asked for it", after=mark)

    await _both_come_back(world, timedelta(minutes=60))

    mark = world.last_id(world.group)
    await world.say(world.ben, world.group, "/pauses")
    history = await world.expect(world.group, "Recent breaks", after=mark)
    assert "came back on time" in (history.text or "")
    _save_transcript(world, "pause_e2e")


async def test_pause_outlives_a_restart_of_the_bot(world: Scene) -> None:
    await form_couple(world)
    world.transcript.clear()
    await _pause_agreed(world)

    # The process dies mid-pause, with no chance to tidy up.
    await world.bot.kill()
    world.transcript.append("--- the bot process is killed; 20 minutes pass; it starts again ---")
    world.advance(timedelta(minutes=20))
    await world.bot.start()

    mark = world.last_id(world.group)
    await world.say(world.ana, world.group, "/pause")
    state = await world.expect(world.group, "A break is on", after=mark)
    assert "The return time is agreed" in (state.text or "")

    await _both_come_back(world, timedelta(minutes=40))
    _save_transcript(world, "pause_e2e_restart")
