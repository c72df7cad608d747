"""The pause's rules of time, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flows.pause.model import Outcome
from flows.pause.rules import (
    ABSURD,
    MAXIMUM,
    counsel_due,
    extended_return,
    is_unclear,
    outcome_on_return,
    proposals,
)

T0 = datetime(2026, 11, 24, 18, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def test_zero_negative_and_over_a_week_are_not_lengths_anyone_means() -> None:
    assert is_unclear(timedelta())
    assert is_unclear(-5 * MIN)
    assert is_unclear(ABSURD + MIN)
    assert not is_unclear(MIN)
    assert not is_unclear(ABSURD)


def test_the_proposals_are_three_and_never_the_length_already_asked() -> None:
    assert proposals(60 * MIN) == [30, 120, 240]
    assert proposals(45 * MIN) == [30, 60, 120]
    assert proposals(240 * MIN) == [30, 60, 120]


def test_more_time_adds_20_minutes_to_the_later_of_now_and_the_return() -> None:
    assert extended_return(T0, T0 + 60 * MIN, T0 + 50 * MIN) == T0 + 80 * MIN
    assert extended_return(T0, T0 + 60 * MIN, T0 + 70 * MIN) == T0 + 90 * MIN


def test_more_time_may_reach_24_hours_but_not_pass_them() -> None:
    assert extended_return(T0, T0 + MAXIMUM - 20 * MIN, T0) == T0 + MAXIMUM
    assert extended_return(T0, T0 + MAXIMUM - 19 * MIN, T0) is None


def test_a_break_extended_ends_later_and_one_not_extended_on_time() -> None:
    assert outcome_on_return(0) == Outcome.ON_TIME
    assert outcome_on_return(2) == Outcome.LATER


def test_counselling_is_offered_from_the_third_break_not_returned_and_not_twice() -> None:
    two = [Outcome.NOT_RETURNED, Outcome.ON_TIME, Outcome.NOT_RETURNED, None]
    assert not counsel_due(two, offered_recently=False)
    three = [*two, Outcome.NOT_RETURNED]
    assert counsel_due(three, offered_recently=False)
    assert not counsel_due(three, offered_recently=True)
