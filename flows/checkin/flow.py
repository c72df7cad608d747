"""The weekly check-in: four short questions each, answered apart, shown together.

A couple has one weekly schedule (default Sunday 19:00 in the couple's zone). The
schedule is a recurring durable timer: when one occurrence is handled, the next is
set, computed on the local calendar so it survives daylight-saving changes.

A check-in opens with one line in the group and each partner's first question: in
their private chat when they opened it, otherwise in the group as a question to reply
to (and the bot says there that both can read it). Answers stay unshown until both
partners are through all four questions; then both sets appear side by side in the
group. One reminder after a few hours (never at night in that partner's zone), and
after 48 hours the check-in closes with what there is, blaming no one.

This module holds the schedule, /checkin, /checkins and `FEATURE`; asking and answering
are in `asking.py`, showing the answers in `closing.py`, the timers in `due.py`, the
calendar in `schedule.py`, the words in `wording.py`.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from sqlmodel import Session, col, select

from flows import buttons, hooks
from flows.buttons import Press
from flows.checkin import asking, closing, wording
from flows.checkin.asking import answer_text, press_checkin, press_question
from flows.checkin.closing import press_promise, press_share
from flows.checkin.due import _close_due, _remind_due, _resume_due, _start_due, _start_missed
from flows.checkin.model import (
    CLOSE_KIND,
    DEFAULT_AT,
    DEFAULT_WEEKDAY,
    KIND_CHECKIN,
    KIND_MENU,
    KIND_PROMISE,
    KIND_QUESTION,
    KIND_SHARE,
    KIND_TIME,
    MOVE_TAG,
    REMIND,
    RESUME,
    START,
    Checkin,
    CheckinSchedule,
    CheckinState,
    schedule_of,
    turn_of,
    unfinished,
)
from flows.checkin.schedule import (
    next_occurrence,
    plan_next,
    streak_weeks,
)
from flows.couples import (
    Actor,
    Membership,
    guard,
    language_of_user,
    partner_of_user,
    shown_when,
    zone_label,
    zone_of,
)
from flows.feature import Feature
from flows.inputs import Said
from flows.models import Couple, Partner
from flows.onboarding import couple_zone
from flows.outcome import (
    ClockTime,
    Day,
    EditOrigin,
    Effects,
    Send,
    Text,
    ToChat,
    ToGroup,
    keyboard,
    text,
)
from flows.timeparse import is_word, parse_weekly
from flows.timers import TimerKind

HISTORY_SHOWN = 8

# ---- the schedule -----------------------------------------------------------------


def ensure_schedule(
    session: Session, couple: Couple, now: datetime
) -> tuple[CheckinSchedule, Effects]:
    """The couple's schedule; a new couple gets Sunday 19:00 and its first timer."""
    schedule = schedule_of(session, couple.id or 0)
    if schedule is not None:
        return schedule, []
    schedule = CheckinSchedule(couple_id=couple.id or 0, updated_at=now)
    session.add(schedule)
    session.flush()
    return schedule, plan_next(schedule, couple, now)


def _on_formed(session: Session, couple: Couple, now: datetime) -> Effects:
    """A couple that forms (again) gets its weekly schedule planned."""
    schedule, created = ensure_schedule(session, couple, now)
    return created or plan_next(schedule, couple, now)


def _on_zone_change(session: Session, couple: Couple, now: datetime) -> Effects:
    """Sunday 19:00 stays Sunday 19:00 in the couple's new zone."""
    schedule = schedule_of(session, couple.id or 0)
    return plan_next(schedule, couple, now) if schedule is not None else []


def _on_leave(session: Session, couple: Couple, partner: Partner, now: datetime) -> Effects:
    # Onboarding cancels every timer of the couple; what is left open ends here.
    effects: Effects = []
    for checkin in unfinished(session, couple.id or 0):
        effects.extend(closing.finish(session, checkin, CheckinState.STOPPED, now))
    return effects


def _settings(session: Session, couple: Couple, reader: Partner) -> list[Text]:
    schedule = schedule_of(session, couple.id or 0)
    if schedule is not None and not schedule.active:
        return [text("checkin.settings_off")]
    weekday = schedule.weekday if schedule else DEFAULT_WEEKDAY
    at = schedule.at if schedule else DEFAULT_AT.strftime("%H:%M")
    return [
        text(
            "checkin.settings_on",
            day=text(f"checkin.days_{weekday}"),
            at=ClockTime(time.fromisoformat(at)),
            zone=zone_label(zone_of(couple)),
        )
    ]


# ---- /checkin and /checkins -------------------------------------------------------


def checkin(session: Session, actor: Actor, args: str, now: datetime) -> Effects:
    """/checkin: the schedule; `now`, `off`, `on`, or a new day and time."""
    found = guard(session, actor, now)
    if not isinstance(found, Membership):
        return found
    couple = found.couple
    # Couples formed before check-ins existed get their schedule here, the first time.
    schedule, planned = ensure_schedule(session, couple, now)
    wanted = " ".join(args.lower().split())
    language = found.partner.language
    if not wanted or is_word(wanted, "status", language):
        return planned + _status(session, actor, found, schedule, now, menu=not wanted)
    if is_word(wanted, "now", language):
        return planned + _start_now(session, actor, found, now)
    if is_word(wanted, "off", language):
        schedule.active = False
        schedule.updated_at = now
        session.add(schedule)
        return [
            *plan_next(schedule, couple, now),
            Send(
                ToGroup(found.couple_id),
                text("checkin.switched_off", name=found.partner.first_name),
            ),
        ]
    if is_word(wanted, "on", language):
        schedule.active = True
        schedule.updated_at = now
        session.add(schedule)
        return [
            *plan_next(schedule, couple, now),
            Send(
                ToGroup(found.couple_id),
                text(
                    "checkin.switched_on",
                    name=found.partner.first_name,
                    schedule=wording.schedule_text(schedule),
                    next=shown_when(
                        session, couple, next_occurrence(schedule, couple, now), zone_named=True
                    ),
                ),
            ),
        ]
    parsed = parse_weekly(wanted, language) if len(wanted) <= 40 else None
    if parsed is None:
        return [*planned, Send(ToChat(actor.chat_id), text("checkin.not_understood"))]
    if parsed.at is None:
        # "sunday evening": a day and part of it; the exact hour is a tap away.
        choices = [
            buttons.button(
                text(
                    "checkin.button_time",
                    day=text(f"checkin.days_{parsed.weekday}"),
                    at=ClockTime(choice),
                ),
                KIND_TIME,
                found.couple_id,
                f"{parsed.weekday}{choice.strftime('%H%M')}",
            )
            for choice in parsed.choices
        ]
        return [
            *planned,
            Send(ToChat(actor.chat_id), text("checkin.pick_time"), buttons=keyboard(choices)),
        ]
    return [*planned, *_move(session, found, parsed.weekday, parsed.at, now)]


def _move(session: Session, found: Membership, weekday: int, at: time, now: datetime) -> Effects:
    """The weekly check-in moves to `weekday` at `at`, and both hear so in the group."""
    schedule, _planned = ensure_schedule(session, found.couple, now)
    schedule.weekday, schedule.at = weekday, at.strftime("%H:%M")
    schedule.active = True
    schedule.updated_at = now
    session.add(schedule)
    couple = found.couple
    return [
        *plan_next(schedule, couple, now),
        Send(
            ToGroup(found.couple_id),
            text(
                "checkin.moved",
                name=found.partner.first_name,
                schedule=wording.schedule_text(schedule),
                next=shown_when(
                    session, couple, next_occurrence(schedule, couple, now), zone_named=True
                ),
            ),
        ),
    ]


def press_time(session: Session, actor: Actor, press: Press, now: datetime) -> Effects:
    """One of the times offered for "sunday evening": the check-in moves there."""
    found = guard(session, actor, now)
    if not isinstance(found, Membership) or found.couple_id != press.target_id:
        return buttons.expired()
    action = press.action
    if len(action) != 5 or not action.isdigit() or int(action[0]) > 6:
        return buttons.expired()
    hour, minute = int(action[1:3]), int(action[3:])
    if hour > 23 or minute > 59:
        return buttons.expired()
    return [EditOrigin(buttons=()), *_move(session, found, int(action[0]), time(hour, minute), now)]


def _status(
    session: Session,
    actor: Actor,
    found: Membership,
    schedule: CheckinSchedule,
    now: datetime,
    *,
    menu: bool = False,
) -> Effects:
    couple = found.couple
    reader = found.partner if actor.in_private else None
    if not schedule.active:
        lines: list[Text] = [text("checkin.status_off")]
    else:
        lines = [
            text(
                "checkin.status_on",
                schedule=wording.schedule_text(schedule),
                next=shown_when(
                    session,
                    couple,
                    next_occurrence(schedule, couple, now),
                    reader=reader,
                    zone_named=True,
                ),
            )
        ]
        if couple.zone_pending:
            lines.append(text("onboarding.status_zone_pending"))
    current = unfinished(session, found.couple_id)
    effects: Effects = []
    if current:
        lines.append(text("checkin.status_open"))
        turn = turn_of(session, current[0].id or 0, found.partner_id)
        if turn is not None and turn.asking:
            effects.append(asking.ask(current[0], turn, found.partner, turn.asking, now))
    if menu:
        return [
            Send(
                ToChat(actor.chat_id),
                text("checkin.status", lines=tuple(lines)),
                buttons=wording.menu(found.couple_id, schedule),
            ),
            *effects,
        ]
    lines.append(text("checkin.status_how"))
    return [Send(ToChat(actor.chat_id), text("checkin.status", lines=tuple(lines))), *effects]


def press_menu(session: Session, actor: Actor, press: Press, now: datetime) -> Effects:
    """[Start now] [Move] [Off]/[On] under a bare /checkin: the same as typing them."""
    couple = session.get(Couple, press.target_id)
    partner = partner_of_user(session, press.target_id, actor.user_id) if couple else None
    if (
        couple is None
        or partner is None
        or press.action not in {"now", "move", "off", "on"}
        or not (actor.in_private or actor.chat_id == couple.group_chat_id)
    ):
        return buttons.expired()
    if press.action == "move":
        return [
            EditOrigin(buttons=()),
            Send(
                ToChat(actor.chat_id),
                text("checkin.ask_move", name=partner.first_name),
                force_reply=True,
                tag=f"{MOVE_TAG}:{couple.id}",
            ),
        ]
    return [EditOrigin(buttons=()), *checkin(session, actor, press.action, now)]


def move_answer(session: Session, actor: Actor, said: Said, now: datetime) -> Effects | None:
    """A day and time given in reply to "When suits you?" after [Move]."""
    kind, _, target = (said.reply_to_tag or "").partition(":")
    if kind != MOVE_TAG or not target.isdigit():
        return None
    wanted = " ".join(said.text.lower().split())
    language = language_of_user(session, actor.user_id) or actor.language
    if len(wanted) > 40 or parse_weekly(wanted, language) is None:
        if not said.is_reply:
            return None  # typed later in private about something else
        return [
            Send(
                ToChat(actor.chat_id),
                text("checkin.not_understood_move"),
                force_reply=True,
                tag=said.reply_to_tag,
            )
        ]
    return checkin(session, actor, wanted, now)


def _start_now(session: Session, actor: Actor, found: Membership, now: datetime) -> Effects:
    current = unfinished(session, found.couple_id)
    if current:
        effects: Effects = [Send(ToChat(actor.chat_id), text("checkin.already_open"))]
        turn = turn_of(session, current[0].id or 0, found.partner_id)
        if turn is not None and turn.asking:
            effects.append(asking.ask(current[0], turn, found.partner, turn.asking, now))
        return effects
    return asking.start_checkin(session, found.couple, now, planned_at=now)


def history(session: Session, actor: Actor, args: str, now: datetime) -> Effects:
    """/checkins: recent check-ins (done / partly / skipped) and the streak."""
    found = guard(session, actor, now)
    if not isinstance(found, Membership):
        return found
    couple = found.couple
    zone = zone_of(couple, found.partner if actor.in_private else None)
    query = (
        select(Checkin)
        .where(Checkin.couple_id == found.couple_id)
        .order_by(col(Checkin.planned_at).desc())
        .limit(HISTORY_SHOWN)
    )
    shown = list(session.exec(query))
    extra = hooks.checkins_lines(session, found.couple_id, now)
    if not shown:
        empty = text("checkin.history_empty")
        return [
            Send(
                ToChat(actor.chat_id),
                text("checkin.history_empty_with", empty=empty, extra=extra) if extra else empty,
            )
        ]
    lines = tuple(
        text(
            "checkin.history_line",
            date=Day(item.planned_at.astimezone(zone).date()),
            outcome=text(f"checkin.outcome_{item.state}"),
        )
        for item in shown
    )
    weeks = streak(session, couple, now)
    return [
        Send(
            ToChat(actor.chat_id),
            text(
                "checkin.history",
                lines=lines,
                extra=extra,
                streak=text("checkin.streak", count=weeks)
                if weeks
                else text("checkin.streak_none"),
            ),
        )
    ]


def streak(session: Session, couple: Couple, now: datetime) -> int:
    """Weeks with a check-in done, counted back from this week.

    One week without a done check-in (skipped, missed, only one answered) is forgiven;
    two such weeks in a row end the streak. This week only counts against it once its
    check-in has ended without being done.
    """
    rows = session.exec(select(Checkin).where(Checkin.couple_id == couple.id))
    return streak_weeks([(row.planned_at, row.state) for row in rows], zone_of(couple), now)


FEATURE = Feature(
    name="checkin",
    commands={"checkin": checkin, "checkins": history},
    buttons={
        KIND_MENU: press_menu,
        KIND_TIME: press_time,
        KIND_CHECKIN: press_checkin,
        KIND_QUESTION: press_question,
        KIND_PROMISE: press_promise,
        KIND_SHARE: press_share,
    },
    timers=(
        TimerKind(START, _start_due, useful_for=timedelta(hours=6), on_missed=_start_missed),
        TimerKind(RESUME, _resume_due, useful_for=timedelta(hours=12)),
        TimerKind(REMIND, _remind_due, useful_for=timedelta(hours=12)),
        TimerKind(CLOSE_KIND, _close_due, useful_for=timedelta(days=30)),
    ),
    # "Tomorrow, same time" is a local time in the couple's zone (the weekly start is
    # re-planned by `_on_zone_change`).
    local_time_timers={RESUME: couple_zone},
    on_text=(move_answer, answer_text),
    on_leave=(_on_leave,),
    on_formed=(_on_formed,),
    on_zone_change=(_on_zone_change,),
    settings_lines=(_settings,),
)
