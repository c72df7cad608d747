"""The calendar of a promise, as plain functions: which days, at what time, which timers.

Times of day are the promiser's own, in their zone (`flows/recurrence.py` turns a local
day and time into UTC across daylight-saving changes). Nothing is sent at night: a nudge
asked for before 08:00 or after 20:30 is moved, and "kept?" comes at 21:00. No database.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flows.outcome import CancelTimers, Effects, SetTimer
from flows.promises.model import ASK_KIND, NUDGE_KIND, Promise, PromiseState, ref
from flows.recurrence import local_to_utc
from flows.timeparse import DAILY, ONCE, WEEKDAYS, WEEKLY, When

DEFAULT_REMINDER = time(9, 0)
EVENING_REMINDER = time(18, 0)
# "Kept?" comes once a day, in the evening, before the night begins.
ASK_AT = time(21, 0)
# Nothing is sent at night in the promiser's zone: from NIGHT_FROM until MORNING.
NIGHT_FROM = time(22, 0)
MORNING = time(8, 0)
LATEST_REMINDER = time(20, 30)

REPEATS = {DAILY: range(7), WEEKDAYS: range(5)}

# The "when?" buttons: the action each carries, and the schedule it means.
WHEN_CHOICES: dict[str, When] = {
    "tonight": When(ONCE, in_days=0, evening=True),
    "tomorrow": When(ONCE, in_days=1),
    "3days": When(ONCE, in_days=3),
    "nextweek": When(ONCE, in_days=7),
    "daily": When(DAILY),
    "weekdays": When(WEEKDAYS),
}


def hhmm(at: time) -> str:
    return at.strftime("%H:%M")


def remind_time(promise: Promise) -> time:
    hours, minutes = promise.remind_at.split(":")
    return time(int(hours), int(minutes))


def days_of(promise: Promise) -> range | tuple[int, ...]:
    if promise.repeat == WEEKLY:
        return (promise.weekday or 0,)
    return REPEATS.get(promise.repeat or "", range(7))


def at_night(moment: datetime, zone: ZoneInfo) -> bool:
    clock = moment.astimezone(zone).time()
    return clock >= NIGHT_FROM or clock < MORNING


def daytime_after(moment: datetime, zone: ZoneInfo) -> datetime:
    """`moment`, or the next morning when it falls at night in `zone`."""
    if not at_night(moment, zone):
        return moment
    local = moment.astimezone(zone)
    day = local.date() if local.time() < MORNING else local.date() + timedelta(days=1)
    return local_to_utc(day, MORNING, zone)


def ask_moment(day: date, zone: ZoneInfo) -> datetime:
    return local_to_utc(day, ASK_AT, zone)


def nudge_moment(promise: Promise, day: date, zone: ZoneInfo) -> datetime:
    return local_to_utc(day, remind_time(promise), zone)


def once_day(when: When, zone: ZoneInfo, now: datetime) -> date:
    today = now.astimezone(zone).date()
    if when.weekday is not None:
        day = today + timedelta(days=1 if when.after_today else 0)
        while day.weekday() != when.weekday or ask_moment(day, zone) <= now:
            day += timedelta(days=1)
        return day
    day = today + timedelta(days=when.in_days or 0)
    # "Tonight" said after the evening question has passed: tomorrow, not a night nudge.
    while ask_moment(day, zone) <= now:
        day += timedelta(days=1)
    return day


def occurrences(promise: Promise, start: date) -> Iterator[date]:
    if promise.repeat == ONCE:
        if promise.due_on is not None and promise.due_on >= start:
            yield promise.due_on
        return
    allowed = set(days_of(promise))
    for offset in range(0, 15):
        day = start + timedelta(days=offset)
        if day.weekday() in allowed:
            yield day


def first_day(promise: Promise, zone: ZoneInfo, now: datetime) -> date | None:
    """The first day that still has its evening question ahead (recurring: its nudge too)."""
    today = now.astimezone(zone).date()
    for day in occurrences(promise, today):
        if promise.repeat == ONCE:
            return day if ask_moment(day, zone) > now else None
        if nudge_moment(promise, day, zone) > now:
            return day
    return None


def next_day(promise: Promise, after: date, zone: ZoneInfo, now: datetime) -> date | None:
    """The next day of a recurring promise after `after` whose question is still ahead."""
    if promise.repeat == ONCE:
        return None
    start = max(after + timedelta(days=1), now.astimezone(zone).date())
    for day in occurrences(promise, start):
        if ask_moment(day, zone) > now:
            return day
    return None


def timers_for(promise: Promise, day: date, zone: ZoneInfo, now: datetime) -> Effects:
    payload = {"promise": promise.id, "day": day.isoformat(), "v": promise.version}
    effects: Effects = []
    nudge_at = nudge_moment(promise, day, zone)
    if nudge_at > now:
        effects.append(SetTimer(NUDGE_KIND, promise.couple_id, nudge_at, payload, ref(promise)))
    effects.append(
        SetTimer(ASK_KIND, promise.couple_id, ask_moment(day, zone), payload, ref(promise))
    )
    return effects


def reschedule(promise: Promise, zone: ZoneInfo, now: datetime) -> tuple[Effects, date | None]:
    """Cancel the old timers and set the ones for the first day of the current schedule."""
    promise.version += 1
    effects: Effects = [CancelTimers(promise.couple_id, ref=ref(promise))]
    first = first_day(promise, zone, now)
    if first is not None:
        effects.extend(timers_for(promise, first, zone, now))
    return effects, first


def apply_when(
    promise: Promise, when: When, at: time | None, zone: ZoneInfo, now: datetime
) -> bool:
    """Set the schedule; True when the chosen time of day was moved out of the night."""
    chosen = at or (EVENING_REMINDER if when.evening else None)
    if chosen is None:
        # Keep a time of day chosen earlier when only the days change.
        chosen = remind_time(promise) if promise.state == PromiseState.ACTIVE else DEFAULT_REMINDER
    moved = False
    if chosen < MORNING:
        chosen, moved = MORNING, True
    elif chosen > LATEST_REMINDER:
        chosen, moved = LATEST_REMINDER, True
    promise.remind_at = hhmm(chosen)
    promise.repeat = when.repeat
    if when.repeat == ONCE:
        promise.weekday, promise.due_on = None, once_day(when, zone, now)
    else:
        promise.due_on = None
        promise.weekday = (
            (when.weekday if when.weekday is not None else now.astimezone(zone).weekday())
            if when.repeat == WEEKLY
            else None
        )
    return moved
