"""Next occurrences of recurring things, in a couple's or partner's own time zone.

Local wall-clock time is what people agreed to ("Sunday 19:00"), so occurrences are
computed on the local calendar and only then turned into UTC. Across a daylight-saving
change the UTC instant moves and the local time stays put. A local time that does not
exist (the spring-forward gap) moves forward by the gap; an ambiguous one (autumn)
takes the first occurrence.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def local_to_utc(day: date, at: time, zone: ZoneInfo) -> datetime:
    # fold=0 (PEP 495) reads a gap time with the offset from before the change, which lands
    # it after the gap (02:30 -> 03:30), and an ambiguous time as its first occurrence.
    return datetime.combine(day, at).replace(tzinfo=zone, fold=0).astimezone(UTC)


def next_on_days(after: datetime, at: time, zone: ZoneInfo, weekdays: Iterable[int]) -> datetime:
    """The first moment strictly after `after` that falls on one of `weekdays` (Mon=0) at `at`."""
    allowed = set(weekdays)
    if not allowed:
        raise ValueError("no weekdays given")
    day = after.astimezone(zone).date()
    for offset in range(0, 8 + 7):
        candidate_day = day + timedelta(days=offset)
        if candidate_day.weekday() not in allowed:
            continue
        candidate = local_to_utc(candidate_day, at, zone)
        if candidate > after:
            return candidate
    raise AssertionError("unreachable: a week always has an allowed day")


def next_weekly(after: datetime, weekday: int, at: time, zone: ZoneInfo) -> datetime:
    return next_on_days(after, at, zone, [weekday])


def next_daily(after: datetime, at: time, zone: ZoneInfo) -> datetime:
    return next_on_days(after, at, zone, range(7))


def same_wall_time(moment: datetime, old: ZoneInfo, new: ZoneInfo) -> datetime:
    """The moment that shows the same local date and time in `new` as `moment` does in
    `old` (a Sunday 19:00 in Berlin becomes Sunday 19:00 in New York)."""
    wall = moment.astimezone(old).replace(tzinfo=None)
    return local_to_utc(wall.date(), wall.time(), new)
