"""The day of a promise: the nudge, "kept?", "I noticed", quiet during a pause, and the
next day on the promiser's calendar."""

from __future__ import annotations

from datetime import date

from sqlmodel import Session, col, select

from bot.delivery.models import Outbox
from bot.delivery.timers import handle_due
from flows import promises
from flows.outcome import SetTimer, ToPartner
from flows.promises import Promise, PromiseCheck
from tests.flows.promises.helpers import (
    answer_data,
    fire,
    only_promise,
    pending,
    press,
    promise_cmd,
    utc,
)
from tests.helpers import (
    ANA_ID,
    BEN_ID,
    GROUP_ID,
    T0,
    all_text,
    button_data,
    edits,
    in_group,
    keys,
    make_couple,
    sends,
)

# ---- the day: nudge, kept?, noticed ------------------------------------------------------


def test_daily_nudge_then_kept_then_noticed(session: Session) -> None:
    _couple, ana, ben = make_couple(session)
    promise_cmd(session, ANA_ID, "put my phone away at dinner daily")
    nudge = fire(session, "promise.nudge", utc(2026, 11, 26, 9, 0))
    assert keys(nudge) == ["promises.nudge"]
    assert sends(nudge)[0].to == ToPartner(ana.id or 0)
    assert "put my phone away at dinner" in all_text(nudge)

    asked = fire(session, "promise.ask", utc(2026, 11, 26, 21, 0))
    question = sends(asked)[0]
    assert question.body.key == "promises.ask_kept_today" and question.to == ToPartner(ana.id or 0)
    assert [d.split("|")[3] for d in button_data(question)] == ["kept", "not", "change"]
    # The next day is set up as this one is handled.
    assert [(t.kind, t.due_at) for t in pending(session)] == [
        ("promise.nudge", utc(2026, 11, 27, 9, 0)),
        ("promise.ask", utc(2026, 11, 27, 21, 0)),
    ]

    kept = press(session, ANA_ID, button_data(question)[0], utc(2026, 11, 26, 21, 5))
    assert "promises.kept_thanks" in keys(kept)
    assert "kept 1 of 1" in all_text(edits(kept))
    told = next(s for s in sends(kept) if s.body.key == "promises.kept_told")
    assert told.to == ToPartner(ben.id or 0)
    assert "Ana kept a promise" in all_text([told])
    noticed = button_data(told)[0]

    # Only Ben can say he noticed; Ana pressing it changes nothing.
    assert keys(press(session, ANA_ID, noticed)) == ["promises.noticed_not_yours"]
    check = session.exec(select(PromiseCheck)).one()
    assert check.noticed_at is None

    thanks = press(session, BEN_ID, noticed, utc(2026, 11, 26, 21, 10))
    assert check.noticed_at == utc(2026, 11, 26, 21, 10)
    to_ana = next(s for s in sends(thanks) if s.body.key == "promises.was_noticed")
    assert to_ana.to == ToPartner(ana.id or 0)
    assert "Ben noticed that you kept" in all_text([to_ana])
    # Twice is once.
    assert keys(press(session, BEN_ID, noticed)) == ["common.button_expired"]


def test_nudge_goes_privately_and_waits_for_a_private_chat_not_opened_yet(session: Session) -> None:
    _couple, ana, ben = make_couple(session, private_open=False)
    ben.private_open = True
    session.add(ben)
    promise_cmd(session, ANA_ID, "make tea daily")
    promise_cmd(session, BEN_ID, "make dinner daily")
    fire(session, "promise.nudge", utc(2026, 11, 26, 9, 0))
    fire(session, "promise.nudge", utc(2026, 11, 26, 9, 0))
    nudges = list(session.exec(select(Outbox).where(col(Outbox.body).contains("small reminder"))))
    by_partner = {row.partner_id: row for row in nudges}
    # Ana's nudge is hers alone: it waits for her private chat, never goes to the group.
    assert by_partner[ana.id].chat_id == ANA_ID and by_partner[ana.id].state == "waiting"
    assert by_partner[ben.id].chat_id == BEN_ID
    group_keys = [row.key for row in session.exec(select(Outbox).where(Outbox.chat_id == GROUP_ID))]
    assert "promises.nudge" not in group_keys
    assert group_keys.count("delivery.private_waiting") == 1


def test_nudges_never_arrive_at_night(session: Session) -> None:
    make_couple(session, zone="Europe/Berlin")
    promise_cmd(session, ANA_ID, "make tea daily")
    # The bot was down; the 09:00 nudge is handled late, at 23:30 Berlin: it is not sent.
    late_night = utc(2026, 11, 26, 22, 30)
    timer = pending(session, "promise.nudge")[0]
    effects, state, _late = handle_due(session, timer, late_night)
    assert sends(effects) == []
    # A "kept?" question that falls at night waits for the morning.
    ask = pending(session, "promise.ask")[0]
    effects, _state, _late = handle_due(session, ask, late_night)
    assert sends(effects) == []
    moved = [e for e in effects if isinstance(e, SetTimer)]
    assert moved and moved[0].due_at == utc(2026, 11, 27, 7, 0)  # 08:00 Berlin
    assert state == "missed"  # 13.5 hours late: a nudge is useful for 3


def test_not_this_time_keeps_the_promise_without_blame(session: Session) -> None:
    _couple, _ana, ben = make_couple(session)
    promise_cmd(session, ANA_ID, "make tea daily")
    fire(session, "promise.ask", utc(2026, 11, 26, 21, 0))
    missed = press(session, ANA_ID, answer_data(session, "not"), utc(2026, 11, 26, 21, 1))
    assert "promises.not_this_time" in keys(missed)
    assert only_promise(session).state == "active"
    # Nothing reaches Ben about a miss.
    assert not [s for s in sends(missed) if s.to == ToPartner(ben.id or 0)]
    assert not any(word in all_text(missed).lower() for word in ["fail", "broke", "again?"])


def test_after_repeated_misses_the_bot_asks_whether_to_change_it(session: Session) -> None:
    make_couple(session)
    promise_cmd(session, ANA_ID, "run 10k daily")
    offers = []
    for day in (26, 27, 28):
        fire(session, "promise.ask", utc(2026, 11, day, 21, 0))
        answered = press(session, ANA_ID, answer_data(session, "not"), utc(2026, 11, day, 21, 1))
        offers.append([s for s in sends(answered) if s.body.key == "promises.misses_offer"])
    assert offers[0] == [] and offers[1] == []
    offer = offers[2][0]
    assert [d.split("|")[3] for d in button_data(offer)] == ["words", "when", "keep", "drop"]
    # "Keep as is" starts counting again.
    press(session, ANA_ID, button_data(offer)[2])
    assert only_promise(session).misses_in_row == 0


def test_a_one_off_not_kept_gets_another_day(session: Session) -> None:
    make_couple(session)
    promise_cmd(session, ANA_ID, "call your mum tomorrow")
    fire(session, "promise.ask", utc(2026, 11, 26, 21, 0))
    answered = press(session, ANA_ID, answer_data(session, "not"), utc(2026, 11, 26, 21, 2))
    assert "promises.not_this_time_once" in keys(answered)
    promise = only_promise(session)
    assert promise.due_on == date(2026, 11, 27)
    assert [(t.kind, t.due_at) for t in pending(session)] == [
        ("promise.nudge", utc(2026, 11, 27, 9, 0)),
        ("promise.ask", utc(2026, 11, 27, 21, 0)),
    ]


def test_a_one_off_kept_is_done_and_leaves_the_list(session: Session) -> None:
    make_couple(session)
    promise_cmd(session, ANA_ID, "call your mum tomorrow")
    fire(session, "promise.ask", utc(2026, 11, 26, 21, 0))
    kept = press(session, ANA_ID, answer_data(session, "kept"))
    assert "promises.kept_once_thanks" in keys(kept)
    assert session.exec(select(Promise)).one().state == "kept"
    assert pending(session) == []
    listed = promises.list_promises(session, in_group(BEN_ID), "", T0)
    assert keys(listed) == ["promises.list_empty"]


# ---- quiet during a pause ---------------------------------------------------------------


def test_nudges_wait_during_a_pause_and_come_after_it(session: Session, quiet: set[int]) -> None:
    couple, _ana, _ben = make_couple(session)
    promise_cmd(session, ANA_ID, "make tea daily")
    quiet.add(couple.id or 0)
    during = fire(session, "promise.nudge", utc(2026, 11, 26, 9, 0))
    assert sends(during) == []
    postponed = pending(session, "promise.nudge")
    assert [t.due_at for t in postponed] == [utc(2026, 11, 26, 9, 15)]
    # Still quiet at 09:15: postponed again, not lost.
    assert sends(fire(session, "promise.nudge", utc(2026, 11, 26, 9, 15))) == []
    quiet.clear()
    after = fire(session, "promise.nudge", utc(2026, 11, 26, 9, 30))
    assert keys(after) == ["promises.nudge"]


def test_kept_question_waits_during_a_pause(session: Session, quiet: set[int]) -> None:
    couple, _ana, _ben = make_couple(session)
    promise_cmd(session, ANA_ID, "make tea daily")
    quiet.add(couple.id or 0)
    assert sends(fire(session, "promise.ask", utc(2026, 11, 26, 21, 0))) == []
    assert session.exec(select(PromiseCheck)).all() == []
    quiet.clear()
    asked = fire(session, "promise.ask", utc(2026, 11, 26, 21, 15))
    assert keys(asked) == ["promises.ask_kept_today"]


def test_a_pause_in_another_couple_does_not_quiet_this_one(
    session: Session, quiet: set[int]
) -> None:
    couple, _ana, _ben = make_couple(session)
    promise_cmd(session, ANA_ID, "make tea daily")
    quiet.add((couple.id or 0) + 100)
    assert keys(fire(session, "promise.nudge", utc(2026, 11, 26, 9))) == ["promises.nudge"]


# ---- recurrence ---------------------------------------------------------------------------


def test_daily_keeps_its_local_time_across_the_dst_change(session: Session) -> None:
    make_couple(session, zone="Europe/Berlin")
    saturday = utc(2026, 10, 24, 5, 0)  # clocks go back in Berlin on Sun 25 Oct
    promise_cmd(session, ANA_ID, "make tea daily", saturday)
    assert [t.due_at for t in pending(session)] == [
        utc(2026, 10, 24, 7, 0),
        utc(2026, 10, 24, 19, 0),
    ]  # 09:00 and 21:00 CEST
    fire(session, "promise.nudge", utc(2026, 10, 24, 7, 0))
    fire(session, "promise.ask", utc(2026, 10, 24, 19, 0))
    assert [t.due_at for t in pending(session)] == [
        utc(2026, 10, 25, 8, 0),
        utc(2026, 10, 25, 20, 0),
    ]  # 09:00 and 21:00 CET


def test_weekdays_skip_the_weekend(session: Session) -> None:
    make_couple(session)
    friday = utc(2026, 11, 27, 7, 0)
    promise_cmd(session, ANA_ID, "make coffee every weekday", friday)
    fire(session, "promise.nudge", utc(2026, 11, 27, 9, 0))
    fire(session, "promise.ask", utc(2026, 11, 27, 21, 0))
    assert pending(session, "promise.nudge")[0].due_at == utc(2026, 11, 30, 9, 0)  # Monday


def test_a_missed_evening_after_downtime_moves_on_to_the_next_day(session: Session) -> None:
    make_couple(session)
    promise_cmd(session, ANA_ID, "make tea daily")
    for timer in pending(session, "promise.nudge"):
        timer.state = "missed"
    back_up = utc(2026, 11, 28, 12, 0)  # down since Thursday morning
    effects = fire(session, "promise.ask", back_up)
    assert sends(effects) == []
    assert [t.due_at for t in pending(session)] == [utc(2026, 11, 28, 21, 0)]
