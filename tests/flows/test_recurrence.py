"""Recurring things keep their local wall-clock time across daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from flows.recurrence import local_to_utc, next_on_days, next_weekly, same_wall_time

SUNDAY = 6
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def _weekly_run(zone: ZoneInfo, start: datetime, count: int) -> list[datetime]:
    moments, after = [], start
    for _ in range(count):
        after = next_weekly(after, SUNDAY, time(19, 0), zone)
        moments.append(after)
    return moments


@pytest.mark.parametrize(
    ("zone", "start", "offsets"),
    [
        # Berlin springs forward on 29 March 2026 and falls back on 25 October 2026.
        (BERLIN, datetime(2026, 3, 16, tzinfo=UTC), [18, 17, 17]),
        (BERLIN, datetime(2026, 10, 12, tzinfo=UTC), [17, 18, 18]),
        # New York springs forward on 8 March 2026 and falls back on 1 November 2026.
        (NEW_YORK, datetime(2026, 2, 23, tzinfo=UTC), [0, 23, 23]),
        (NEW_YORK, datetime(2026, 10, 19, tzinfo=UTC), [23, 0, 0]),
    ],
)
def test_sunday_1900_stays_sunday_1900_local_across_dst(
    zone: ZoneInfo, start: datetime, offsets: list[int]
) -> None:
    moments = _weekly_run(zone, start, 3)
    for moment in moments:
        local = moment.astimezone(zone)
        assert (local.weekday(), local.hour, local.minute) == (SUNDAY, 19, 0)
    assert [moment.hour for moment in moments] == offsets  # the UTC instant moves instead


def test_a_time_in_the_spring_forward_gap_moves_past_the_gap() -> None:
    moment = local_to_utc(date(2026, 3, 29), time(2, 30), BERLIN)
    assert moment.astimezone(BERLIN).hour == 3


def test_an_ambiguous_autumn_time_takes_the_first_occurrence() -> None:
    moment = local_to_utc(date(2026, 10, 25), time(2, 30), BERLIN)
    assert moment == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


def test_next_occurrence_is_strictly_after() -> None:
    exactly = datetime(2026, 11, 29, 19, 0, tzinfo=UTC)  # a Sunday 19:00 UTC
    assert next_weekly(exactly, SUNDAY, time(19, 0), ZoneInfo("UTC")) == datetime(
        2026, 12, 6, 19, 0, tzinfo=UTC
    )


def test_weekdays_skip_the_weekend() -> None:
    friday_evening = datetime(2026, 11, 27, 20, 0, tzinfo=UTC)
    monday = next_on_days(friday_evening, time(8, 0), ZoneInfo("UTC"), range(5))
    assert monday == datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def test_a_zone_change_keeps_the_wall_clock_time_whatever_the_offsets_do() -> None:
    # Sunday 29 March 2026, 19:00 in Berlin (summer time began that morning); New York has
    # been on summer time since 8 March.
    berlin_evening = datetime(2026, 3, 29, 17, 0, tzinfo=UTC)
    assert same_wall_time(berlin_evening, BERLIN, NEW_YORK) == datetime(
        2026, 3, 29, 23, 0, tzinfo=UTC
    )
    # The week before, Berlin was still on winter time: the same 19:00, another offset.
    week_before = datetime(2026, 3, 22, 18, 0, tzinfo=UTC)
    assert same_wall_time(week_before, BERLIN, NEW_YORK) == datetime(2026, 3, 22, 23, 0, tzinfo=UTC)
    assert same_wall_time(berlin_evening, BERLIN, BERLIN) == berlin_evening
