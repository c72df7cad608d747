"""A check-in's finished steps tidy up: "Change 1–4" at the reveal, "Not tonight" once it
has started, a question's "Skip" once it is answered (issue 16, section 3)."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, col, select

from bot.delivery.models import Outbox
from bot.texts import render
from flows import buttons, checkin
from flows.models import Partner
from flows.outcome import EditTagged, Effects, Send, ToGroup, ToPartner, tidy_tag
from tests.flows.checkin.test_checkin import (
    ANA_SAYS,
    BEN_SAYS,
    ana_answers_all,
    answer_privately,
    fire,
    pending,
    press,
    start_now,
    the_checkin,
)
from tests.helpers import ANA_ID, BEN_ID, T0, make_couple, sends


def tidied(effects: Effects) -> list[EditTagged]:
    return [effect for effect in effects if isinstance(effect, EditTagged)]


def tagged(session: Session, tag: str) -> list[Outbox]:
    query = select(Outbox).where(Outbox.tag == tag).order_by(col(Outbox.id))
    return list(session.exec(query))


def waiting_tag(checkin_id: int, partner: Partner) -> str:
    return tidy_tag("checkin.waiting", checkin_id, partner.id or 0)


def test_the_reveal_takes_the_change_buttons_off_both_partners_messages(
    session: Session,
) -> None:
    couple, ana, ben = make_couple(session)
    start_now(session)
    done = ana_answers_all(session)
    (thanks,) = [s for s in sends(done) if s.body.key == "checkin.thanks_waiting"]
    checkin_id = the_checkin(session).id or 0
    assert thanks.tag == waiting_tag(checkin_id, ana) and thanks.buttons

    revealed: Effects = []
    for said in BEN_SAYS:
        revealed = answer_privately(session, BEN_ID, said)
    assert the_checkin(session).state == checkin.CheckinState.DONE
    by_tag = {(edit.to, edit.tag): edit for edit in tidied(revealed)}
    for partner in (ana, ben):
        edit = by_tag[(ToPartner(partner.id or 0), waiting_tag(checkin_id, partner))]
        assert edit.buttons == () and edit.body is not None
        assert render(edit.body) == "Your answers are in. This week's check-in: done."
    opening = by_tag[(ToGroup(couple.id or 0), tidy_tag("checkin.opening", checkin_id))]
    assert opening.body is not None and render(opening.body) == "This week's check-in: done."
    # Ana's message had not gone out yet here: it goes out already as one line, no buttons.
    (row,) = tagged(session, waiting_tag(checkin_id, ana))
    assert row.markup is None
    assert row.body == "Your answers are in. This week's check-in: done."


def test_the_48_hour_close_tidies_the_change_buttons_and_the_question_left_open(
    session: Session,
) -> None:
    _couple, ana, ben = make_couple(session)
    start_now(session)
    ana_answers_all(session)
    checkin_id = the_checkin(session).id or 0
    closed = fire(session, checkin.CLOSE_KIND, T0 + timedelta(hours=48))
    assert the_checkin(session).state == checkin.CheckinState.HELD
    edits = {(edit.to, edit.tag): edit for edit in tidied(closed)}
    ana_line = edits[(ToPartner(ana.id or 0), waiting_tag(checkin_id, ana))]
    assert ana_line.body is not None
    assert render(ana_line.body) == (
        "Your answers are in. This week's check-in: partly (closed before both answered)."
    )
    # Ben never answered: his first question loses its "Skip this question" button.
    bens_question = edits[(ToPartner(ben.id or 0), f"checkin:{checkin_id}:{ben.id}:1")]
    assert bens_question.body is None and bens_question.buttons == ()
    (row,) = tagged(session, f"checkin:{checkin_id}:{ben.id}:1")
    assert row.markup is None


def test_the_first_answer_turns_not_tonight_into_one_line(session: Session) -> None:
    couple, _ana, _ben = make_couple(session)
    opened = start_now(session)
    checkin_id = the_checkin(session).id or 0
    (opening,) = [s for s in sends(opened) if s.body.key == "checkin.opening"]
    assert opening.tag == tidy_tag("checkin.opening", checkin_id)
    first = answer_privately(session, ANA_ID, ANA_SAYS[0])
    (edit,) = [e for e in tidied(first) if e.to == ToGroup(couple.id or 0)]
    assert edit.body is not None and edit.body.key == "checkin.opening_started"
    assert edit.buttons == ()
    second = answer_privately(session, BEN_ID, BEN_SAYS[0])
    assert not [e for e in tidied(second) if e.to == ToGroup(couple.id or 0)]
    (row,) = tagged(session, tidy_tag("checkin.opening", checkin_id))
    assert row.markup is None and "has started" in row.body


def test_a_resumed_checkin_tidies_yesterdays_opening_before_its_own(session: Session) -> None:
    couple, ana, _ben = make_couple(session)
    start_now(session)
    checkin_id = the_checkin(session).id or 0
    press(session, BEN_ID, buttons.data("ci", checkin_id, "snooze"))
    (resume,) = pending(session, checkin.RESUME)
    back = fire(session, checkin.RESUME, resume.due_at)
    opening_tag = tidy_tag("checkin.opening", checkin_id)
    order = [
        "tidy" if isinstance(effect, EditTagged) else effect.body.key
        for effect in back
        if isinstance(effect, EditTagged | Send) and effect.to == ToGroup(couple.id or 0)
    ]
    assert order == ["tidy", "checkin.opening_again"]
    old, new = tagged(session, opening_tag)
    assert old.markup is None and old.body == "This week's check-in: moved to the next day."
    assert new.markup is not None and "Skip this week" in new.markup
    # Each partner's question is asked again; only the new copy keeps "Skip this question".
    asked_before, asked_again = tagged(session, f"checkin:{checkin_id}:{ana.id}:1")
    assert asked_before.markup is None
    assert asked_again.markup is not None and "Skip" in asked_again.markup


def test_a_typed_answer_takes_the_skip_button_off_its_question(session: Session) -> None:
    _couple, ana, _ben = make_couple(session)
    start_now(session)
    checkin_id = the_checkin(session).id or 0
    answered = answer_privately(session, ANA_ID, ANA_SAYS[0])
    question_1 = f"checkin:{checkin_id}:{ana.id}:1"
    assert EditTagged(ToPartner(ana.id or 0), question_1) in answered
    (first,) = tagged(session, question_1)
    (second,) = tagged(session, f"checkin:{checkin_id}:{ana.id}:2")
    assert first.markup is None
    assert second.markup is not None and "Skip" in second.markup


def test_a_step_message_after_a_question_does_not_take_its_private_answer(
    session: Session,
) -> None:
    """In private, text answers the latest question; a message tagged only to be tidied
    later (`tidy_tag`) is no question and must not stand in front of it."""
    _couple, ana, _ben = make_couple(session)
    start_now(session)
    session.add(
        Outbox(
            chat_id=ANA_ID,
            body="a step message",
            tag=tidy_tag("checkin.waiting", 99, ana.id or 0),
            created_at=T0,
        )
    )
    session.flush()
    answered = answer_privately(session, ANA_ID, ANA_SAYS[0])
    assert "Question 2 of 4" in "\n".join(render(s.body) for s in sends(answered))
