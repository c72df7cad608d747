"""The check-in's calendar, as plain functions: the weekly start in the couple's zone, the
reminder kept out of the night, "tomorrow, same time", and the streak. No database."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flows.checkin.model import START, Checkin, CheckinSchedule, CheckinState, schedule_ref
from flows.couples import zone_of
from flows.models import Couple
from flows.outcome import CancelTimers, Effects, SetTimer
from flows.recurrence import local_to_utc, next_weekly

REMIND_AFTER = timedelta(hours=4)
CLOSE_AFTER = timedelta(hours=48)
# A reminder that would land in these local hours waits for the morning.
NIGHT_FROM, MORNING = time(22, 0), time(9, 0)
# A check-in started this recently (say with /checkin now) stands in for the scheduled one.
RECENT_ENOUGH = timedelta(hours=72)


# While a break (/pause) is on, a check-in start or reminder waits and looks again this late:
# questions about the week should not land in the middle of a fight.
QUIET_RETRY = timedelta(minutes=30)


def next_occurrence(schedule: CheckinSchedule, couple: Couple, after: datetime) -> datetime:
    return next_weekly(after, schedule.weekday, schedule.at_time, zone_of(couple))


def plan_next(schedule: CheckinSchedule, couple: Couple, after: datetime) -> Effects:
    """Replace the couple's scheduled start with the next one (none while switched off)."""
    ref = schedule_ref(couple.id or 0)
    effects: Effects = [CancelTimers(couple.id or 0, ref=ref)]
    # A new couple's zone waits for a partner's word: nothing is planned in a zone nobody chose.
    if schedule.active and not couple.zone_pending:
        due = next_occurrence(schedule, couple, after)
        effects.append(
            SetTimer(
                START,
                couple.id or 0,
                due,
                {"weekday": schedule.weekday, "at": schedule.at},
                ref=ref,
            )
        )
    return effects


def reminder_time(wanted: datetime, zone: ZoneInfo) -> datetime:
    """`wanted`, or the next morning when it falls in that zone's night."""
    local = wanted.astimezone(zone)
    if MORNING <= local.time() < NIGHT_FROM:
        return wanted
    day = local.date() + timedelta(days=1) if local.time() >= NIGHT_FROM else local.date()
    return local_to_utc(day, MORNING, zone)


def same_time_tomorrow(checkin_row: Checkin, couple: Couple, now: datetime) -> datetime:
    zone = zone_of(couple)
    planned = checkin_row.planned_at.astimezone(zone)
    day, at, moment = (
        planned.date(),
        planned.time().replace(second=0, microsecond=0),
        checkin_row.planned_at,
    )
    while moment <= now:
        day += timedelta(days=1)
        moment = local_to_utc(day, at, zone)
    return moment


def streak_weeks(checkins: Sequence[tuple[datetime, str]], zone: ZoneInfo, now: datetime) -> int:
    """The streak from each check-in's planned time and state (see flow.streak): weeks
    with one done, counted back from this week on the couple's calendar."""
    if not checkins:
        return 0

    def week_of(moment: datetime) -> date:
        day = moment.astimezone(zone).date()
        return day - timedelta(days=day.weekday())

    done = {week_of(planned_at) for planned_at, state in checkins if state == CheckinState.DONE}
    ended = {
        week_of(planned_at)
        for planned_at, state in checkins
        if state not in (CheckinState.OPEN, CheckinState.SNOOZED)
    }
    first = min(week_of(planned_at) for planned_at, _state in checkins)
    week = this_week = week_of(now)
    count = misses = 0
    while week >= first:
        if week in done:
            count, misses = count + 1, 0
        elif week != this_week or week in ended:
            misses += 1
            if misses >= 2:
                break
        week -= timedelta(days=7)
    return count
