"""The check-in's calendar, without a database: the weekly start, the reminder out of the
night, "tomorrow, same time" across a clock change, and the streak."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from flows.checkin.model import START, Checkin, CheckinSchedule, CheckinState
from flows.checkin.schedule import plan_next, reminder_time, same_time_tomorrow, streak_weeks
from flows.models import Couple
from flows.outcome import CancelTimers, SetTimer

BERLIN = ZoneInfo("Europe/Berlin")
# Wednesday 25 November 2026, noon in Berlin.
NOW = datetime(2026, 11, 25, 11, 0, tzinfo=UTC)
WEEK = timedelta(days=7)


def couple(**fields: object) -> Couple:
    return Couple(id=3, group_chat_id=-100, title="Us", timezone="Europe/Berlin", **fields)


def test_the_next_start_is_sunday_at_seven_in_the_couples_zone() -> None:
    effects = plan_next(CheckinSchedule(couple_id=3, updated_at=NOW), couple(), NOW)
    assert effects == [
        CancelTimers(3, ref="checkin-week:3"),
        SetTimer(
            START,
            3,
            datetime(2026, 11, 29, 18, 0, tzinfo=UTC),
            {"weekday": 6, "at": "19:00"},
            ref="checkin-week:3",
        ),
    ]


def test_nothing_is_planned_while_switched_off_or_while_the_zone_waits_for_a_word() -> None:
    off = CheckinSchedule(couple_id=3, updated_at=NOW, active=False)
    assert plan_next(off, couple(), NOW) == [CancelTimers(3, ref="checkin-week:3")]
    on = CheckinSchedule(couple_id=3, updated_at=NOW)
    assert plan_next(on, couple(zone_pending=True), NOW) == [CancelTimers(3, ref="checkin-week:3")]


def test_a_reminder_at_night_waits_for_nine_in_the_morning() -> None:
    late = datetime(2026, 11, 25, 21, 30, tzinfo=UTC)  # 22:30 in Berlin
    assert reminder_time(late, BERLIN) == datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
    early = datetime(2026, 11, 26, 5, 0, tzinfo=UTC)  # 06:00 in Berlin
    assert reminder_time(early, BERLIN) == datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
    ten_sharp = datetime(2026, 11, 25, 21, 0, tzinfo=UTC)  # 22:00: night begins
    assert reminder_time(ten_sharp, BERLIN) == datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
    nine_sharp = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)  # 09:00: day again
    assert reminder_time(nine_sharp, BERLIN) == nine_sharp
    assert reminder_time(NOW, BERLIN) == NOW


def test_tomorrow_same_time_keeps_the_wall_clock_across_the_autumn_change() -> None:
    # Saturday 24 October 2026, 19:00 in Berlin (summer time); the clocks go back that night.
    planned = datetime(2026, 10, 24, 17, 0, tzinfo=UTC)
    row = Checkin(couple_id=3, planned_at=planned, started_at=planned)
    tomorrow = same_time_tomorrow(row, couple(), planned + timedelta(hours=1))
    assert tomorrow == datetime(2026, 10, 25, 18, 0, tzinfo=UTC)  # 19:00 winter time


def sunday(weeks_ago: int) -> datetime:
    return datetime(2026, 11, 22, 18, 0, tzinfo=UTC) - weeks_ago * WEEK


def test_the_streak_counts_done_weeks_and_forgives_one_missed_week() -> None:
    done, missed = CheckinState.DONE, CheckinState.MISSED
    assert streak_weeks([], BERLIN, NOW) == 0
    three = [(sunday(0), done), (sunday(1), done), (sunday(2), done)]
    assert streak_weeks(three, BERLIN, NOW) == 3
    one_gap = [(sunday(0), done), (sunday(1), missed), (sunday(2), done)]
    assert streak_weeks(one_gap, BERLIN, NOW) == 2
    two_gaps = [(sunday(0), done), (sunday(1), missed), (sunday(2), missed), (sunday(3), done)]
    assert streak_weeks(two_gaps, BERLIN, NOW) == 1
    # Weeks without any check-in are misses too.
    two_empty_weeks = [(sunday(0), done), (sunday(3), done)]
    assert streak_weeks(two_empty_weeks, BERLIN, NOW) == 1


def test_this_weeks_open_check_in_does_not_count_against_the_streak() -> None:
    next_sunday = datetime(2026, 11, 29, 18, 0, tzinfo=UTC)
    later = next_sunday + timedelta(hours=1)
    still_open = [(next_sunday, CheckinState.OPEN), (sunday(0), CheckinState.DONE)]
    assert streak_weeks(still_open, BERLIN, later) == 1
    skipped = [(next_sunday, CheckinState.SKIPPED), (sunday(0), CheckinState.DONE)]
    assert streak_weeks(skipped, BERLIN, later) == 1
    # Ended without being done, this week counts: with last week's miss, two in a row.
    two_in_a_row = [
        (next_sunday, CheckinState.SKIPPED),
        (sunday(0), CheckinState.MISSED),
        (sunday(1), CheckinState.DONE),
    ]
    assert streak_weeks(two_in_a_row, BERLIN, later) == 0
