"""A German-speaking couple meets Mend: onboarding, a pause, promises and a check-in, all
in German, typed the way German speakers type times ("zwei Stunden", "morgen",
"täglich", "So 19:00", "Sonntagabend"). One of them then switches to English."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sandbox import SimMessage
from tests.e2e.harness import Scene

pytestmark = pytest.mark.e2e

ANA_SAYS = (
    "der Streit ums Aufräumen",
    "ich war am Dienstag kurz angebunden",
    "unser Spaziergang am Fluss",
    "Handys weg beim Essen",
)
BEN_SAYS = (
    "der Besuch meiner Schwester",
    "ich habe nicht zurückgeschrieben",
    "zusammen kochen",
    "vorher fragen, bevor ich plane",
)


def _text(message: SimMessage) -> str:
    return message.text or ""


async def _onboard_in_german(world: Scene) -> None:
    group = world.group
    world.sandbox.add_bot_to_group(group, by=world.ana)
    await world.expect(group, "Hallo, ich bin Mend")
    mark = world.last_id(group)
    await world.say(world.ana, group, "/start")
    invite = await world.expect(group, "Ich bin dabei", after=mark)
    assert "nie eure Unterhaltung" in _text(invite)
    answer = await world.press(world.ana, invite, "Ich bin dabei")
    assert answer.get("text") == "Du bist dabei."
    await world.expect(group, "Ana ist dabei", after=mark)
    await world.press(world.ben, invite, "Ich bin dabei")
    formed = await world.expect(group, "ihr seid startklar", after=mark)
    link = next(b["url"] for b in formed.buttons if "url" in b)
    assert any(b.get("text") == "Meinen privaten Chat öffnen" for b in formed.buttons)
    payload = str(link).split("start=", 1)[1]
    for user in (world.ana, world.ben):
        chat = world.private(user)
        await world.say(user, chat, f"/start {payload}")
        await world.expect(chat, "ist jetzt mit „Ana & Ben“ verbunden")
    mark = world.last_id(group)
    await world.say(world.ana, group, "/timezone Berlin")
    await world.expect(group, "Zeitzone ist jetzt Europe/Berlin", after=mark)


async def _pause_in_german(world: Scene) -> None:
    group = world.group
    ana_chat, ben_chat = world.private(world.ana), world.private(world.ben)
    mark = world.last_id(group)
    await world.say(world.ana, group, "/pause zwei Stunden")
    asked = await world.expect(group, "Ana braucht eine Pause, zwei Stunden lang", after=mark)
    assert "Ben: Passt dir diese Zeit" in _text(asked)
    await world.press(world.ben, asked, "Ja, passt")
    await world.expect(group, "Ben ist einverstanden", after=mark)

    ana_mark, ben_mark = world.last_id(ana_chat), world.last_id(ben_chat)
    world.advance(timedelta(hours=2, minutes=1))
    ana_ask = await world.expect(
        ana_chat, "Bereit, wieder aufeinander zuzugehen?", after=ana_mark, timeout=60
    )
    ben_ask = await world.expect(
        ben_chat, "Bereit, wieder aufeinander zuzugehen?", after=ben_mark, timeout=60
    )
    mark = world.last_id(group)
    await world.press(world.ana, ana_ask, "Ich bin bereit")
    await world.press(world.ben, ben_ask, "Ich bin bereit")
    await world.expect(group, "Ihr seid beide zurück", after=mark, timeout=60)


async def _promises_in_german(world: Scene) -> None:
    group, ana_chat, ben_chat = world.group, world.private(world.ana), world.private(world.ben)
    ana_mark, ben_mark = world.last_id(ana_chat), world.last_id(ben_chat)
    await world.say(world.ana, ana_chat, "/promise morgen einen Spaziergang planen")
    made = await world.expect(ana_chat, "Versprechen Nr. 1 an Ben", after=ana_mark)
    assert "„einen Spaziergang planen“" in _text(made)
    assert "Erste Erinnerung: morgen um 09:00." in _text(made)
    await world.expect(ben_chat, "Ana hat dir ein kleines Versprechen gegeben", after=ben_mark)
    mark = world.last_id(group)
    await world.say(world.ben, group, "/promise Handy weg beim Essen, täglich")
    daily = await world.expect(group, "Versprechen Nr. 2 an Ana", after=mark)
    assert "„Handy weg beim Essen“, jeden Tag" in _text(daily)


async def _checkin_in_german(world: Scene) -> None:
    group, ana_chat, ben_chat = world.group, world.private(world.ana), world.private(world.ben)
    mark = world.last_id(group)
    await world.say(world.ben, group, "/checkin So 19:00")
    await world.expect(group, "auf sonntags um 19:00 verschoben", after=mark)

    # "Sonntagabend": the exact hour is a tap away.
    ana_mark = world.last_id(ana_chat)
    await world.say(world.ana, ana_chat, "/checkin Sonntagabend")
    offer = await world.expect(ana_chat, "Um wie viel Uhr", after=ana_mark)
    assert [b.get("text") for b in offer.buttons] == [
        "sonntags um 18:00",
        "sonntags um 19:00",
        "sonntags um 20:00",
    ]
    await world.press(world.ana, offer, "20:00")
    await world.expect(group, "auf sonntags um 20:00 verschoben", after=mark)

    mark, ana_mark, ben_mark = (
        world.last_id(group),
        world.last_id(ana_chat),
        world.last_id(ben_chat),
    )
    await world.say(world.ana, group, "/checkin jetzt")
    opening = await world.expect(group, "Zeit für euer wöchentliches Check-in", after=mark)
    assert any(b.get("text") == "Morgen, gleiche Zeit" for b in opening.buttons)
    for user, chat, chat_mark, says in (
        (world.ana, ana_chat, ana_mark, ANA_SAYS),
        (world.ben, ben_chat, ben_mark, BEN_SAYS),
    ):
        await world.expect(chat, "Frage 1 von 4", after=chat_mark)
        for number, said in enumerate(says, start=1):
            step = world.last_id(chat)
            await world.say(user, chat, said)
            if number < 4:
                await world.expect(chat, f"Frage {number + 1} von 4", after=step)
    revealed = await world.expect(group, "Ihr habt beide geantwortet", after=mark)
    for hers, his in zip(ANA_SAYS, BEN_SAYS, strict=True):
        assert f"Ana: {hers}" in _text(revealed) and f"Ben: {his}" in _text(revealed)


def _speaking_german(world: Scene) -> Scene:
    world.ana.language_code = "de"
    world.ben.language_code = "de-AT"
    return world


# Three scenes, each with its own bot and group: a group hears at most 20 messages a minute,
# so one long story would spend most of its time waiting on that limit.


async def test_a_german_couple_is_onboarded_and_takes_a_pause_in_german(
    sqlite_world: Scene,
) -> None:
    world = _speaking_german(sqlite_world)
    await _onboard_in_german(world)
    await _pause_in_german(world)

    # The command menus were registered in German too.
    menu = world.sandbox.get_commands({"type": "all_group_chats"}, "de")
    assert {
        "command": "pause",
        "description": "Eine Pause machen und ausmachen, wann ihr zurückkommt",
    } in menu
    private_menu = world.sandbox.get_commands({"type": "all_private_chats"}, "de")
    english_menu = world.sandbox.get_commands({"type": "all_private_chats"})
    assert [c["command"] for c in private_menu] == [c["command"] for c in english_menu]
    assert {"command": "safety", "description": "Wenn du dich nicht sicher fühlst"} in private_menu
    assert "Paaren" in world.sandbox.descriptions["de"]


async def test_german_promises_and_one_partner_switching_to_english(sqlite_world: Scene) -> None:
    world = _speaking_german(sqlite_world)
    await _onboard_in_german(world)
    await _promises_in_german(world)

    # Ben would rather read Mend in English; the group stays German.
    ben_chat = world.private(world.ben)
    mark = world.last_id(ben_chat)
    await world.say(world.ben, ben_chat, "/language")
    choose = await world.expect(ben_chat, "In welcher Sprache", after=mark)
    assert [b.get("text") for b in choose.buttons] == ["English", "Deutsch"]
    await world.press(world.ben, choose, "English")
    await world.expect(ben_chat, "I'll write to you in English", after=mark)
    mark = world.last_id(ben_chat)
    await world.say(world.ben, ben_chat, "/promises")
    await world.expect(ben_chat, "Promises going", after=mark)
    group_mark = world.last_id(world.group)
    await world.say(world.ana, world.group, "/promise")
    await world.expect(world.group, "Ana, was möchtest du versprechen?", after=group_mark)


async def test_a_german_check_in_moved_answered_and_counted(sqlite_world: Scene) -> None:
    world = _speaking_german(sqlite_world)
    await _onboard_in_german(world)
    await _checkin_in_german(world)
    group_mark = world.last_id(world.group)
    await world.say(world.ana, world.group, "/checkins")
    history = await world.expect(world.group, "Eure letzten Check-ins", after=group_mark)
    assert "Serie: 1 Woche geschafft" in _text(history)
