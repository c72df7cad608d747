"""Changing a promise: new words, a new when, keep it as it is, drop."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, select

from bot.delivery.timers import handle_due
from flows import buttons, promises
from flows.inputs import Said, handle_text
from flows.outcome import Send, ToChat, text
from flows.promises import Promise, PromiseCheck
from tests.flows.promises.helpers import (
    answer_data,
    fire,
    only_promise,
    pending,
    press,
    promise_cmd,
    run,
    utc,
)
from tests.helpers import (
    ANA_ID,
    BEN_ID,
    T0,
    button_data,
    edits,
    in_group,
    in_private,
    keys,
    make_couple,
    sends,
)

# ---- changing -----------------------------------------------------------------------------


def test_change_it_offers_words_when_and_drop(session: Session) -> None:
    make_couple(session)
    promise_cmd(session, ANA_ID, "make tea daily")
    fire(session, "promise.ask", utc(2026, 11, 26, 21, 0))
    menu = press(session, ANA_ID, answer_data(session, "change"))
    shown = sends(menu)[0]
    assert shown.body.key == "promises.change_menu"
    assert [d.split("|")[3] for d in button_data(shown)] == ["words", "when", "drop"]
    # The question itself is still open: Change it does not answer it.
    assert session.exec(select(PromiseCheck)).one().outcome == "asked"


def test_changing_the_words_by_replying(session: Session) -> None:
    make_couple(session)
    promise_cmd(session, ANA_ID, "make tea daily")
    promise = only_promise(session)
    started = press(session, ANA_ID, buttons.data(promises.CHANGE, promise.id or 0, "words"))
    question = sends(started)[0]
    assert question.force_reply and question.tag == f"promises:{promise.id}:words"
    # Ben replying to Ana's question changes nothing.
    refused = handle_text(session, in_group(BEN_ID), Said("no tea", question.tag), T0)
    assert keys(refused) == ["promises.not_yours"] and promise.what == "make tea"
    too_long = handle_text(session, in_group(ANA_ID), Said("x" * 300, question.tag), T0)
    assert keys(too_long) == ["common.too_long"] and promise.what == "make tea"
    done = handle_text(session, in_group(ANA_ID), Said("make tea for both of us", question.tag), T0)
    assert keys(done) == ["promises.words_changed"]
    assert promise.what == "make tea for both of us" and promise.editing is None
    # The same reply again is stale.
    again = handle_text(session, in_group(ANA_ID), Said("other", question.tag), T0)
    assert keys(again) == ["promises.words_stale"] and promise.what == "make tea for both of us"


def test_new_words_in_private_without_a_reply_count_for_a_while(session: Session) -> None:
    make_couple(session)
    promise_cmd(session, ANA_ID, "make tea daily")
    promise = only_promise(session)
    press(session, ANA_ID, buttons.data(promises.CHANGE, promise.id or 0, "words"), private=True)
    later = T0 + promises.WORDS_WINDOW + timedelta(minutes=1)
    assert handle_text(session, in_private(ANA_ID), Said("too late"), later) == [
        Send(ToChat(ANA_ID), text("common.private_only_me", other="Ben"))
    ]
    handle_text(session, in_private(ANA_ID), Said("make green tea"), T0 + timedelta(minutes=2))
    assert promise.what == "make green tea"


def test_changing_when_moves_the_timers_and_old_ones_fall_silent(session: Session) -> None:
    make_couple(session)
    promise_cmd(session, ANA_ID, "make tea daily")
    promise = only_promise(session)
    old_timers = pending(session)
    opened = press(session, ANA_ID, buttons.data(promises.CHANGE, promise.id or 0, "when"))
    when_buttons = button_data(edits(opened)[0])
    changed = press(session, ANA_ID, when_buttons[5])  # weekdays
    assert "promises.when_changed" in keys(changed)
    assert promise.repeat == "weekdays" and promise.remind_at == "09:00"
    assert all(timer.state == "cancelled" for timer in old_timers)
    # Thursday 26 Nov is a weekday: nudge and question are set for it.
    assert [t.due_at for t in pending(session)] == [utc(2026, 11, 26, 9), utc(2026, 11, 26, 21)]
    # The when buttons were used up; pressing one again changes nothing.
    assert keys(press(session, ANA_ID, when_buttons[0])) == ["common.button_expired"]
    assert promise.repeat == "weekdays"


def test_a_timer_from_an_old_schedule_does_nothing(session: Session) -> None:
    make_couple(session)
    promise_cmd(session, ANA_ID, "make tea daily")
    promise = only_promise(session)
    stale = pending(session, "promise.nudge")[0]
    promise.version += 1  # the schedule changed after the timer was set
    effects, _state, _late = handle_due(session, stale, utc(2026, 11, 26, 9))
    assert effects == []


def test_drop_ends_a_promise_and_keeps_its_history(session: Session) -> None:
    make_couple(session)
    promise_cmd(session, ANA_ID, "make tea daily")
    fire(session, "promise.ask", utc(2026, 11, 26, 21, 0))
    press(session, ANA_ID, answer_data(session, "kept"))
    # Ben cannot drop Ana's promise.
    refused = run(session, promises.drop(session, in_group(BEN_ID), "1", T0))
    assert keys(refused) == ["promises.not_yours"]
    assert only_promise(session).state == "active"
    assert keys(promises.drop(session, in_group(ANA_ID), "7", T0)) == ["promises.drop_unknown"]
    assert keys(promises.drop(session, in_group(ANA_ID), "tea", T0)) == ["promises.drop_usage"]
    dropped = run(session, promises.drop(session, in_group(ANA_ID), "#1", T0))
    assert keys(dropped) == ["promises.dropped"]
    promise = session.exec(select(Promise)).one()
    assert promise.state == "dropped" and promise.ended_at == T0
    assert pending(session) == []
    assert session.exec(select(PromiseCheck)).one().outcome == "kept"
    # Numbers are not reused: the next promise is #2.
    promise_cmd(session, ANA_ID, "make coffee daily")
    assert only_promise(session).number == 2


def test_drop_from_the_change_menu(session: Session) -> None:
    make_couple(session)
    promise_cmd(session, ANA_ID, "make tea daily")
    promise = only_promise(session)
    dropped = press(session, ANA_ID, buttons.data(promises.CHANGE, promise.id or 0, "drop"))
    assert keys(dropped) == ["promises.dropped"] and promise.state == "dropped"
    assert pending(session) == []
