"""The calendar of a promise, without a database: days, times of day, night, timers."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from flows.outcome import CancelTimers, SetTimer
from flows.promises.model import ASK_KIND, NUDGE_KIND, Promise, PromiseState
from flows.promises.schedule import (
    apply_when,
    daytime_after,
    first_day,
    next_day,
    reschedule,
)
from flows.timeparse import DAILY, ONCE, WEEKDAYS, WEEKLY, When

BERLIN = ZoneInfo("Europe/Berlin")
# Tuesday 24 November 2026, 10:00 in Berlin.
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def promise(**fields: object) -> Promise:
    return Promise(id=7, couple_id=1, partner_id=2, what="tea", created_at=NOW, **fields)


def test_a_time_of_day_at_night_is_moved_into_the_day_and_said_so() -> None:
    early = promise()
    assert apply_when(early, When(DAILY), time(6, 30), BERLIN, NOW) is True
    assert early.remind_at == "08:00"
    late = promise()
    assert apply_when(late, When(DAILY), time(23, 0), BERLIN, NOW) is True
    assert late.remind_at == "20:30"
    fine = promise()
    assert apply_when(fine, When(DAILY), time(20, 30), BERLIN, NOW) is False
    assert fine.remind_at == "20:30"


def test_tonight_is_at_six_and_only_the_days_changing_keeps_the_chosen_time() -> None:
    tonight = promise()
    apply_when(tonight, When(ONCE, in_days=0, evening=True), None, BERLIN, NOW)
    assert (tonight.remind_at, tonight.due_on) == ("18:00", date(2026, 11, 24))
    active = promise(state=PromiseState.ACTIVE, remind_at="07:45")
    apply_when(active, When(WEEKDAYS), None, BERLIN, NOW)
    assert active.remind_at == "08:00" and active.repeat == WEEKDAYS
    draft = promise()
    apply_when(draft, When(DAILY), None, BERLIN, NOW)
    assert draft.remind_at == "09:00"


def test_tonight_said_after_the_evening_question_means_tomorrow() -> None:
    after_nine = datetime(2026, 11, 24, 20, 30, tzinfo=UTC)  # 21:30 in Berlin
    late = promise()
    apply_when(late, When(ONCE, in_days=0, evening=True), None, BERLIN, after_nine)
    assert late.due_on == date(2026, 11, 25)


def test_weekly_without_a_day_is_the_weekday_it_was_made_on() -> None:
    weekly = promise()
    apply_when(weekly, When(WEEKLY), None, BERLIN, NOW)
    assert weekly.weekday == 1  # Tuesday


def test_the_first_day_of_a_daily_promise_is_tomorrow_once_todays_nudge_has_passed() -> None:
    daily = promise(state=PromiseState.ACTIVE, repeat=DAILY, remind_at="09:00")
    assert first_day(daily, BERLIN, NOW) == date(2026, 11, 25)
    evening = promise(state=PromiseState.ACTIVE, repeat=DAILY, remind_at="18:00")
    assert first_day(evening, BERLIN, NOW) == date(2026, 11, 24)


def test_weekdays_skip_the_weekend() -> None:
    weekdays = promise(state=PromiseState.ACTIVE, repeat=WEEKDAYS, remind_at="09:00")
    friday = date(2026, 11, 27)
    assert next_day(weekdays, friday, BERLIN, NOW) == date(2026, 11, 30)


def test_a_once_promise_has_no_next_day() -> None:
    once = promise(state=PromiseState.ACTIVE, repeat=ONCE, due_on=date(2026, 11, 25))
    assert first_day(once, BERLIN, NOW) == date(2026, 11, 25)
    assert next_day(once, date(2026, 11, 25), BERLIN, NOW) is None


def test_a_moment_at_night_waits_for_eight_in_the_morning() -> None:
    night = datetime(2026, 11, 24, 22, 0, tzinfo=UTC)  # 23:00 in Berlin
    assert daytime_after(night, BERLIN) == datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
    ten_sharp = datetime(2026, 11, 24, 21, 0, tzinfo=UTC)  # 22:00 in Berlin: night begins
    assert daytime_after(ten_sharp, BERLIN) == datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
    eight_sharp = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)  # 08:00 in Berlin: day again
    assert daytime_after(eight_sharp, BERLIN) == eight_sharp
    day = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
    assert daytime_after(day, BERLIN) == day


def test_rescheduling_cancels_the_old_timers_and_sets_nudge_and_question() -> None:
    daily = promise(state=PromiseState.ACTIVE, repeat=DAILY, remind_at="18:00", version=3)
    effects, first = reschedule(daily, BERLIN, NOW)
    assert first == date(2026, 11, 24) and daily.version == 4
    assert effects[0] == CancelTimers(1, ref="promise:7")
    timers = [e for e in effects if isinstance(e, SetTimer)]
    assert [(t.kind, t.due_at) for t in timers] == [
        (NUDGE_KIND, datetime(2026, 11, 24, 17, 0, tzinfo=UTC)),
        (ASK_KIND, datetime(2026, 11, 24, 20, 0, tzinfo=UTC)),
    ]
    assert timers[0].payload == {"promise": 7, "day": "2026-11-24", "v": 4}
