"""A break's questions lose their buttons once nobody needs to tap them any more: "is that
return time OK?" at the return time, "ready early?" and "ready to come back?" at the end."""

from __future__ import annotations

from sqlmodel import Session, col, select

from bot.delivery.models import Outbox
from bot.texts import render
from flows import pause as flow
from flows.outcome import EditTagged, Effects, ToGroup, ToPartner, tidy_tag
from tests.flows.pause.helpers import MIN, agreed_pause, fire, only_pause, press, pz, run, start
from tests.helpers import ANA_ID, BEN_ID, T0, in_group, make_couple


def tidied(effects: Effects) -> dict[tuple[object, str], EditTagged]:
    return {(effect.to, effect.tag): effect for effect in effects if isinstance(effect, EditTagged)}


def row_of(session: Session, tag: str) -> Outbox:
    rows = list(session.exec(select(Outbox).where(Outbox.tag == tag).order_by(col(Outbox.id))))
    assert rows, f"nothing sent with {tag}"
    return rows[-1]


def test_an_unanswered_return_time_question_becomes_one_line_at_the_return_time(
    session: Session,
) -> None:
    couple, _ana, _ben = make_couple(session)
    start(session, ANA_ID, "60")
    row = only_pause(session)
    started = tidy_tag("pause.started", row.id or 0)
    assert row_of(session, started).markup is not None
    at_return = fire(session, T0 + 60 * MIN)
    edit = tidied(at_return)[(ToGroup(couple.id or 0), started)]
    assert edit.body is not None and render(edit.body) == "Ana's break: back at 19:00."
    assert edit.buttons == ()
    assert row_of(session, started).markup is None


def test_an_agreed_return_time_is_not_tidied_again(session: Session) -> None:
    make_couple(session)
    agreed_pause(session)
    at_return = fire(session, T0 + 60 * MIN)
    assert not [tag for _to, tag in tidied(at_return) if tag.startswith("~pause.started")]


def test_a_counter_proposal_nobody_accepted_loses_its_button_when_the_break_ends(
    session: Session,
) -> None:
    couple, _ana, _ben = make_couple(session)
    start(session, ANA_ID, "60")
    row = only_pause(session)
    press(session, BEN_ID, pz(row, "p120"), T0 + MIN)
    proposed = tidy_tag("pause.proposed", row.id or 0)
    assert row_of(session, proposed).markup is not None
    back = run(session, flow.back(session, in_group(ANA_ID), "", T0 + 2 * MIN), T0 + 2 * MIN)
    back = run(session, flow.back(session, in_group(BEN_ID), "", T0 + 3 * MIN), T0 + 3 * MIN)
    assert only_pause(session).state == flow.PauseState.ENDED
    assert (ToGroup(couple.id or 0), proposed) in tidied(back)
    assert row_of(session, proposed).markup is None


def test_ready_early_typed_by_the_other_tidies_the_question_they_did_not_tap(
    session: Session,
) -> None:
    couple, _ana, _ben = make_couple(session)
    row = agreed_pause(session)
    run(session, flow.back(session, in_group(ANA_ID), "", T0 + 5 * MIN), T0 + 5 * MIN)
    early = tidy_tag("pause.early", row.id or 0)
    assert row_of(session, early).markup is not None
    both = run(session, flow.back(session, in_group(BEN_ID), "", T0 + 6 * MIN), T0 + 6 * MIN)
    assert (ToGroup(couple.id or 0), early) in tidied(both)
    assert row_of(session, early).markup is None


def test_ready_early_left_open_until_the_return_time_is_tidied_when_both_are_back(
    session: Session,
) -> None:
    couple, _ana, ben = make_couple(session)
    row = agreed_pause(session)
    run(session, flow.back(session, in_group(ANA_ID), "", T0 + 5 * MIN), T0 + 5 * MIN)
    fire(session, T0 + 60 * MIN)  # only Ben is asked "ready to come back?"
    ready = press(session, BEN_ID, pz(row, "ready"), T0 + 61 * MIN, private=True)
    assert only_pause(session).state == flow.PauseState.ENDED
    assert (ToGroup(couple.id or 0), tidy_tag("pause.early", row.id or 0)) in tidied(ready)
    assert ben.id is not None


def test_nobody_coming_back_tidies_both_ready_questions(session: Session) -> None:
    _couple, ana, ben = make_couple(session)
    row = agreed_pause(session)
    fire(session, T0 + 60 * MIN)
    closed = fire(session, T0 + 121 * MIN)
    assert only_pause(session).outcome == flow.Outcome.NOT_RETURNED
    for partner in (ana, ben):
        tag = tidy_tag("pause.ready", row.id or 0, partner.id or 0)
        assert (ToPartner(partner.id or 0), tag) in tidied(closed)
        assert row_of(session, tag).markup is None


def test_more_time_for_one_tidies_the_others_ready_question_until_it_is_asked_again(
    session: Session,
) -> None:
    _couple, _ana, ben = make_couple(session)
    row = agreed_pause(session)
    fire(session, T0 + 60 * MIN)
    more = press(session, ANA_ID, pz(row, "more"), T0 + 61 * MIN, private=True)
    bens = tidy_tag("pause.ready", row.id or 0, ben.id or 0)
    assert tidied(more)[(ToPartner(ben.id or 0), bens)].body is None
    assert row_of(session, bens).markup is None
    fire(session, T0 + 81 * MIN)  # asked again, with buttons
    assert row_of(session, bens).markup is not None
