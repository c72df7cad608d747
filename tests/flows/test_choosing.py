"""A person in two couples is asked which one a private command is about."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from flows import buttons, checkin, choosing, data_rights, onboarding, pause, promises, repair
from flows.checkin import Checkin
from flows.choosing import CoupleChoice
from flows.models import Couple, Partner
from flows.outcome import EditOrigin, Send, ToChat
from flows.promises import Promise
from tests.helpers import (
    ANA_ID,
    BEN_ID,
    T0,
    button_data,
    in_group,
    in_private,
    keys,
    make_couple,
    sends,
    shown,
)

OTHER_GROUP, DAN_ID = -2002, 404
FLOWS = {
    "settings": onboarding.show_settings,
    "checkin": checkin.checkin,
    "export": data_rights.export,
    "forget": data_rights.forget,
    "repair": repair.start_repair,
    "pause": pause.pause,
    "promises": promises.list_promises,
    "promise": lambda s, a, args, now: promises.make_promise(s, a, args, now, cap=3),
}


def two_couples(session: Session) -> tuple[Couple, Couple]:
    """Ana with Ben, and Ana with Dan; the couple with Ben is the more recently active."""
    ours, _ana, _ben = make_couple(session)
    theirs, ana_there, _dan = make_couple(
        session, group_id=OTHER_GROUP, names=("Ana", "Dan"), user_ids=(ANA_ID, DAN_ID)
    )
    ana_there.last_active_at = T0 - timedelta(hours=1)
    session.add(ana_there)
    session.flush()
    return ours, theirs


def ask(session: Session, name: str, args: str = "", actor: object = None) -> list[Send]:
    flow = choosing.for_couple(name, FLOWS[name])
    return sends(flow(session, actor or in_private(ANA_ID, "Ana"), args, T0))  # type: ignore[arg-type]


def choose(session: Session, question: Send, couple: Couple, user_id: int = ANA_ID) -> list:
    data = next(d for d in button_data(question) if d.endswith(f"|{couple.id}"))
    return list(buttons.handle_press(session, in_private(user_id), data, T0))


@pytest.mark.parametrize("name", sorted(FLOWS))
def test_a_private_command_asks_which_couple_naming_partner_and_group(
    session: Session, name: str
) -> None:
    two_couples(session)
    (question,) = ask(session, name, "now" if name == "checkin" else "")
    assert question.body.key == "couples.choose" and question.to == ToChat(ANA_ID)
    labels = [shown(button.label) for row in question.buttons for button in row]
    assert labels == ["With Ben (Ana & Ben)", "With Dan (Ana & Dan)"]
    assert session.exec(select(Checkin)).all() == []  # nothing ran yet


def test_after_the_choice_the_command_continues_for_that_couple(session: Session) -> None:
    ours, theirs = two_couples(session)
    (question,) = ask(session, "checkin", "now")
    effects = choose(session, question, theirs)
    assert isinstance(effects[0], EditOrigin) and "Ana & Dan" in shown(effects[0].body)  # type: ignore[arg-type]
    started = session.exec(select(Checkin)).all()
    assert [row.couple_id for row in started] == [theirs.id]
    assert ours.id is not None


def test_what_was_typed_waits_for_the_choice(session: Session) -> None:
    _ours, theirs = two_couples(session)
    (question,) = ask(session, "promise", "call my mum on Sunday weekly")
    assert session.exec(select(Promise)).all() == []
    effects = choose(session, question, theirs)
    made = session.exec(select(Promise)).all()
    assert [(row.couple_id, row.what) for row in made] == [(theirs.id, "call my mum on Sunday")]
    assert session.exec(select(CoupleChoice)).all() == []
    # The answer in the private chat names the couple it is about.
    private = [send for send in sends(effects) if send.to == ToChat(ANA_ID)]
    assert private and all(shown(send.body).startswith("About Ana & Dan:") for send in private)


def test_the_chosen_couple_becomes_the_current_one(session: Session) -> None:
    _ours, theirs = two_couples(session)
    (question,) = ask(session, "settings")
    choose(session, question, theirs)
    there = session.exec(
        select(Partner).where(Partner.couple_id == theirs.id, Partner.user_id == ANA_ID)
    ).one()
    assert there.last_active_at == T0


def test_someone_in_one_couple_and_anyone_in_a_group_is_not_asked(session: Session) -> None:
    two_couples(session)
    assert [s.body.key for s in ask(session, "settings", actor=in_private(BEN_ID, "Ben"))] == [
        "onboarding.settings"
    ]
    assert [s.body.key for s in ask(session, "settings", actor=in_group(ANA_ID, "Ana"))] == [
        "onboarding.settings"
    ]


def test_commands_that_concern_no_couple_are_never_asked_about(session: Session) -> None:
    two_couples(session)
    assert choosing.for_couple("help", onboarding.show_help) is onboarding.show_help
    assert {"promise", "repair", "export", "forget", "checkin"} <= choosing.COUPLE_COMMANDS


def test_a_choice_button_works_once_for_its_own_person_only(session: Session) -> None:
    ours, theirs = two_couples(session)
    (question,) = ask(session, "settings")
    data = next(d for d in button_data(question) if d.endswith(f"|{theirs.id}"))
    assert keys(buttons.handle_press(session, in_private(BEN_ID), data, T0)) == [
        "common.button_expired"
    ]
    forged = data.rsplit("|", 1)[0] + "|999"
    assert keys(buttons.handle_press(session, in_private(ANA_ID), forged, T0)) == [
        "common.button_expired"
    ]
    late = T0 + choosing.CHOICE_KEPT + timedelta(minutes=1)
    assert keys(buttons.handle_press(session, in_private(ANA_ID), data, late)) == [
        "common.button_expired"
    ]
    (answer,) = sends(choose(session, question, theirs))
    assert answer.body.key == "couples.about"
    assert answer.body.values["body"].key == "onboarding.settings"
    assert keys(choose(session, question, theirs)) == ["common.button_expired"]
    assert ours.id is not None


def test_a_reply_to_one_couples_message_settles_which_couple(session: Session) -> None:
    _ours, theirs = two_couples(session)
    # The shell looked up the couple of the replied-to message (bot/delivery/chats.py).
    replying = replace(in_private(ANA_ID, "Ana"), replied_to_couple=theirs.id)
    (answer,) = ask(session, "settings", actor=replying)
    assert answer.body.key == "couples.about" and answer.body.values["title"] == "Ana & Dan"
    assert "couples.choose" not in [
        s.body.key for s in ask(session, "checkin", "now", actor=replying)
    ]
    assert [row.couple_id for row in session.exec(select(Checkin))] == [theirs.id]
    unclear = replace(in_private(ANA_ID, "Ana"), replied_to_couple=None)
    assert [s.body.key for s in ask(session, "settings", actor=unclear)] == ["couples.choose"]
