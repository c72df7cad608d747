"""/safety: resources only ever in the asking person's private chat."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from sqlmodel import Session, select

from bot.delivery.models import Outbox
from bot.delivery.outbox import persist
from bot.texts import catalogue, languages, render_keyboard
from flows import onboarding, safety
from flows.couples import Actor
from flows.inputs import Said, handle_text
from flows.outcome import Send, ToChat
from tests.helpers import (
    ANA_ID,
    GROUP_ID,
    STRANGER_ID,
    T0,
    all_text,
    in_group,
    in_private,
    keys,
    make_couple,
)

HOTLINES = ("1-800-799-7233", "1-866-331-9474")


def test_safety_in_private_gives_the_resources_and_how_to_leave_quietly(session: Session) -> None:
    effects = safety.safety(session, in_private(ANA_ID, "Ana"), "", T0)
    assert keys(effects) == ["safety.resources"]
    shown = all_text(effects)
    for number in HOTLINES:
        assert number in shown
    assert "National Domestic Violence Hotline" in shown and "love is respect" in shown
    assert "local emergency number" in shown
    assert "isn't something to repair together" in shown
    # The emergency number comes first, before anything else.
    first_lines = shown.split("\n")[:3]
    assert "911" in first_lines[1] and "112" in first_lines[2]
    assert "text START to 88788" in shown and "text LOVEIS to 22522" in shown
    assert (
        "Outside the United States: your local emergency services and your local "
        "domestic-violence services"
    ) in shown
    assert "couples counsellor" in shown
    assert "/forget" in shown and "Removing me from the group" in shown


def test_safety_works_for_someone_who_has_no_couple(session: Session) -> None:
    effects = safety.safety(session, in_private(STRANGER_ID), "", T0)
    assert keys(effects) == ["safety.resources"]


def test_safety_in_a_group_answers_with_one_neutral_line_only(session: Session) -> None:
    effects = safety.safety(session, in_group(ANA_ID, "Ana"), "", T0)
    assert keys(effects) == ["safety.in_group"]
    assert effects[0] == Send(
        ToChat(GROUP_ID),
        effects[0].body,  # type: ignore[union-attr]
        buttons=effects[0].buttons,
    )  # type: ignore[union-attr]
    shown = all_text(effects)
    assert not any(number in shown for number in HOTLINES)
    assert "hotline" not in shown.lower() and "violence" not in shown.lower()
    # Nothing in the group repeats what was asked for.
    assert "safety" not in shown.lower() and "/safety" not in shown


def test_the_group_button_opens_the_resources_directly(session: Session) -> None:
    (pointer,) = safety.safety(session, in_group(ANA_ID, "Ana"), "", T0)
    assert isinstance(pointer, Send)
    (link,) = render_keyboard(pointer.buttons)[0]
    assert link["url"].endswith("?start=safety")
    opened = onboarding.start(session, in_private(ANA_ID, "Ana"), "safety", "UTC", T0)
    assert keys(opened) == ["safety.resources"]
    assert opened[0] == Send(ToChat(ANA_ID), opened[0].body)  # type: ignore[union-attr]
    # Someone with no couple yet gets them the same way.
    assert keys(onboarding.start(session, in_private(STRANGER_ID), "safety", "UTC", T0)) == [
        "safety.resources"
    ]


def test_in_a_group_with_the_private_chat_open_the_resources_go_there_and_nothing_to_the_group(
    session: Session,
) -> None:
    make_couple(session)  # both have opened the private chat
    effects = safety.safety(session, in_group(ANA_ID, "Ana"), "", T0)
    assert keys(effects) == ["safety.resources"]
    assert [effect.to for effect in effects] == [ToChat(ANA_ID)]  # type: ignore[union-attr]
    persist(session, effects, T0, claim=False)
    assert session.exec(select(Outbox).where(Outbox.chat_id == GROUP_ID)).all() == []


def test_a_blocked_private_chat_gets_the_neutral_pointer_instead(session: Session) -> None:
    _couple, ana, _ben = make_couple(session)
    ana.private_blocked = True
    session.add(ana)
    assert keys(safety.safety(session, in_group(ANA_ID, "Ana"), "", T0)) == ["safety.in_group"]


def test_a_couple_in_germany_also_gets_the_german_national_line(session: Session) -> None:
    make_couple(session, zone="Europe/Berlin")
    shown = all_text(safety.safety(session, in_private(ANA_ID, "Ana"), "", T0))
    assert "Hilfetelefon Gewalt gegen Frauen" in shown and "116 016" in shown
    elsewhere = all_text(safety.safety(session, in_private(STRANGER_ID), "", T0))
    assert "116 016" not in elsewhere


def test_every_number_has_its_source_and_is_what_safety_shows() -> None:
    with safety.LINES_FILE.open("rb") as handle:
        raw = tomllib.load(handle)
    entries = [entry for kind in ("emergency", "line", "country") for entry in raw[kind]]
    assert len(entries) >= 5
    for entry in entries:
        assert str(entry["source"]).startswith("https://"), entry
    known = safety.safety_lines()
    assert [item.number for item in known.emergency] == ["911", "112"]
    assert {line.call for line in known.lines} == set(HOTLINES)


def test_an_unexpected_private_message_gets_a_warm_answer_that_mentions_safety(
    session: Session,
) -> None:
    make_couple(session)
    effects = handle_text(session, in_private(ANA_ID, "Ana"), Said("I'm scared"), T0)
    shown = all_text(effects)
    assert "/safety" in shown and "I only read commands" not in shown


@pytest.mark.parametrize("chat_type", ["group", "supergroup", "private"])
def test_the_safety_text_can_never_target_a_group(session: Session, chat_type: str) -> None:
    # Whatever the update looks like (even a "private" update with a group's chat id),
    # the resources go to the person's own user id, never to a group chat.
    actor = Actor(user_id=ANA_ID, first_name="Ana", chat_id=GROUP_ID, chat_type=chat_type)
    effects = safety.safety(session, actor, "", T0)
    for effect in effects:
        assert isinstance(effect, Send)
        if effect.body.key == "safety.resources":
            assert effect.to == ToChat(ANA_ID)
        else:
            assert not any(number in all_text([effect]) for number in HOTLINES)
    # And as the runtime stores it: no outbox row for the group carries a hotline.
    persist(session, effects, T0, claim=False)
    for row in session.exec(select(Outbox)):
        if any(number in row.body for number in HOTLINES):
            assert row.chat_id == ANA_ID
        assert row.chat_id != GROUP_ID or "799-7233" not in row.body
    assert safety.resources_for(session, actor).to == ToChat(ANA_ID)


@pytest.mark.parametrize("language", languages())
def test_no_catalogue_text_carries_a_hotline(language: str) -> None:
    """The numbers live only in flows/safety_lines.toml, filled into the resources message,
    which is only ever addressed to the asking person (above): no other text can carry them
    into a group."""
    carrying = sorted(
        key
        for key, value in catalogue(language).items()
        if any(number in value for number in HOTLINES)
    )
    assert carrying == []
    lines = (Path(safety.__file__).parent / "safety_lines.toml").read_text()
    assert all(number in lines for number in HOTLINES)


def test_help_in_private_mentions_safety(session: Session) -> None:
    effects = onboarding.show_help(session, in_private(ANA_ID), "", T0)
    assert "/safety" in all_text(effects)
