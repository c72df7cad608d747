"""Coming back from a pause: ready?, more time, /back, no answer, the counselling word."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from flows import pause as flow
from flows.hooks import is_quiet
from flows.outcome import ToGroup, ToPartner
from flows.pause import Pause
from tests.flows.pause.helpers import (
    MIN,
    agreed_pause,
    fire,
    only_pause,
    pending,
    press,
    pz,
    run,
    start,
)
from tests.helpers import (
    ANA_ID,
    BEN_ID,
    T0,
    all_text,
    button_data,
    in_group,
    keys,
    make_couple,
    notices,
    sends,
    shown,
)

# ---- coming back ----------------------------------------------------------------------


def test_at_the_return_time_both_are_asked_once_if_they_are_ready(session: Session) -> None:
    _couple, ana, ben = make_couple(session)
    row = agreed_pause(session)
    assert fire(session, T0 + timedelta(minutes=59)) == []
    asked = fire(session, T0 + timedelta(hours=1))
    questions = [s for s in sends(asked) if s.body.key == "pause.ready_question"]
    assert {s.to for s in questions} == {ToPartner(ana.id or 0), ToPartner(ben.id or 0)}
    for question in questions:
        assert "Ready to come back" in shown(question.body) and "19:00" in shown(question.body)
        assert button_data(question) == [pz(row, "ready"), pz(row, "more")]
    # Asked once: nothing more until the hour without answers is over.
    assert fire(session, T0 + timedelta(hours=1, minutes=59)) == []


def test_when_both_are_ready_the_pause_ends_warmly_and_points_to_repair(session: Session) -> None:
    couple, _ana, _ben = make_couple(session)
    row = agreed_pause(session)
    fire(session, T0 + timedelta(hours=1))
    first = press(
        session, BEN_ID, pz(row, "ready"), T0 + timedelta(hours=1, minutes=3), private=True
    )
    assert keys(first) == ["pause.ready_notice", "pause.ready_waiting"]
    assert row.state == flow.PauseState.ASKING
    assert keys(
        press(session, BEN_ID, pz(row, "ready"), T0 + timedelta(hours=1, minutes=4), private=True)
    ) == ["pause.ready_already"]
    both = press(
        session, ANA_ID, pz(row, "ready"), T0 + timedelta(hours=1, minutes=5), private=True
    )
    [back] = [s for s in sends(both) if s.body.key == "pause.both_back"]
    assert back.to == ToGroup(couple.id or 0) and "/repair" in shown(back.body)
    assert (row.state, row.outcome) == (flow.PauseState.ENDED, flow.Outcome.ON_TIME)
    assert pending(session) == []
    assert not is_quiet(session, couple.id or 0, T0 + timedelta(hours=2))


def test_more_time_moves_the_return_and_asks_again_only_who_was_not_ready(session: Session) -> None:
    _couple, ana, _ben = make_couple(session)
    row = agreed_pause(session)
    fire(session, T0 + timedelta(hours=1))
    press(session, ANA_ID, pz(row, "ready"), T0 + timedelta(hours=1, minutes=1), private=True)
    more = press(session, BEN_ID, pz(row, "more"), T0 + timedelta(hours=1, minutes=2), private=True)
    assert "Ben needs 20 more minutes. New return time: 19:22." in all_text(more)
    assert row.return_at == T0 + timedelta(hours=1, minutes=22) and row.extensions == 1
    assert row.agreed_return_at == T0 + timedelta(hours=1)
    assert [t.kind for t in pending(session)] == [flow.RETURN_KIND]
    asked_again = fire(session, T0 + timedelta(hours=1, minutes=22))
    questions = [s for s in sends(asked_again) if s.body.key == "pause.ready_question"]
    assert [s.to for s in questions] == [ToPartner(row.other_id)]
    assert ToPartner(ana.id or 0) not in [s.to for s in questions]
    press(session, BEN_ID, pz(row, "ready"), T0 + timedelta(hours=1, minutes=25), private=True)
    assert (row.state, row.outcome) == (flow.PauseState.ENDED, flow.Outcome.LATER)


def test_more_time_is_allowed_up_to_24_hours_and_refused_past_that(session: Session) -> None:
    make_couple(session)
    start(session, ANA_ID, "23h")
    row = only_pause(session)
    press(session, BEN_ID, pz(row, "ok"), T0 + MIN)
    now = T0 + timedelta(hours=23)
    fire(session, now)
    for _ in range(3):  # 23 h + 3 x 20 min = exactly 24 h: still allowed
        more = press(session, BEN_ID, pz(row, "more"), now, private=True)
        assert "pause.more_group" in keys(more)
        now = row.return_at
        fire(session, now)
    assert row.return_at - row.started_at == timedelta(hours=24)
    refused = press(session, BEN_ID, pz(row, "more"), now, private=True)
    assert keys(refused) == ["pause.more_refused"] and notices(refused)[0].alert
    assert "reached a day" in all_text(refused) and "tell Ana when" in all_text(refused)
    assert row.return_at - row.started_at == timedelta(hours=24)
    assert row.extensions == 3 and row.state == flow.PauseState.ASKING


def test_no_answer_within_an_hour_closes_gently_as_not_returned(session: Session) -> None:
    couple, _ana, _ben = make_couple(session)
    row = agreed_pause(session)
    fire(session, T0 + timedelta(hours=1))
    closing = fire(session, T0 + timedelta(hours=2))
    [line] = sends(closing)
    assert line.to == ToGroup(couple.id or 0) and line.body.key == "pause.not_returned"
    assert "No one has to explain" in shown(line.body)
    assert (row.state, row.outcome, row.ended_by) == (
        flow.PauseState.ENDED,
        flow.Outcome.NOT_RETURNED,
        None,
    )
    assert fire(session, T0 + timedelta(hours=5)) == []
    assert keys(
        press(session, ANA_ID, pz(row, "ready"), T0 + timedelta(hours=5), private=True)
    ) == ["common.button_expired"]


def test_an_extension_cancels_the_old_no_answer_close(session: Session) -> None:
    make_couple(session)
    row = agreed_pause(session)
    fire(session, T0 + timedelta(hours=1))
    press(session, BEN_ID, pz(row, "more"), T0 + timedelta(hours=1, minutes=50), private=True)
    # The old hour would have ended at 20:00; the new return is 20:10.
    assert fire(session, T0 + timedelta(hours=2)) == []
    assert row.state == flow.PauseState.AGREED


def test_back_ends_the_pause_early_once_the_other_is_ready_too(session: Session) -> None:
    couple, ana, _ben = make_couple(session)
    row = agreed_pause(session)
    asked = run(
        session,
        flow.back(session, in_group(BEN_ID), "", T0 + timedelta(minutes=10)),
        T0 + timedelta(minutes=10),
    )
    assert keys(asked) == ["pause.back_asks_other"] and row.state == flow.PauseState.AGREED
    effects = press(session, ANA_ID, pz(row, "early"), T0 + timedelta(minutes=10))
    assert "pause.back" in keys(effects) and "/repair" in all_text(effects)
    assert (row.state, row.outcome, row.ended_by) == (
        flow.PauseState.ENDED,
        flow.Outcome.EARLY,
        ana.id,
    )
    assert pending(session) == []
    assert fire(session, T0 + timedelta(hours=3)) == []
    assert keys(press(session, BEN_ID, pz(row, "ok"), T0 + timedelta(minutes=11))) == [
        "common.button_expired"
    ]
    again = run(
        session,
        flow.back(session, in_group(ANA_ID), "", T0 + timedelta(minutes=12)),
        T0 + timedelta(minutes=12),
    )
    assert keys(again) == ["pause.none_on"]
    assert not is_quiet(session, couple.id or 0, T0 + timedelta(minutes=12))


def test_a_second_pause_shows_the_one_that_is_on(session: Session) -> None:
    make_couple(session)
    start(session, ANA_ID, "60")
    effects = start(session, BEN_ID, "30", T0 + timedelta(minutes=5))
    assert keys(effects) == ["pause.state"]
    text = all_text(effects)
    assert "Ana asked for it, back at 19:00" in text and "Waiting for Ben" in text
    assert "/back" in text
    assert len(session.exec(select(Pause)).all()) == 1
    assert len(pending(session)) == 1


def test_one_active_pause_per_couple_holds_in_the_database(session: Session) -> None:
    couple, ana, ben = make_couple(session)
    start(session, ANA_ID, "60")
    session.add(
        Pause(
            couple_id=couple.id or 0,
            active_couple_id=couple.id,
            asked_by=ben.id or 0,
            other_id=ana.id or 0,
            started_at=T0,
            agreed_return_at=T0,
            return_at=T0,
        )
    )
    with pytest.raises(IntegrityError):
        session.flush()


def test_quiet_check_is_true_only_while_a_pause_is_on(session: Session) -> None:
    couple, _ana, _ben = make_couple(session)
    assert not is_quiet(session, couple.id or 0, T0)
    start(session, ANA_ID, "60")
    assert is_quiet(session, couple.id or 0, T0 + MIN)
    fire(session, T0 + timedelta(hours=1))
    assert is_quiet(session, couple.id or 0, T0 + timedelta(hours=1, minutes=30))
    fire(session, T0 + timedelta(hours=2))
    assert not is_quiet(session, couple.id or 0, T0 + timedelta(hours=2))
