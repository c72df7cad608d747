"""A pause that reassures: coming back, not leaving; nobody waits without news; /back asks."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, select

from flows import buttons
from flows import pause as flow
from flows.outcome import Effects, ToGroup, ToPartner
from flows.pause import Pause
from tests.flows.pause.helpers import MIN, fire, run
from tests.helpers import (
    ANA_ID,
    BEN_ID,
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

HOUR = timedelta(hours=1)


def press(
    session: Session, user_id: int, row: Pause, action: str, now: datetime, private: bool = False
) -> Effects:
    actor = in_private(user_id) if private else in_group(user_id)
    data = buttons.data(flow.PAUSE, row.id or 0, action)
    return run(session, buttons.handle_press(session, actor, data, now), now)


def agreed(session: Session, minutes: int = 60) -> Pause:
    run(session, flow.pause(session, in_group(ANA_ID), str(minutes), T0), T0)
    row = session.exec(select(Pause)).one()
    press(session, BEN_ID, row, "ok", T0 + MIN)
    return row


def test_the_pause_message_says_the_one_pausing_is_coming_back_not_leaving(
    session: Session,
) -> None:
    make_couple(session)
    effects = run(session, flow.pause(session, in_group(ANA_ID), "60", T0), T0)
    body = shown(sends(effects)[0].body)
    assert "Ana is taking a break to come back to this well, not to leave." in body


def test_a_bare_pause_in_private_offers_the_lengths_and_a_tap_starts_it_in_the_group(
    session: Session,
) -> None:
    couple, ana, _ben = make_couple(session)
    offered = run(session, flow.pause(session, in_private(ANA_ID), "", T0), T0)
    assert keys(offered) == ["pause.choose"]
    data = button_data(sends(offered)[0])
    assert data[0] == buttons.data(flow.START, couple.id or 0, "20")
    tapped = run(session, buttons.handle_press(session, in_private(ANA_ID), data[2], T0), T0)
    group = [s for s in sends(tapped) if s.to == ToGroup(couple.id or 0)]
    assert [s.body.key for s in group] == ["pause.started"]
    assert "pause.started_from_private" in keys(tapped)
    assert session.exec(select(Pause)).one().asked_by == ana.id


def test_more_time_past_a_day_is_refused_gently_and_names_the_other(session: Session) -> None:
    make_couple(session)
    run(session, flow.pause(session, in_group(ANA_ID), "24h", T0), T0)
    row = session.exec(select(Pause)).one()
    press(session, BEN_ID, row, "ok", T0 + MIN)
    fire(session, T0 + timedelta(hours=24))
    refused = press(session, BEN_ID, row, "more", T0 + timedelta(hours=24), private=True)
    text = all_text(refused)
    assert "reached a day" in text and "tell Ana when you'll talk" in text
    assert "can't stretch" not in text


def test_the_ready_partner_hears_privately_when_the_other_asks_for_more_time(
    session: Session,
) -> None:
    _couple, ana, _ben = make_couple(session)
    row = agreed(session)
    fire(session, T0 + HOUR)
    waiting = press(session, ANA_ID, row, "ready", T0 + HOUR, private=True)
    assert "as soon as Ben is too" in all_text(waiting)
    more = press(session, BEN_ID, row, "more", T0 + HOUR + MIN, private=True)
    told = [s for s in sends(more) if s.to == ToPartner(ana.id or 0)]
    assert [s.body.key for s in told] == ["pause.more_told_ready"]
    assert "Ben asked for 20 more minutes" in shown(told[0].body) and "19:21" in shown(told[0].body)


def test_the_ready_partner_hears_privately_when_both_are_back(session: Session) -> None:
    _couple, ana, ben = make_couple(session)
    row = agreed(session)
    fire(session, T0 + HOUR)
    press(session, ANA_ID, row, "ready", T0 + HOUR, private=True)
    done = press(session, BEN_ID, row, "ready", T0 + HOUR + MIN, private=True)
    told = [s for s in sends(done) if s.to == ToPartner(ana.id or 0)]
    assert [s.body.key for s in told] == ["pause.both_back_private"]
    assert "Ben is back too" in shown(told[0].body)
    assert not any(s.to == ToPartner(ben.id or 0) for s in sends(done))


def test_back_from_one_partner_asks_the_other_and_does_not_end_the_break(session: Session) -> None:
    couple, _ana, _ben = make_couple(session)
    row = agreed(session)
    asked = run(session, flow.back(session, in_group(ANA_ID), "", T0 + 10 * MIN), T0 + 10 * MIN)
    [question] = sends(asked)
    assert question.to == ToGroup(couple.id or 0)
    assert shown(question.body) == "Ana is ready early. Ben, are you?"
    assert button_data(question) == [
        buttons.data(flow.PAUSE, row.id or 0, "early"),
        buttons.data(flow.PAUSE, row.id or 0, "notyet"),
    ]
    assert row.state == flow.PauseState.AGREED and flow.active_pause(session, couple.id or 0) is row
    # Ana cannot answer her own question; Ben can.
    assert keys(press(session, ANA_ID, row, "early", T0 + 11 * MIN)) == ["pause.early_is_for_other"]
    assert row.state == flow.PauseState.AGREED


def test_not_yet_keeps_the_break_and_tells_the_one_who_is_ready(session: Session) -> None:
    _couple, ana, _ben = make_couple(session)
    row = agreed(session)
    run(session, flow.back(session, in_group(ANA_ID), "", T0 + 10 * MIN), T0 + 10 * MIN)
    effects = press(session, BEN_ID, row, "notyet", T0 + 11 * MIN)
    assert row.state == flow.PauseState.AGREED
    assert "pause.not_yet" in keys(effects)
    told = [s for s in sends(effects) if s.to == ToPartner(ana.id or 0)]
    assert [s.body.key for s in told] == ["pause.not_yet_private"]
    # At the return time only Ben is asked: Ana said she is ready.
    asked = fire(session, T0 + HOUR)
    assert [s.to for s in sends(asked)] == [ToPartner(row.other_id)]
    done = press(session, BEN_ID, row, "ready", T0 + HOUR, private=True)
    assert row.state == flow.PauseState.ENDED and "pause.both_back_private" in keys(done)


def test_ready_early_from_the_other_ends_the_break_and_tells_the_first(session: Session) -> None:
    _couple, ana, ben = make_couple(session)
    row = agreed(session)
    run(session, flow.back(session, in_private(ANA_ID), "", T0 + 10 * MIN), T0 + 10 * MIN)
    effects = press(session, BEN_ID, row, "early", T0 + 12 * MIN)
    assert (row.state, row.outcome, row.ended_by) == (
        flow.PauseState.ENDED,
        flow.Outcome.EARLY,
        ben.id,
    )
    assert "pause.back" in keys(effects)
    assert [s.body.key for s in sends(effects) if s.to == ToPartner(ana.id or 0)] == [
        "pause.both_back_private"
    ]


def _not_returned(session: Session, start: datetime) -> Effects:
    run(session, flow.pause(session, in_group(ANA_ID), "20", start), start)
    fire(session, start + 20 * MIN)
    return fire(session, start + 20 * MIN + HOUR)


def test_the_third_break_not_returned_in_a_month_points_privately_to_counselling_once(
    session: Session,
) -> None:
    _couple, ana, ben = make_couple(session)
    day = timedelta(days=1)
    assert "pause.counsel" not in keys(_not_returned(session, T0))
    assert "pause.counsel" not in keys(_not_returned(session, T0 + 3 * day))
    third = _not_returned(session, T0 + 6 * day)
    counsel = [s for s in sends(third) if s.body.key == "pause.counsel"]
    assert {s.to for s in counsel} == {ToPartner(ana.id or 0), ToPartner(ben.id or 0)}
    assert "counsellor" in shown(counsel[0].body)
    # Once a month: the fourth does not repeat it; a month later it may come again.
    assert "pause.counsel" not in keys(_not_returned(session, T0 + 9 * day))
    assert "pause.counsel" not in keys(_not_returned(session, T0 + 20 * day))
    # Day 40: the one of day 20 is still within 30 days, so day 40 makes two, day 42 three.
    assert "pause.counsel" not in keys(_not_returned(session, T0 + 40 * day))
    assert "pause.counsel" in keys(_not_returned(session, T0 + 42 * day))


def test_pauses_shows_who_asked_but_never_counts_per_person(session: Session) -> None:
    make_couple(session)
    day = timedelta(days=1)
    _not_returned(session, T0)
    _not_returned(session, T0 + day)
    run(session, flow.pause(session, in_group(BEN_ID), "20", T0 + 2 * day), T0 + 2 * day)
    text = all_text(flow.history(session, in_group(ANA_ID), "", T0 + 3 * day))
    assert "Ana asked" in text and "Ben asked" in text
    for tally in ("Ana: 2", "Ben: 1", "2 breaks", "times", "most"):
        assert tally not in text


# ---- the soft restart ------------------------------------------------------------------------


def _both_back(session: Session) -> tuple[Pause, Effects]:
    row = agreed(session)
    fire(session, T0 + HOUR)
    press(session, ANA_ID, row, "ready", T0 + HOUR, private=True)
    return row, press(session, BEN_ID, row, "ready", T0 + HOUR, private=True)


def _say(session: Session, user_id: int, words: str, tag: str | None) -> Effects:
    from flows import inputs

    return run(
        session,
        inputs.handle_text(session, in_private(user_id), inputs.Said(words, tag), T0 + HOUR),
        T0 + HOUR,
    )


def test_both_back_offers_an_optional_soft_restart(session: Session) -> None:
    make_couple(session)
    row, done = _both_back(session)
    [back] = [s for s in sends(done) if s.body.key == "pause.both_back"]
    assert button_data(back) == [buttons.data(flow.SOFT_RESTART, row.id or 0, "go")]


def test_a_soft_restart_shows_one_feeling_and_one_need_each_together(session: Session) -> None:
    from flows.restart import SoftRestart

    couple, ana, ben = make_couple(session)
    row, _ = _both_back(session)
    data = buttons.data(flow.SOFT_RESTART, row.id or 0, "go")
    started = run(
        session, buttons.handle_press(session, in_group(BEN_ID), data, T0 + HOUR), T0 + HOUR
    )
    asked = {s.to: s for s in sends(started) if s.body.key == "pause.restart_ask_feeling"}
    assert set(asked) == {ToPartner(ana.id or 0), ToPartner(ben.id or 0)}
    assert "pause.restart_started" in keys(started)
    again = buttons.handle_press(session, in_group(ANA_ID), data, T0 + HOUR)
    assert "common.button_expired" in keys(again)
    assert len(session.exec(select(SoftRestart)).all()) == 2

    ana_need = _say(session, ANA_ID, "Tired, a bit raw.", asked[ToPartner(ana.id or 0)].tag)
    ana_done = _say(session, ANA_ID, "A quiet dinner together.", sends(ana_need)[0].tag)
    assert keys(ana_done) == ["pause.restart_waiting"]  # nothing shown with one side only
    ben_need = _say(session, BEN_ID, "Relieved.", asked[ToPartner(ben.id or 0)].tag)
    shown_both = _say(session, BEN_ID, "A hug before we talk.", sends(ben_need)[0].tag)
    [together] = sends(shown_both)
    assert together.to == ToGroup(couple.id or 0)
    text = shown(together.body)
    for said in (
        "Ana feels: Tired, a bit raw.",
        "Ana needs: A quiet dinner together.",
        "Ben feels: Relieved.",
        "Ben needs: A hug before we talk.",
    ):
        assert said in text


def test_only_the_writer_answers_their_soft_restart_question(session: Session) -> None:
    make_couple(session)
    row, _ = _both_back(session)
    data = buttons.data(flow.SOFT_RESTART, row.id or 0, "go")
    started = buttons.handle_press(session, in_group(ANA_ID), data, T0 + HOUR)
    tags = [s.tag for s in sends(started) if s.tag]
    assert _say(session, BEN_ID, "not mine", tags[0]) == []  # Ana's question
