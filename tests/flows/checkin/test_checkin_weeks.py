"""What a check-in keeps from week to week: when it closed, what comes back, what /settings
says about the next one."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, select

from bot.texts import render
from flows import buttons, checkin, onboarding
from flows.checkin import Checkin
from flows.checkin.schedule import CLOSE_AFTER
from flows.outcome import ToPartner
from tests.flows.checkin.test_checkin import (
    ANA_SAYS,
    BEN_SAYS,
    _finished_week,
    ana_answers_all,
    ben_replies_all,
    fire,
    question_to,
    start_now,
    the_checkin,
)
from tests.helpers import ANA_ID, T0, all_text, in_group, make_couple, sends


def test_skipping_a_checkin_closes_it_at_that_moment(session: Session) -> None:
    make_couple(session)
    start_now(session)
    later = T0 + timedelta(minutes=5)
    skip = buttons.data(checkin.KIND_CHECKIN, the_checkin(session).id or 0, "skip")
    buttons.handle_press(session, in_group(ANA_ID), skip, later)
    closed = the_checkin(session)
    assert (closed.state, closed.closed_at) == (checkin.CheckinState.SKIPPED, later)


def test_a_finished_checkin_closes_when_the_last_answer_comes(session: Session) -> None:
    _couple, _ana, ben = make_couple(session)
    ben.private_open = False
    _finished_week(session, T0)
    [done] = session.exec(select(Checkin)).all()
    assert (done.state, done.closed_at) == (checkin.CheckinState.DONE, T0)


def test_only_last_weeks_still_needs_care_comes_back_not_an_older_one(session: Session) -> None:
    _couple, ana, ben = make_couple(session)
    ben.private_open = False
    _finished_week(session, T0, ana_says=("the leaking tap", *ANA_SAYS[1:]))
    _finished_week(session, T0 + timedelta(days=7))
    third = start_now(session, T0 + timedelta(days=14))
    asked = render(question_to(third, ana).body)
    assert f'"{ANA_SAYS[0]}". Is it still?' in asked and "leaking tap" not in asked


def test_settings_show_the_day_and_time_the_checkin_moved_to(session: Session) -> None:
    make_couple(session, zone="Europe/Berlin")
    checkin.checkin(session, in_group(ANA_ID), "wed 20:30", T0)
    shown = all_text(onboarding.show_settings(session, in_group(ANA_ID), "", T0))
    assert "• Weekly check-in: Wednesdays at 20:30 (Berlin)" in shown.splitlines()


def test_the_thanks_after_the_last_answer_goes_to_the_one_who_answered(session: Session) -> None:
    _couple, ana, _ben = make_couple(session)
    start_now(session)
    said = ana_answers_all(session)
    [thanks] = [send for send in sends(said) if send.body.key == "checkin.thanks_waiting"]
    assert thanks.to == ToPartner(ana.id or 0)


def test_a_question_left_unanswered_reads_no_answer_when_it_closes(session: Session) -> None:
    _couple, _ana, ben = make_couple(session)
    ben.private_open = False
    ben_first = question_to(start_now(session), ben)
    ana_answers_all(session)
    ben_replies_all(session, ben_first, T0, says=BEN_SAYS[:2])
    shown = all_text(fire(session, checkin.CLOSE_KIND, T0 + CLOSE_AFTER))
    assert f"Ben: {BEN_SAYS[1]}" in shown
    assert "Ben: (no answer)" in shown and "(skipped)" not in shown
