"""/thanks: a note of appreciation, delivered privately or in the group, counted together."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, select

from bot.texts import render
from flows import buttons, checkin, inputs, onboarding
from flows.couples import Actor
from flows.outcome import Effect, ToChat, ToGroup, ToPartner
from flows.thanks import MAX_WHAT, Thanks, count_recent, thanks
from tests.helpers import (
    ANA_ID,
    BEN_ID,
    GROUP_ID,
    STRANGER_ID,
    T0,
    all_text,
    button_data,
    in_group,
    in_private,
    keys,
    make_couple,
    sends,
    shown,
)

ANA = in_private(ANA_ID, "Ana")


def _press(session: Session, actor: Actor, note: Thanks, action: str) -> list[Effect]:
    return list(buttons.handle_press(session, actor, buttons.data("ty", note.id or 0, action), T0))


def _note(session: Session) -> Thanks:
    return session.exec(select(Thanks)).one()


def test_thanks_shows_the_note_and_asks_where_it_should_go(session: Session) -> None:
    make_couple(session)
    effects = thanks(session, ANA, "for making breakfast", T0)
    [asked] = sends(effects)
    assert asked.to == ToChat(ANA_ID) and asked.body.key == "thanks.where"
    assert '"for making breakfast"' in shown(asked.body)
    note = _note(session)
    assert (note.state, note.what) == ("draft", "for making breakfast")
    assert button_data(asked) == [buttons.data("ty", note.id or 0, a) for a in ("p", "g", "x")]


def test_sent_privately_it_reaches_only_the_partners_private_chat(session: Session) -> None:
    _couple, _ana, ben = make_couple(session)
    thanks(session, ANA, "for making breakfast", T0)
    effects = _press(session, ANA, _note(session), "p")
    [delivered] = sends(effects)
    assert delivered.to == ToPartner(ben.id or 0)
    assert shown(delivered.body) == 'A note from Ana: thank you "for making breakfast".'
    assert keys(effects)[0] == "thanks.sent_private"
    assert (_note(session).state, _note(session).shown_in) == ("sent", "private")


def test_shared_in_the_group_when_the_author_chooses(session: Session) -> None:
    couple, _ana, _ben = make_couple(session)
    thanks(session, in_group(ANA_ID, "Ana"), "for picking me up", T0)
    effects = _press(session, in_group(ANA_ID, "Ana"), _note(session), "g")
    [delivered] = sends(effects)
    assert delivered.to == ToGroup(couple.id or 0)
    assert "Ana wants to thank Ben" in shown(delivered.body)
    assert _note(session).shown_in == "group"


def test_only_the_author_can_send_it_and_only_once(session: Session) -> None:
    make_couple(session)
    thanks(session, ANA, "for the flowers", T0)
    note = _note(session)
    for someone in (in_private(BEN_ID), in_group(BEN_ID)):
        assert keys(_press(session, someone, note, "p")) == ["common.button_expired"]
    assert keys(_press(session, in_group(STRANGER_ID), note, "p")) == ["common.button_for_couple"]
    assert note.state == "draft"
    _press(session, ANA, note, "p")
    again = _press(session, ANA, note, "g")
    assert keys(again) == ["common.button_expired"] and sends(again) == []


def test_not_now_drops_the_note_and_sends_nothing(session: Session) -> None:
    make_couple(session)
    thanks(session, ANA, "for the flowers", T0)
    effects = _press(session, ANA, _note(session), "x")
    assert keys(effects) == ["thanks.dropped"] and sends(effects) == []
    assert (_note(session).state, _note(session).what) == ("dropped", None)


def test_bare_thanks_asks_what_for_and_the_reply_becomes_the_note(session: Session) -> None:
    _couple, ana, _ben = make_couple(session)
    [prompt] = sends(thanks(session, ANA, "", T0))
    assert prompt.body.key == "thanks.ask_what" and prompt.force_reply
    assert "What would you like to thank Ben for?" in shown(prompt.body)
    assert session.exec(select(Thanks)).first() is None
    said = inputs.Said("for listening last night", prompt.tag)
    effects = inputs.handle_text(session, ANA, said, T0)
    assert keys(effects) == ["thanks.where"]
    assert _note(session).what == "for listening last night"
    # Someone else replying to Ana's prompt changes nothing.
    other = inputs.handle_text(session, in_group(BEN_ID), inputs.Said("hi", prompt.tag), T0)
    assert other == [] and len(session.exec(select(Thanks)).all()) == 1
    assert prompt.tag == f"thanks:{ana.id}"
    # Once the note is written, the next private message is not another note.
    [choice] = sends(effects)
    latest_tag_in_chat = choice.tag or prompt.tag  # what the shell passes for plain text
    later = inputs.handle_text(session, ANA, inputs.Said("good night", latest_tag_in_chat), T0)
    assert keys(later) == ["common.private_only_me"]
    assert len(session.exec(select(Thanks)).all()) == 1


def test_a_note_too_long_is_refused_kindly_and_nothing_is_kept(session: Session) -> None:
    make_couple(session)
    effects = thanks(session, ANA, "x" * (MAX_WHAT + 1), T0)
    assert keys(effects) == ["common.too_long"]
    assert session.exec(select(Thanks)).first() is None


def test_thanks_needs_a_formed_couple(session: Session) -> None:
    assert keys(thanks(session, ANA, "for breakfast", T0)) == ["common.no_couple_private"]
    make_couple(session)
    assert keys(thanks(session, in_group(STRANGER_ID), "x", T0)) == ["common.only_partners"]


def test_checkins_counts_thanks_for_the_couple_never_per_partner(session: Session) -> None:
    couple, _ana, _ben = make_couple(session)
    for actor, what in (
        (ANA, "for breakfast"),
        (ANA, "for the walk"),
        (in_private(BEN_ID), "for waiting"),
    ):
        thanks(session, actor, what, T0)
        (note,) = [t for t in session.exec(select(Thanks)).all() if t.what == what]
        _press(session, actor, note, "p")
    thanks(session, ANA, "still a draft", T0)  # not sent: not counted
    assert count_recent(session, couple.id or 0, T0) == 3
    text = all_text(checkin.history(session, in_group(ANA_ID), "", T0 + timedelta(days=1)))
    assert "Thanks shared in the last four weeks: 3." in text
    for per_person in ("Ana: 2", "Ben: 1", "Ana 2", "Ana thanked", "Ben thanked"):
        assert per_person not in text
    assert count_recent(session, couple.id or 0, T0 + timedelta(weeks=5)) == 0


def test_checkins_says_nothing_of_thanks_when_there_are_none(session: Session) -> None:
    make_couple(session)
    effects = checkin.history(session, in_group(ANA_ID), "", T0)
    assert keys(effects) == ["checkin.history_empty"]
    assert "Thanks" not in render(sends(effects)[0].body)


def test_leaving_drops_unsent_drafts(session: Session) -> None:
    _couple, ana, _ben = make_couple(session)
    thanks(session, ANA, "for the coffee", T0)
    buttons.handle_press(session, ANA, buttons.data(onboarding.LEAVE, ana.id or 0, "yes"), T0)
    assert (_note(session).state, _note(session).what) == ("dropped", None)


def test_in_the_group_the_choice_is_answered_where_the_command_came_from(session: Session) -> None:
    make_couple(session)
    [asked] = sends(thanks(session, in_group(ANA_ID, "Ana"), "for dinner", T0))
    assert asked.to == ToChat(GROUP_ID)
