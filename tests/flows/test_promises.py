"""Promise rules: parsing the when, the cap, nudges and "kept?" in each partner's zone,
kept / not this time / change, "I noticed", follow-through, drop, quiet during a pause,
and buttons that are forged or stale."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import Session, col, select

from bot.delivery.models import Outbox, Timer
from bot.delivery.outbox import persist
from bot.delivery.timers import handle_due
from flows import buttons, feature, hooks, promises
from flows.inputs import Said, handle_text
from flows.models import Couple, Partner
from flows.outcome import Effects, Send, SetTimer, ToChat, ToPartner
from flows.promises import Promise, PromiseCheck
from tests.helpers import (
    ANA_ID,
    BEN_ID,
    GROUP_ID,
    STRANGER_ID,
    T0,
    all_text,
    button_data,
    edits,
    in_group,
    in_private,
    keys,
    make_couple,
    notices,
    sends,
)

# ---- helpers -----------------------------------------------------------------------------


def run(session: Session, effects: Effects, now: datetime = T0) -> Effects:
    """Store timers and messages as the runtime would."""
    persist(session, effects, now, claim=False)
    session.flush()
    return effects


def promise_cmd(
    session: Session,
    actor_id: int,
    args: str,
    now: datetime = T0,
    cap: int = promises.DEFAULT_CAP,
    private: bool = False,
) -> Effects:
    actor = in_private(actor_id) if private else in_group(actor_id)
    return run(session, promises.make_promise(session, actor, args, now, cap=cap), now)


def press(
    session: Session, actor_id: int, data: str, now: datetime = T0, private: bool = False
) -> Effects:
    actor = in_private(actor_id) if private else in_group(actor_id)
    return run(session, buttons.handle_press(session, actor, data, now), now)


def pending(session: Session, kind: str | None = None) -> list[Timer]:
    query = select(Timer).where(Timer.state == "pending")
    if kind is not None:
        query = query.where(Timer.kind == kind)
    return list(session.exec(query.order_by(col(Timer.due_at))))


def fire(session: Session, kind: str, now: datetime) -> Effects:
    """Handle the earliest pending timer of `kind`, which must be due by `now`."""
    timer = pending(session, kind)[0]
    assert timer.due_at <= now, f"{kind} is due at {timer.due_at}, not by {now}"
    effects, state, late = handle_due(session, timer, now)
    timer.state = state
    session.add(timer)
    persist(session, effects, now, claim=False, late=late)
    session.flush()
    return effects


def only_promise(session: Session) -> Promise:
    return session.exec(select(Promise).where(Promise.state == "active")).one()


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def answer_data(session: Session, action: str) -> str:
    check = session.exec(select(PromiseCheck).order_by(col(PromiseCheck.id).desc())).first()
    assert check is not None
    return buttons.data(promises.ANSWER, check.id or 0, action)


@pytest.fixture
def quiet() -> Iterator[set[int]]:
    """A fake pause: couples whose ids are in the set are quiet."""
    paused: set[int] = set()

    def check(session: Session, couple_id: int, now: datetime) -> bool:
        return couple_id in paused

    with feature.replaced(quiet_checks=(*feature.installed().quiet_checks, check)):
        yield paused


# ---- parsing (the words themselves: tests/flows/test_timeparse.py) ------------------


def test_next_friday_skips_today_when_today_is_friday(session: Session) -> None:
    make_couple(session)
    friday_noon = utc(2026, 11, 27, 12, 0)
    promise_cmd(session, ANA_ID, "book the trip next friday", friday_noon)
    assert only_promise(session).due_on == date(2026, 12, 4)
    promise_cmd(session, BEN_ID, "buy flowers by friday", friday_noon)
    ben_promise = session.exec(select(Promise).where(Promise.number == 2)).one()
    assert ben_promise.due_on == date(2026, 11, 27)


# ---- making a promise --------------------------------------------------------------------


def test_daily_promise_is_made_and_told_in_the_group(session: Session) -> None:
    couple, ana, _ben = make_couple(session)
    effects = promise_cmd(session, ANA_ID, "put my phone away at dinner daily")
    assert keys(effects) == ["promises.made"]
    shown = all_text(effects)
    assert "#1 to Ben" in shown and "put my phone away at dinner" in shown
    assert "every day" in shown and "09:00" in shown and "21:00" in shown
    promise = only_promise(session)
    assert (promise.partner_id, promise.repeat, promise.remind_at) == (ana.id, "daily", "09:00")
    # Made at 18:00, after today's 09:00 nudge: it starts tomorrow.
    assert [(t.kind, t.due_at) for t in pending(session)] == [
        ("promise.nudge", utc(2026, 11, 26, 9, 0)),
        ("promise.ask", utc(2026, 11, 26, 21, 0)),
    ]
    assert sends(effects)[0].to == ToChat(couple.group_chat_id)


def test_promise_made_in_private_is_told_to_the_other_partner(session: Session) -> None:
    _couple, _ana, ben = make_couple(session)
    effects = promise_cmd(session, ANA_ID, "plan a walk tomorrow", private=True)
    told = [s for s in sends(effects) if s.body.key == "promises.told_other"]
    assert len(told) == 1 and told[0].to == ToPartner(ben.id or 0)
    assert "Ana made you a small promise" in all_text(effects)


def test_nudge_and_question_use_each_promisers_own_zone(session: Session) -> None:
    _couple, ana, _ben = make_couple(session, zone="Europe/Berlin")
    ana.timezone = "Asia/Tokyo"
    session.add(ana)
    # T0 is 03:00 on Thursday in Tokyo and 19:00 on Wednesday in Berlin.
    ana_made = promise_cmd(session, ANA_ID, "send a good-morning message daily")
    ben_made = promise_cmd(session, BEN_ID, "make tea weekdays")
    ana_timers = [t.due_at for t in pending(session) if t.ref == "promise:1"]
    ben_timers = [t.due_at for t in pending(session) if t.ref == "promise:2"]
    assert ana_timers == [utc(2026, 11, 26, 0, 0), utc(2026, 11, 26, 12, 0)]  # 09:00, 21:00 Tokyo
    assert ben_timers == [utc(2026, 11, 26, 8, 0), utc(2026, 11, 26, 20, 0)]  # Berlin
    # The two live in different zones, so times name whose zone they are in.
    assert "09:00 (Tokyo)" in all_text(ana_made)
    assert "09:00 (Berlin)" in all_text(ben_made)


def test_missing_when_asks_with_six_buttons_and_a_tap_makes_it(session: Session) -> None:
    _couple, _ana, _ben = make_couple(session)
    asked = promise_cmd(session, ANA_ID, "call mum soon")
    assert keys(asked) == ["promises.ask_when"]
    draft = session.exec(select(Promise)).one()
    assert draft.state == "draft" and not pending(session)
    choices = button_data(sends(asked)[0])
    assert [c.split("|")[3] for c in choices] == [
        "tonight",
        "tomorrow",
        "3days",
        "nextweek",
        "daily",
        "weekdays",
    ]
    made = press(session, ANA_ID, choices[1])
    assert "promises.made" in keys(made)
    assert draft.state == "active" and draft.due_on == date(2026, 11, 26)
    assert [t.kind for t in pending(session)] == ["promise.nudge", "promise.ask"]
    # Pressed again: it was made already, nothing more happens.
    assert keys(press(session, ANA_ID, choices[4])) == ["common.button_expired"]
    assert draft.repeat == "once"


def test_every_when_button_gives_its_schedule(session: Session) -> None:
    make_couple(session)
    expected = {
        "tonight": ("once", date(2026, 11, 25)),
        "tomorrow": ("once", date(2026, 11, 26)),
        "3days": ("once", date(2026, 11, 28)),
        "nextweek": ("once", date(2026, 12, 2)),
        "daily": ("daily", None),
        "weekdays": ("weekdays", None),
    }
    for action, (repeat, due_on) in expected.items():
        promise_cmd(session, ANA_ID, "something kind", cap=10)
        draft = session.exec(select(Promise).where(Promise.state == "draft")).one()
        promises.press_when(
            session,
            in_group(ANA_ID),
            buttons.Press(promises.WHEN, draft.id or 0, action),
            T0,
            cap=10,
        )
        assert (draft.repeat, draft.due_on) == (repeat, due_on), action


def test_tonight_made_after_the_evening_question_moves_to_tomorrow(session: Session) -> None:
    make_couple(session)
    promise_cmd(session, ANA_ID, "cook for us tonight", utc(2026, 11, 25, 21, 30))
    assert only_promise(session).due_on == date(2026, 11, 26)


def test_a_fourth_promise_gets_a_kind_note_about_keeping_them_few(session: Session) -> None:
    make_couple(session)
    for what in ["a daily", "b weekly", "c tomorrow"]:
        assert keys(promise_cmd(session, ANA_ID, what)) == ["promises.made"]
    fourth = promise_cmd(session, ANA_ID, "d daily")
    assert keys(fourth) == ["promises.cap_reached"]
    assert "3 promises going" in all_text(fourth) and "/drop" in all_text(fourth)
    assert len(session.exec(select(Promise)).all()) == 3
    # The cap is per partner: Ben can still make his own.
    assert keys(promise_cmd(session, BEN_ID, "e daily")) == ["promises.made"]


def test_the_cap_is_configurable(session: Session) -> None:
    make_couple(session)
    promise_cmd(session, ANA_ID, "a daily", cap=1)
    assert keys(promise_cmd(session, ANA_ID, "b daily", cap=1)) == ["promises.cap_reached"]
    assert keys(promise_cmd(session, ANA_ID, "b daily", cap=5)) == ["promises.made"]


def test_the_cap_also_holds_when_the_time_is_picked_by_button(session: Session) -> None:
    make_couple(session)
    asked = promise_cmd(session, ANA_ID, "call mum soon", cap=2)
    promise_cmd(session, ANA_ID, "a daily", cap=2)
    promise_cmd(session, ANA_ID, "b daily", cap=2)
    draft = session.exec(select(Promise).where(Promise.state == "draft")).one()
    tap = promises.press_when(
        session,
        in_group(ANA_ID),
        buttons.parse(button_data(sends(asked)[0])[0]) or buttons.Press("", 0, ""),
        T0,
        cap=2,
    )
    assert keys(tap) == ["promises.cap_reached"]
    assert draft.state == "expired"


def test_too_long_promise_is_refused_with_the_limit(session: Session) -> None:
    make_couple(session)
    effects = promise_cmd(session, ANA_ID, "be kind " * 40 + "daily")
    assert keys(effects) == ["common.too_long"]
    assert str(promises.MAX_WHAT) in all_text(effects)
    assert session.exec(select(Promise)).all() == []


def test_empty_promise_gets_examples(session: Session) -> None:
    make_couple(session)
    for args in ["daily", "  tomorrow  "]:
        effects = promise_cmd(session, ANA_ID, args)
        assert keys(effects) == ["promises.usage"]
    assert session.exec(select(Promise)).all() == []


def test_strangers_cannot_make_promises_for_the_couple(session: Session) -> None:
    make_couple(session)
    effects = promise_cmd(session, STRANGER_ID, "call mum daily")
    assert keys(effects) == ["common.only_partners"]
    assert session.exec(select(Promise)).all() == []


def test_a_night_time_is_moved_into_the_day_and_says_so(session: Session) -> None:
    make_couple(session)
    effects = promise_cmd(session, ANA_ID, "go for a walk daily at 23:00")
    assert only_promise(session).remind_at == "20:30"
    assert "don't write at night" in all_text(effects)


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
        Send(ToChat(ANA_ID), promises.text("common.private_only_me", other="Ben"))
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


# ---- follow-through and the list -----------------------------------------------------------


def test_follow_through_counts_this_week_and_four_weeks(session: Session) -> None:
    couple, ana, _ben = make_couple(session)
    promise_cmd(session, ANA_ID, "make tea daily")
    promise = only_promise(session)
    sunday = date(2026, 11, 29)
    outcomes = ["kept", "kept", "not_kept", "kept", "asked", "kept", "kept"]  # Mon..Sun
    for offset, outcome in enumerate(outcomes):
        session.add(
            PromiseCheck(
                promise_id=promise.id or 0,
                couple_id=couple.id or 0,
                day=sunday - timedelta(days=6 - offset),
                asked_at=T0,
                outcome=outcome,
            )
        )
    for offset in range(7, 28):  # three earlier weeks, every other day kept
        session.add(
            PromiseCheck(
                promise_id=promise.id or 0,
                couple_id=couple.id or 0,
                day=sunday - timedelta(days=offset),
                asked_at=T0,
                outcome="kept" if offset % 2 else "not_kept",
            )
        )
    session.add(
        PromiseCheck(
            promise_id=promise.id or 0,
            couple_id=couple.id or 0,
            day=sunday - timedelta(days=40),
            asked_at=T0,
            outcome="kept",
        )
    )
    session.flush()
    evening = utc(2026, 11, 29, 21, 30)
    counts = promises.follow_through(session, promise, promises.zone_of(couple, ana), evening)
    assert (counts.week_kept, counts.week_asked) == (5, 7)
    assert (counts.month_kept, counts.month_asked) == (5 + 11, 28)
    listed = all_text(promises.list_promises(session, in_group(BEN_ID), "", evening))
    assert "This week: kept 5 of 7. Last 4 weeks: 16 of 28." in listed


def test_promises_lists_both_partners_with_change_buttons(session: Session) -> None:
    make_couple(session)
    promise_cmd(session, ANA_ID, "make tea daily")
    promise_cmd(session, BEN_ID, "call your mum by Friday")
    listed = promises.list_promises(session, in_group(BEN_ID), "", T0)
    shown = all_text(listed)
    assert "#1 Ana: “make tea”, every day, nudge at 09:00" in shown
    assert "#2 Ben: “call your mum”, for Fri 27 Nov" in shown
    assert "Not asked about yet." in shown
    change = button_data(sends(listed)[0])
    assert [d.split("|")[1:] for d in change] == [["pc", "1", "menu"], ["pc", "2", "menu"]]
    # Ben tapping "Change #1" (Ana's) is told it is hers.
    assert keys(press(session, BEN_ID, change[0])) == ["promises.not_yours"]
    menu = press(session, ANA_ID, change[0])
    assert "promises.change_menu" in keys(menu)


def test_settings_show_how_many_promises_each_has(session: Session) -> None:
    from flows import onboarding

    make_couple(session)
    promise_cmd(session, ANA_ID, "make tea daily")
    shown = all_text(onboarding.show_settings(session, in_group(BEN_ID), "", T0))
    assert "Promises going for Ana: 1" in shown and "Promises going for Ben: 0" in shown


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


# ---- from a check-in or repair -------------------------------------------------------------


def test_a_promise_can_be_offered_from_another_feature(session: Session) -> None:
    _couple, ana, _ben = make_couple(session)
    assert hooks.promises_available()
    offered = run(session, hooks.offer_promise(session, ana, "listen without my phone", T0))
    question = sends(offered)[0]
    assert question.body.key == "promises.ask_when" and question.to == ToPartner(ana.id or 0)
    press(session, ANA_ID, button_data(question)[4], private=True)  # daily
    promise = only_promise(session)
    assert (promise.what, promise.repeat) == ("listen without my phone", "daily")
    too_long = hooks.offer_promise(session, ana, "x" * 500, T0)
    assert keys(too_long) == ["promises.offer_too_long"]


# ---- forged and stale buttons --------------------------------------------------------------


def test_forged_and_stale_buttons_change_nothing(session: Session) -> None:
    couple, _ana, _ben = make_couple(session)
    other_couple, _x, _y = make_couple(
        session, group_id=-2002, names=("Cleo", "Dan"), user_ids=(STRANGER_ID, 404)
    )
    promise_cmd(session, ANA_ID, "make tea daily")
    fire(session, "promise.ask", utc(2026, 11, 26, 21, 0))
    promise = only_promise(session)
    check = session.exec(select(PromiseCheck)).one()
    kept = buttons.data(promises.ANSWER, check.id or 0, "kept")
    stranger = in_group(STRANGER_ID, group_id=-2002)
    timers_before = len(pending(session))

    attempts = [
        (stranger, kept),
        (stranger, buttons.data(promises.CHANGE, promise.id or 0, "drop")),
        (stranger, buttons.data(promises.WHEN, promise.id or 0, "daily")),
        (in_group(ANA_ID), buttons.data(promises.ANSWER, 999, "kept")),
        (in_group(ANA_ID), buttons.data(promises.ANSWER, check.id or 0, "explode")),
        (in_group(ANA_ID), buttons.data(promises.CHANGE, promise.id or 0, "explode")),
        (in_group(ANA_ID), buttons.data(promises.NOTICED, check.id or 0, "yes")),  # not kept yet
        (in_group(ANA_ID, group_id=-2002), kept),  # Ana, but in a group that isn't theirs
    ]
    for actor, data in attempts:
        effects = buttons.handle_press(session, actor, data, T0)
        assert keys(effects) in (["common.button_expired"], ["common.button_for_couple"]), data
    # Ben pressing Ana's "Kept" is told it is hers.
    assert keys(press(session, BEN_ID, kept)) == ["promises.not_yours"]
    assert (check.outcome, promise.state) == ("asked", "active")
    assert len(pending(session)) == timers_before

    # Answered once; the same button again is stale.
    press(session, ANA_ID, kept)
    assert keys(press(session, ANA_ID, buttons.data(promises.ANSWER, check.id or 0, "not"))) == [
        "common.button_expired"
    ]
    assert check.outcome == "kept" and promise.misses_in_row == 0
    # After a drop, the promise's buttons are all stale.
    press(session, ANA_ID, buttons.data(promises.CHANGE, promise.id or 0, "drop"))
    for action in ["words", "when", "keep", "drop", "menu"]:
        effects = press(session, ANA_ID, buttons.data(promises.CHANGE, promise.id or 0, action))
        assert keys(effects) == ["common.button_expired"]
    assert promise.state == "dropped"
    assert couple.id != other_couple.id


def test_when_buttons_of_an_abandoned_draft_expire(session: Session) -> None:
    make_couple(session)
    first = promise_cmd(session, ANA_ID, "call mum soon")
    promise_cmd(session, ANA_ID, "call dad soon")
    stale = button_data(sends(first)[0])[0]
    assert keys(press(session, ANA_ID, stale)) == ["common.button_expired"]
    drafts = session.exec(select(Promise).where(Promise.state == "draft")).all()
    assert [d.what for d in drafts] == ["call dad"]


def test_a_leaving_partner_ends_the_couples_promises(session: Session) -> None:
    from flows import onboarding

    _couple, ana, _ben = make_couple(session)
    promise_cmd(session, ANA_ID, "make tea daily")
    promise_cmd(session, BEN_ID, "make dinner daily")
    run(
        session,
        buttons.handle_press(
            session, in_group(ANA_ID), buttons.data(onboarding.LEAVE, ana.id or 0, "yes"), T0
        ),
    )
    assert {p.state for p in session.exec(select(Promise))} == {"ended"}
    assert pending(session) == []
    assert session.get(Partner, ana.id) is None
    assert session.exec(select(Couple)).one()


def test_notices_are_short_answers_to_presses(session: Session) -> None:
    make_couple(session)
    promise_cmd(session, ANA_ID, "make tea daily")
    fire(session, "promise.ask", utc(2026, 11, 26, 21, 0))
    kept = press(session, ANA_ID, answer_data(session, "kept"))
    assert [n.body.key for n in notices(kept)] == ["promises.kept_notice"]


def test_promise_words_are_encrypted_at_rest_when_a_key_is_set(session: Session) -> None:
    from sqlalchemy import text as sql

    from flows.secret import configure_data_key, generate_key

    make_couple(session)
    configure_data_key(generate_key())
    try:
        promise_cmd(session, ANA_ID, "put my phone away at dinner daily")
        stored = session.execute(sql("SELECT what FROM promise")).scalar_one()
        assert stored.startswith("enc1:") and "phone" not in stored
        assert only_promise(session).what == "put my phone away at dinner"
    finally:
        configure_data_key(None)


def test_a_real_pause_quiets_nudges_until_back(session: Session) -> None:
    from flows import pause

    make_couple(session)
    promise_cmd(session, ANA_ID, "make tea daily")
    nine = utc(2026, 11, 26, 9, 0)
    run(session, pause.pause(session, in_group(BEN_ID), "60", nine - timedelta(minutes=5)), nine)
    assert pause.active_pause(session, 1) is not None
    assert sends(fire(session, "promise.nudge", nine)) == []
    run(session, pause.back(session, in_group(BEN_ID), "", nine + timedelta(minutes=10)))
    run(session, pause.back(session, in_group(ANA_ID), "", nine + timedelta(minutes=10)))
    assert pause.active_pause(session, 1) is None
    assert keys(fire(session, "promise.nudge", nine + timedelta(minutes=15))) == ["promises.nudge"]
