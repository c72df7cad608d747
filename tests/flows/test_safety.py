"""/safety: resources only ever in the asking person's private chat."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from bot.runtime import persist
from bot.texts import catalogue, languages
from flows import onboarding, safety
from flows.couples import Actor
from flows.models import Outbox
from flows.outcome import Send, ToChat
from tests.helpers import ANA_ID, GROUP_ID, STRANGER_ID, T0, all_text, in_group, in_private, keys

HOTLINES = ("1-800-799-7233", "1-866-331-9474")


def test_safety_in_private_gives_the_resources_and_how_to_leave_quietly(
        session: Session) -> None:
    effects = safety.safety(session, in_private(ANA_ID, "Ana"), "", T0)
    assert keys(effects) == ["safety.resources"]
    shown = all_text(effects)
    for number in HOTLINES:
        assert number in shown
    assert "National Domestic Violence Hotline" in shown and "love is respect" in shown
    assert "local emergency number" in shown
    assert "isn't something to repair together" in shown
    assert "/forget" in shown and "Removing me from the group" in shown


def test_safety_works_for_someone_who_has_no_couple(session: Session) -> None:
    effects = safety.safety(session, in_private(STRANGER_ID), "", T0)
    assert keys(effects) == ["safety.resources"]


def test_safety_in_a_group_answers_with_one_neutral_line_only(session: Session) -> None:
    effects = safety.safety(session, in_group(ANA_ID, "Ana"), "", T0)
    assert keys(effects) == ["safety.in_group"]
    assert effects[0] == Send(ToChat(GROUP_ID), effects[0].body,  # type: ignore[union-attr]
                              buttons=effects[0].buttons)  # type: ignore[union-attr]
    shown = all_text(effects)
    assert not any(number in shown for number in HOTLINES)
    assert "hotline" not in shown.lower() and "violence" not in shown.lower()


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
    assert safety.resources_for(actor).to == ToChat(ANA_ID)


@pytest.mark.parametrize("language", languages())
def test_no_text_but_the_resources_carries_a_hotline(language: str) -> None:
    """The numbers live in one catalogue entry, and that entry is only ever addressed to the
    asking person (above): no other message can carry them into a group."""
    carrying = sorted(key for key, value in catalogue(language).items()
                      if any(number in value for number in HOTLINES))
    assert carrying == ["safety.resources"]


def test_help_in_private_mentions_safety(session: Session) -> None:
    effects = onboarding.show_help(session, in_private(ANA_ID), "", T0)
    assert "/safety" in all_text(effects)
