"""The check-in's timers: the weekly start, the snoozed check-in coming back, the one
reminder, and the 48-hour close."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import or_
from sqlmodel import Session, col, select

from flows import hooks
from flows.checkin import asking, closing, wording
from flows.checkin.model import (
    ANSWERABLE,
    REMIND,
    START,
    Checkin,
    CheckinState,
    checkin_ref,
    opening_tag,
    schedule_of,
    schedule_ref,
    turn_of,
)
from flows.checkin.schedule import (
    QUIET_RETRY,
    RECENT_ENOUGH,
    plan_next,
    reminder_time,
)
from flows.couples import (
    partners_of,
    zone_of,
)
from flows.models import Couple, Partner
from flows.outcome import (
    EditTagged,
    Effects,
    Send,
    SetTimer,
    ToGroup,
    text,
)
from flows.recurrence import next_weekly
from flows.timers import Due


def _start_missed(session: Session, due: Due) -> Effects:
    """Mend was down at check-in time: say so, and keep the schedule going."""
    couple = session.get(Couple, due.couple_id)
    schedule = schedule_of(session, due.couple_id)
    if couple is None or schedule is None or couple.formed_at is None:
        return []
    return [
        *plan_next(schedule, couple, due.now),
        Send(ToGroup(couple.id or 0), text("checkin.missed_while_offline")),
    ]


def _start_due(session: Session, due: Due) -> Effects:
    """The weekly start: open a check-in and plan next week's (in local time)."""
    couple = session.get(Couple, due.couple_id)
    schedule = schedule_of(session, due.couple_id)
    if couple is None or schedule is None or not schedule.active or couple.formed_at is None:
        return []
    if hooks.is_quiet(session, couple.id or 0, due.now):
        return [
            SetTimer(
                START,
                couple.id or 0,
                due.now + QUIET_RETRY,
                dict(due.payload),
                ref=schedule_ref(couple.id or 0),
            )
        ]
    zone = zone_of(couple)
    # Should the zone have changed without a re-plan (an older row), find the real time.
    meant = next_weekly(due.due_at - timedelta(hours=30), schedule.weekday, schedule.at_time, zone)
    if meant > due.now + timedelta(minutes=1):
        return plan_next(schedule, couple, due.due_at - timedelta(hours=30))
    effects = plan_next(schedule, couple, max(due.now, meant))
    recent = session.exec(
        select(Checkin).where(
            Checkin.couple_id == couple.id,
            or_(
                col(Checkin.started_at) > due.now - RECENT_ENOUGH,
                col(Checkin.state).in_(ANSWERABLE),
            ),
        )
    ).first()
    if recent is not None:
        return effects
    return effects + asking.start_checkin(session, couple, due.now, planned_at=meant)


def _resume_due(session: Session, due: Due) -> Effects:
    """The snoozed check-in comes back: same questions, where each partner left off."""
    checkin_row = session.get(Checkin, int(due.payload.get("checkin_id", 0)))
    couple = session.get(Couple, due.couple_id)
    if checkin_row is None or couple is None or checkin_row.state != CheckinState.SNOOZED:
        return []
    checkin_row.state = CheckinState.OPEN
    checkin_row.started_at = due.now
    session.add(checkin_row)
    effects: Effects = [
        # Yesterday's "moved to tomorrow" with its [Skip this week] gives way to the new one.
        EditTagged(
            ToGroup(couple.id or 0),
            opening_tag(checkin_row),
            text("checkin.opening_line", outcome=text(f"checkin.outcome_{CheckinState.SNOOZED}")),
        ),
        wording.opening(checkin_row, can_snooze=False),
    ]
    for partner in partners_of(session, couple.id or 0):
        turn = turn_of(session, checkin_row.id or 0, partner.id or 0)
        if turn is not None and turn.finished_at is None and turn.asking:
            effects.append(wording.retire_question(checkin_row, partner.id or 0, turn.asking))
            effects.append(asking.ask(checkin_row, turn, partner, turn.asking, due.now))
    return effects + asking.timers_from(session, couple, checkin_row, due.now)


def _remind_due(session: Session, due: Due) -> Effects:
    """One gentle reminder to a partner who has not finished; never at night for them."""
    checkin_row = session.get(Checkin, int(due.payload.get("checkin_id", 0)))
    partner = session.get(Partner, int(due.payload.get("partner_id", 0)))
    couple = session.get(Couple, due.couple_id)
    if (
        checkin_row is None
        or partner is None
        or couple is None
        or checkin_row.state != CheckinState.OPEN
        or partner.couple_id != couple.id
    ):
        return []
    turn = turn_of(session, checkin_row.id or 0, partner.id or 0)
    if turn is None or turn.finished_at is not None or turn.reminded or not turn.asking:
        return []
    if hooks.is_quiet(session, couple.id or 0, due.now):
        return [
            SetTimer(
                REMIND,
                couple.id or 0,
                due.now + QUIET_RETRY,
                dict(due.payload),
                ref=checkin_ref(checkin_row),
            )
        ]
    later = reminder_time(due.now, zone_of(couple, partner))
    if later > due.now:  # night fell for them since this was planned (a zone change)
        return [
            SetTimer(REMIND, couple.id or 0, later, dict(due.payload), ref=checkin_ref(checkin_row))
        ]
    turn.reminded = True
    session.add(turn)
    return [
        wording.retire_question(checkin_row, partner.id or 0, turn.asking),
        asking.ask(
            checkin_row, turn, partner, turn.asking, due.now, intro=text("checkin.reminder")
        ),
    ]


def _close_due(session: Session, due: Due) -> Effects:
    """48 hours on: show what there is, or close quietly when nobody got to it."""
    checkin_row = session.get(Checkin, int(due.payload.get("checkin_id", 0)))
    couple = session.get(Couple, due.couple_id)
    if checkin_row is None or couple is None or checkin_row.state != CheckinState.OPEN:
        return []
    return closing.both_through(session, couple, checkin_row, due.now)
