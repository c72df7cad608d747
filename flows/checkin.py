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
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import UniqueConstraint, or_
from sqlmodel import Field, Session, SQLModel, col, select

from flows import buttons, hooks
from flows.buttons import Press
from flows.couples import (
    Actor,
    Membership,
    guard,
    language_of_user,
    other_partner,
    partner_of_user,
    partners_of,
    shown_when,
    zone_label,
    zone_of,
)
from flows.feature import Feature
from flows.inputs import Said
from flows.locking import hold
from flows.models import Couple, Partner, secret_text, utc_column
from flows.onboarding import couple_zone
from flows.outcome import (
    Button,
    CancelTimers,
    ClockTime,
    Day,
    EditOrigin,
    EditTagged,
    Effects,
    Keyboard,
    Notice,
    Send,
    SetTimer,
    Text,
    ToChat,
    ToGroup,
    ToPartner,
    keyboard,
    text,
    tidy_tag,
)
from flows.recurrence import local_to_utc, next_weekly
from flows.timeparse import is_word, parse_weekly
from flows.timers import Due, TimerKind

# The four questions, in order (texts `checkin.q1` … `checkin.q4`).
CARE, HARDER, CLOSE, DIFFERENTLY = 1, 2, 3, 4
QUESTIONS = (CARE, HARDER, CLOSE, DIFFERENTLY)

DEFAULT_WEEKDAY = 6  # Sunday (Monday is 0)
DEFAULT_AT = time(19, 0)
REMIND_AFTER = timedelta(hours=4)
CLOSE_AFTER = timedelta(hours=48)
# A reminder that would land in these local hours waits for the morning.
NIGHT_FROM, MORNING = time(22, 0), time(9, 0)
# A check-in started this recently (say with /checkin now) stands in for the scheduled one.
RECENT_ENOUGH = timedelta(hours=72)
MAX_ANSWER = 1000
HISTORY_SHOWN = 8
# While a break (/pause) is on, a check-in start or reminder waits and looks again this late:
# questions about the week should not land in the middle of a fight.
QUIET_RETRY = timedelta(minutes=30)

START, RESUME, REMIND, CLOSE_KIND = (
    "checkin.start",
    "checkin.resume",
    "checkin.remind",
    "checkin.close",
)
# Button kinds: the check-in itself (snooze / skip), one question (pass / edit), a promise.
KIND_CHECKIN, KIND_QUESTION, KIND_PROMISE = "ci", "ciq", "cip"
# Sharing one's own answers after a check-in closed with only one partner's answers.
KIND_SHARE = "cis"
KIND_TIME = "cit"  # "sunday evening": the times to choose from; target: the couple
# The buttons under a bare /checkin: start now, move (asks for a day and time), off / on.
KIND_MENU = "cim"
MOVE_TAG = "checkin-move"
TAG_PREFIX = "checkin"

OPEN, SNOOZED, DONE, PARTLY, SKIPPED, MISSED, STOPPED = (
    "open",
    "snoozed",
    "done",
    "partly",
    "skipped",
    "missed",
    "stopped",
)
# Closed with only one partner's answers: those stay private unless their author shares them.
HELD = "held"
ANSWERABLE = (OPEN, SNOOZED)
SHARED = (DONE, PARTLY)


class CheckinSchedule(SQLModel, table=True):
    """When a couple's weekly check-in happens, in their own wall-clock time."""

    __tablename__ = "checkin_schedule"

    id: int | None = Field(default=None, primary_key=True)
    couple_id: int = Field(foreign_key="couple.id", index=True, unique=True)
    weekday: int = DEFAULT_WEEKDAY  # Monday is 0
    at: str = DEFAULT_AT.strftime("%H:%M")
    active: bool = True
    updated_at: datetime = utc_column()

    @property
    def at_time(self) -> time:
        return time.fromisoformat(self.at)


class Checkin(SQLModel, table=True):
    """One week's check-in and how it ended."""

    __tablename__ = "checkin"

    id: int | None = Field(default=None, primary_key=True)
    couple_id: int = Field(foreign_key="couple.id", index=True)
    # When it was meant to happen: its week for the streak, its time of day for a snooze.
    planned_at: datetime = utc_column()
    started_at: datetime = utc_column()
    # open | snoozed -> done | partly | skipped | missed | stopped
    state: str = OPEN
    snoozed: bool = False
    closed_at: datetime | None = utc_column(nullable=True)


class CheckinTurn(SQLModel, table=True):
    """One partner's way through the questions of one check-in."""

    __tablename__ = "checkin_turn"
    __table_args__ = (UniqueConstraint("checkin_id", "partner_id"),)

    id: int | None = Field(default=None, primary_key=True)
    checkin_id: int = Field(foreign_key="checkin.id", index=True)
    partner_id: int
    # The question waiting for this partner's answer (0: none).
    asking: int = 0
    asked_at: datetime | None = utc_column(nullable=True)
    reminded: bool = False
    finished_at: datetime | None = utc_column(nullable=True)


class CheckinAnswer(SQLModel, table=True):
    """One answer; `answer` is None when the partner skipped that question."""

    __tablename__ = "checkin_answer"
    __table_args__ = (UniqueConstraint("checkin_id", "partner_id", "question"),)

    id: int | None = Field(default=None, primary_key=True)
    checkin_id: int = Field(foreign_key="checkin.id", index=True)
    partner_id: int
    question: int
    answer: str | None = secret_text(nullable=True)
    answered_at: datetime = utc_column()
    # "" | wanted (asked for before promises existed) | offered
    promise_state: str = ""


# ---- the schedule -----------------------------------------------------------------


def schedule_of(session: Session, couple_id: int) -> CheckinSchedule | None:
    query = select(CheckinSchedule).where(CheckinSchedule.couple_id == couple_id)
    return session.exec(query).first()


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


def _schedule_ref(couple_id: int) -> str:
    return f"checkin-week:{couple_id}"


def next_occurrence(schedule: CheckinSchedule, couple: Couple, after: datetime) -> datetime:
    return next_weekly(after, schedule.weekday, schedule.at_time, zone_of(couple))


def plan_next(schedule: CheckinSchedule, couple: Couple, after: datetime) -> Effects:
    """Replace the couple's scheduled start with the next one (none while switched off)."""
    ref = _schedule_ref(couple.id or 0)
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
    for checkin in _unfinished(session, couple.id or 0):
        effects.extend(_finish(session, checkin, STOPPED, now))
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
                    schedule=_schedule_text(schedule),
                    next=_when(session, couple, next_occurrence(schedule, couple, now)),
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
                schedule=_schedule_text(schedule),
                next=_when(session, couple, next_occurrence(schedule, couple, now)),
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
                schedule=_schedule_text(schedule),
                next=_when(session, couple, next_occurrence(schedule, couple, now), reader),
            )
        ]
        if couple.zone_pending:
            lines.append(text("onboarding.status_zone_pending"))
    current = _unfinished(session, found.couple_id)
    effects: Effects = []
    if current:
        lines.append(text("checkin.status_open"))
        turn = _turn(session, current[0].id or 0, found.partner_id)
        if turn is not None and turn.asking:
            effects.append(_ask(current[0], turn, found.partner, turn.asking, now))
    if menu:
        return [
            Send(
                ToChat(actor.chat_id),
                text("checkin.status", lines=tuple(lines)),
                buttons=_menu(found.couple_id, schedule),
            ),
            *effects,
        ]
    lines.append(text("checkin.status_how"))
    return [Send(ToChat(actor.chat_id), text("checkin.status", lines=tuple(lines))), *effects]


def _menu(couple_id: int, schedule: CheckinSchedule) -> Keyboard:
    switch = "off" if schedule.active else "on"
    return keyboard(
        [
            buttons.button(text("checkin.button_start_now"), KIND_MENU, couple_id, "now"),
            buttons.button(text("checkin.button_move"), KIND_MENU, couple_id, "move"),
            buttons.button(text(f"checkin.button_{switch}"), KIND_MENU, couple_id, switch),
        ]
    )


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
    current = _unfinished(session, found.couple_id)
    if current:
        effects: Effects = [Send(ToChat(actor.chat_id), text("checkin.already_open"))]
        turn = _turn(session, current[0].id or 0, found.partner_id)
        if turn is not None and turn.asking:
            effects.append(_ask(current[0], turn, found.partner, turn.asking, now))
        return effects
    return start_checkin(session, found.couple, now, planned_at=now)


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
    zone = zone_of(couple)
    rows = list(session.exec(select(Checkin).where(Checkin.couple_id == couple.id)))
    if not rows:
        return 0

    def week_of(moment: datetime) -> date:
        day = moment.astimezone(zone).date()
        return day - timedelta(days=day.weekday())

    done = {week_of(row.planned_at) for row in rows if row.state == DONE}
    ended = {week_of(row.planned_at) for row in rows if row.state not in (OPEN, SNOOZED)}
    first = min(week_of(row.planned_at) for row in rows)
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


# ---- starting, snoozing, skipping ---------------------------------------------------


def _unfinished(session: Session, couple_id: int) -> list[Checkin]:
    query = select(Checkin).where(
        Checkin.couple_id == couple_id, col(Checkin.state).in_(ANSWERABLE)
    )
    return list(session.exec(query.order_by(col(Checkin.started_at).desc())))


def _turn(
    session: Session, checkin_id: int, partner_id: int, *, fresh: bool = False
) -> CheckinTurn | None:
    """One partner's turn; `fresh` reads it from the database even if this session has it."""
    query = select(CheckinTurn).where(
        CheckinTurn.checkin_id == checkin_id, CheckinTurn.partner_id == partner_id
    )
    if fresh:
        query = query.execution_options(populate_existing=True)
    return session.exec(query).first()


def _really_answered(answers: list[CheckinAnswer]) -> set[int]:
    """Partners with at least one real answer: a skipped question is not an answer, so a
    partner who only tapped "Skip this question" does not unlock the other's answers."""
    return {row.partner_id for row in answers if row.answer}


def _answers(session: Session, checkin_id: int) -> list[CheckinAnswer]:
    query = select(CheckinAnswer).where(CheckinAnswer.checkin_id == checkin_id)
    return list(session.exec(query.order_by(col(CheckinAnswer.question))))


def _ref(checkin: Checkin) -> str:
    return f"checkin:{checkin.id}"


def start_checkin(
    session: Session, couple: Couple, now: datetime, *, planned_at: datetime
) -> Effects:
    """Open a check-in: one line in the group, the first question to each partner."""
    previous = _last_shared(session, couple.id or 0)
    checkin_row = Checkin(couple_id=couple.id or 0, planned_at=planned_at, started_at=now)
    session.add(checkin_row)
    session.flush()
    effects: Effects = [_opening(checkin_row, can_snooze=True)]
    for partner in partners_of(session, couple.id or 0):
        turn = CheckinTurn(checkin_id=checkin_row.id or 0, partner_id=partner.id or 0)
        session.add(turn)
        carried = _carried(session, previous, partner)
        effects.append(_ask(checkin_row, turn, partner, CARE, now, carried=carried))
    session.flush()
    effects.extend(_timers_from(session, couple, checkin_row, now))
    effects.extend(_offer_kept_promises(session, couple, now))
    return effects


def _opening(checkin_row: Checkin, *, can_snooze: bool) -> Send:
    row = [
        buttons.button(text("checkin.button_skip_week"), KIND_CHECKIN, checkin_row.id or 0, "skip")
    ]
    if can_snooze:
        row.insert(
            0,
            buttons.button(
                text("checkin.button_snooze"), KIND_CHECKIN, checkin_row.id or 0, "snooze"
            ),
        )
    key = "checkin.opening" if can_snooze else "checkin.opening_again"
    return Send(
        ToGroup(checkin_row.couple_id),
        text(key),
        buttons=keyboard(row),
        tag=_opening_tag(checkin_row),
    )


def _opening_tag(checkin_row: Checkin) -> str:
    return tidy_tag("checkin.opening", checkin_row.id or 0)


def _waiting_tag(checkin_row: Checkin, partner_id: int) -> str:
    return tidy_tag("checkin.waiting", checkin_row.id or 0, partner_id)


def _retire_question(checkin_row: Checkin, partner_id: int, question: int) -> EditTagged:
    """A question answered some other way than its "Skip" button (typed, or asked again
    below): the button goes from the message."""
    return EditTagged(ToPartner(partner_id), _tag(checkin_row, partner_id, question))


def _timers_from(session: Session, couple: Couple, checkin_row: Checkin, now: datetime) -> Effects:
    """The 48-hour close and one reminder per partner, counted from `now`."""
    ref = _ref(checkin_row)
    effects: Effects = [
        SetTimer(
            CLOSE_KIND, couple.id or 0, now + CLOSE_AFTER, {"checkin_id": checkin_row.id}, ref=ref
        )
    ]
    for partner in partners_of(session, couple.id or 0):
        effects.append(
            SetTimer(
                REMIND,
                couple.id or 0,
                reminder_time(now + REMIND_AFTER, zone_of(couple, partner)),
                {"checkin_id": checkin_row.id, "partner_id": partner.id},
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


def _last_shared(session: Session, couple_id: int) -> Checkin | None:
    query = (
        select(Checkin)
        .where(Checkin.couple_id == couple_id, col(Checkin.state).in_(SHARED))
        .order_by(col(Checkin.planned_at).desc())
    )
    return session.exec(query).first()


def _carried(session: Session, previous: Checkin | None, partner: Partner) -> str | None:
    """What this partner said still needed care last time (it was shared then)."""
    if previous is None:
        return None
    query = select(CheckinAnswer).where(
        CheckinAnswer.checkin_id == previous.id,
        CheckinAnswer.partner_id == partner.id,
        CheckinAnswer.question == CARE,
    )
    found = session.exec(query).first()
    return found.answer if found is not None else None


def _private(partner: Partner) -> bool:
    return partner.private_open and not partner.private_blocked


def _tag(checkin_row: Checkin, partner_id: int, question: int) -> str:
    return f"{TAG_PREFIX}:{checkin_row.id}:{partner_id}:{question}"


def _parse_tag(tag: str | None) -> tuple[int, int, int] | None:
    if tag is None or not tag.startswith(TAG_PREFIX + ":"):
        return None
    parts = tag.split(":")
    if len(parts) != 4 or not all(part.isdigit() for part in parts[1:]):
        return None
    return int(parts[1]), int(parts[2]), int(parts[3])


def _ask(
    checkin_row: Checkin,
    turn: CheckinTurn,
    partner: Partner,
    question: int,
    now: datetime,
    *,
    carried: str | None = None,
    intro: Text | None = None,
) -> Send:
    """One question to one partner: privately with a skip button, or in the group as a
    question to reply to, saying that both can read the answer there."""
    turn.asking = question
    turn.asked_at = now
    lines: list[Text] = []
    if intro is not None:
        lines.append(intro)
    if carried:
        lines.append(text("checkin.carried", said=carried))
    lines.append(text("checkin.question", number=question, question=text(f"checkin.q{question}")))
    tag = _tag(checkin_row, partner.id or 0, question)
    if _private(partner):
        lines.append(text("checkin.how_private"))
        skip = buttons.button(
            text("checkin.button_pass"), KIND_QUESTION, checkin_row.id or 0, f"pass{question}"
        )
        return Send(
            ToPartner(partner.id or 0),
            text("checkin.ask", lines=tuple(lines)),
            buttons=keyboard([skip]),
            tag=tag,
        )
    lines.append(text("checkin.how_group"))
    return Send(
        ToPartner(partner.id or 0),
        text("checkin.ask", lines=tuple(lines)),
        force_reply=True,
        tag=tag,
    )


def _finish(
    session: Session, checkin_row: Checkin, state: str, now: datetime, *, opening: bool = True
) -> Effects:
    """End the check-in. Returns what tidies its messages, each now one line without
    buttons: the opening in the group (unless its own button ended it), each partner's open
    question, and the "that's all four" with its "Change answer" buttons."""
    checkin_row.state = state
    checkin_row.closed_at = now
    session.add(checkin_row)
    outcome = text(f"checkin.outcome_{state}")
    tidy: Effects = []
    if opening:
        tidy.append(
            EditTagged(
                ToGroup(checkin_row.couple_id),
                _opening_tag(checkin_row),
                text("checkin.opening_line", outcome=outcome),
            )
        )
    for turn in session.exec(select(CheckinTurn).where(CheckinTurn.checkin_id == checkin_row.id)):
        if turn.asking:
            tidy.append(_retire_question(checkin_row, turn.partner_id, turn.asking))
        if turn.finished_at is not None:
            tidy.append(
                EditTagged(
                    ToPartner(turn.partner_id),
                    _waiting_tag(checkin_row, turn.partner_id),
                    text("checkin.waiting_line", outcome=outcome),
                )
            )
        turn.asking = 0
        session.add(turn)
    return tidy


def press_checkin(session: Session, actor: Actor, press: Press, now: datetime) -> Effects:
    """ "Not tonight": tomorrow at the same time (once), or skip this week."""
    checkin_row = session.get(Checkin, press.target_id)
    if checkin_row is None:
        return buttons.expired()
    couple = session.get(Couple, checkin_row.couple_id)
    partner = partner_of_user(session, checkin_row.couple_id, actor.user_id)
    if couple is None or partner is None or actor.chat_id != couple.group_chat_id:
        return buttons.expired()
    if checkin_row.state not in ANSWERABLE:
        # Its week is over: the opening becomes one line of how it went, without buttons.
        return [
            *buttons.expired(),
            EditOrigin(
                body=text(
                    "checkin.opening_line", outcome=text(f"checkin.outcome_{checkin_row.state}")
                )
            ),
        ]
    if press.action == "skip":
        tidy = _finish(session, checkin_row, SKIPPED, now, opening=False)
        schedule = schedule_of(session, couple.id or 0)
        after = (
            text(
                "checkin.next_is",
                when=_when(session, couple, next_occurrence(schedule, couple, now)),
            )
            if schedule is not None and schedule.active
            else text("checkin.next_none")
        )
        return [
            CancelTimers(couple.id or 0, ref=_ref(checkin_row)),
            Notice(text("checkin.skipped_notice")),
            EditOrigin(body=text("checkin.skipped", name=partner.first_name, after=after)),
            *tidy,
        ]
    if press.action == "snooze" and checkin_row.state == OPEN and not checkin_row.snoozed:
        resume_at = _same_time_tomorrow(checkin_row, couple, now)
        checkin_row.state = SNOOZED
        checkin_row.snoozed = True
        session.add(checkin_row)
        return [
            CancelTimers(couple.id or 0, ref=_ref(checkin_row)),
            SetTimer(
                RESUME,
                couple.id or 0,
                resume_at,
                {"checkin_id": checkin_row.id},
                ref=_ref(checkin_row),
            ),
            Notice(text("checkin.snoozed_notice")),
            EditOrigin(
                body=text(
                    "checkin.snoozed",
                    name=partner.first_name,
                    when=_when(session, couple, resume_at),
                ),
                buttons=keyboard(
                    [
                        buttons.button(
                            text("checkin.button_skip_week"),
                            KIND_CHECKIN,
                            checkin_row.id or 0,
                            "skip",
                        )
                    ]
                ),
            ),
        ]
    return buttons.expired()


def _same_time_tomorrow(checkin_row: Checkin, couple: Couple, now: datetime) -> datetime:
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


# ---- answers -----------------------------------------------------------------------


def answer_text(session: Session, actor: Actor, said: Said, now: datetime) -> Effects | None:
    """An answer: a reply to a check-in question, or any private text while one waits."""
    tagged = _parse_tag(said.reply_to_tag)
    if tagged is None:
        if said.reply_to_tag is not None or not actor.in_private:
            return None  # another feature's question
        waiting = _waiting_in_private(session, actor)
        if waiting is None:
            return None
        checkin_row, turn, partner = waiting
        question = turn.asking
    else:
        checkin_id, partner_id, question = tagged
        checkin_found = session.get(Checkin, checkin_id)
        if checkin_found is None or question not in QUESTIONS:
            return None
        checkin_row = checkin_found
        couple = session.get(Couple, checkin_row.couple_id)
        if couple is None:
            return None
        found = partner_of_user(session, couple.id or 0, actor.user_id)
        if found is None or not (actor.in_private or actor.chat_id == couple.group_chat_id):
            refusal = guard(session, actor, now)
            return refusal if isinstance(refusal, list) else []
        partner = found
        if partner.id != partner_id:
            owner = session.get(Partner, partner_id)
            return [
                Send(
                    ToChat(actor.chat_id),
                    text("checkin.not_your_question", name=owner.first_name if owner else ""),
                )
            ]
        turn_found = _turn(session, checkin_id, partner_id)
        if turn_found is None:
            return None
        turn = turn_found
    said_text = said.text.strip()
    if len(said_text) > MAX_ANSWER:
        return [Send(ToChat(actor.chat_id), text("common.too_long", limit=MAX_ANSWER))]
    given = None if is_word(said_text, "skip", partner.language) else said_text
    # The next question goes out first: the edit of this one waits behind it in the chat.
    return [
        *record_answer(
            session, checkin_row, turn, partner, question, given, now, reply=ToChat(actor.chat_id)
        ),
        _retire_question(checkin_row, partner.id or 0, question),
    ]


def _waiting_in_private(
    session: Session, actor: Actor
) -> tuple[Checkin, CheckinTurn, Partner] | None:
    """The check-in question this person's private text answers, when no question is on
    screen in this chat (the shell passes the latest delivered one as `Said.reply_to_tag`,
    so another feature's question keeps its answers)."""
    query = (
        select(Checkin, CheckinTurn, Partner)
        .join(CheckinTurn, col(CheckinTurn.checkin_id) == col(Checkin.id))
        .join(Partner, col(Partner.id) == col(CheckinTurn.partner_id))
        .where(
            Partner.user_id == actor.user_id,
            col(CheckinTurn.asking) > 0,
            col(Checkin.state).in_(ANSWERABLE),
        )
        .order_by(col(CheckinTurn.asked_at).desc())
    )
    found = session.exec(query).first()
    return (found[0], found[1], found[2]) if found is not None else None


def record_answer(
    session: Session,
    checkin_row: Checkin,
    turn: CheckinTurn,
    partner: Partner,
    question: int,
    given: str | None,
    now: datetime,
    *,
    reply: ToChat | None = None,
) -> Effects:
    """Keep (or change, before the reveal) one answer, then ask the next question or,
    once both are through, show both sets together."""
    # Both partners may send their last answer at the same moment: whoever comes second
    # waits here until the first has committed, and so sees them finished.
    checkin_row = hold(session, checkin_row)
    turn = _turn(session, checkin_row.id or 0, partner.id or 0, fresh=True) or turn
    if checkin_row.state not in ANSWERABLE:
        key = "checkin.too_late_to_edit" if checkin_row.state in SHARED else "checkin.closed"
        return [Send(reply or ToPartner(partner.id or 0), text(key))]
    query = select(CheckinAnswer).where(
        CheckinAnswer.checkin_id == checkin_row.id,
        CheckinAnswer.partner_id == partner.id,
        CheckinAnswer.question == question,
    )
    existing = session.exec(query).first()
    if existing is None:
        session.add(
            CheckinAnswer(
                checkin_id=checkin_row.id or 0,
                partner_id=partner.id or 0,
                question=question,
                answer=given,
                answered_at=now,
            )
        )
    else:
        existing.answer, existing.answered_at = given, now
        session.add(existing)
    session.flush()
    all_answers = _answers(session, checkin_row.id or 0)
    answered = {row.question for row in all_answers if row.partner_id == partner.id}
    remaining = [number for number in QUESTIONS if number not in answered]
    effects: Effects = []
    since_opening = [row for row in all_answers if row.answered_at >= checkin_row.started_at]
    if len(since_opening) == 1:
        # The first answer since the opening: "Not tonight" is past, and its buttons go.
        effects.append(
            EditTagged(
                ToGroup(checkin_row.couple_id),
                _opening_tag(checkin_row),
                text("checkin.opening_started"),
            )
        )
    if existing is not None:
        effects.append(Send(ToPartner(partner.id or 0), text("checkin.changed", number=question)))
    if remaining:
        effects.append(_ask(checkin_row, turn, partner, remaining[0], now))
        return effects
    turn.asking = 0
    if turn.finished_at is None:
        turn.finished_at = now
    session.add(turn)
    couple = session.get(Couple, checkin_row.couple_id)
    other = other_partner(session, partner)
    other_turn = _turn(session, checkin_row.id or 0, other.id or 0, fresh=True) if other else None
    if couple is not None and other_turn is not None and other_turn.finished_at is not None:
        return effects + _both_through(session, couple, checkin_row, now)
    if existing is None:
        effects.append(
            Send(
                ToPartner(partner.id or 0),
                text(
                    "checkin.thanks_waiting",
                    name=partner.first_name,
                    other=other.first_name if other else "",
                ),
                buttons=_edit_buttons(checkin_row),
                tag=_waiting_tag(checkin_row, partner.id or 0),
            )
        )
    return effects


def _edit_buttons(checkin_row: Checkin) -> Keyboard:
    return keyboard(
        [
            buttons.button(
                text("checkin.button_change", number=number),
                KIND_QUESTION,
                checkin_row.id or 0,
                f"edit{number}",
            )
            for number in QUESTIONS
        ]
    )


def press_question(session: Session, actor: Actor, press: Press, now: datetime) -> Effects:
    """ "Skip this question" and "Change answer N" (only until both sets are shown)."""
    checkin_row = session.get(Checkin, press.target_id)
    action, number = press.action[:4], press.action[4:]
    if (
        checkin_row is None
        or action not in {"pass", "edit"}
        or not number.isdigit()
        or int(number) not in QUESTIONS
    ):
        return buttons.expired()
    partner = partner_of_user(session, checkin_row.couple_id, actor.user_id)
    turn = _turn(session, checkin_row.id or 0, partner.id or 0) if partner else None
    if partner is None or turn is None:
        return buttons.expired()
    question = int(number)
    if checkin_row.state in SHARED:
        return [
            Notice(text("checkin.too_late_to_edit"), alert=True),
            EditOrigin(body=text("checkin.shared_line")),
        ]
    if checkin_row.state not in ANSWERABLE:
        return buttons.expired()
    if action == "pass":
        if turn.asking != question:
            return buttons.expired()
        return [
            Notice(text("checkin.passed_notice")),
            EditOrigin(buttons=()),
            *record_answer(session, checkin_row, turn, partner, question, None, now),
        ]
    return [
        Notice(text("checkin.edit_notice")),
        _ask(checkin_row, turn, partner, question, now, intro=text("checkin.edit_intro")),
    ]


def reveal(session: Session, couple: Couple, checkin_row: Checkin, now: datetime) -> Effects:
    """Both sets side by side in the group; at the 48-hour close, what there is.

    While anyone besides the couple is in the group, the answers go to the partners'
    private chats instead (see `_reveal_privately`).
    """
    body, promise_buttons, both = _reveal_body(session, couple, checkin_row)
    tidy = _finish(session, checkin_row, DONE if both else PARTLY, now)
    cancel = CancelTimers(couple.id or 0, ref=_ref(checkin_row))
    if couple.others_present:
        return [
            cancel,
            *tidy,
            *_reveal_privately(session, couple, checkin_row, body, promise_buttons),
        ]
    return [
        cancel,
        *tidy,
        Send(
            ToGroup(couple.id or 0),
            body,
            buttons=keyboard(*(row for _owner, row in promise_buttons)),
        ),
    ]


def _reveal_privately(
    session: Session,
    couple: Couple,
    checkin_row: Checkin,
    body: Text,
    promise_buttons: list[tuple[int, list[Button]]],
) -> Effects:
    """Others are in the group: each partner with a private chat gets the answers there.

    A partner without one answered in the group, where everyone read it anyway; whoever
    answered privately is asked whether their answers may go to the group too, so the
    other partner can see them. Nothing private is posted before they say yes.
    """
    partners = partners_of(session, couple.id or 0)
    private = [partner for partner in partners if _private(partner)]
    if not private:  # everything was answered in the group, where everyone read it
        return [
            Send(
                ToGroup(couple.id or 0),
                body,
                buttons=keyboard(*(row for _owner, row in promise_buttons)),
            )
        ]
    in_group = [partner for partner in partners if not _private(partner)]
    effects: Effects = []
    for partner in private:
        rows = [row for owner, row in promise_buttons if owner == partner.id]
        if in_group:
            rows.append(
                [
                    buttons.button(
                        text("checkin.button_post_to_group"),
                        KIND_SHARE,
                        checkin_row.id or 0,
                        "post",
                    )
                ]
            )
        effects.append(Send(ToPartner(partner.id or 0), body, buttons=keyboard(*rows)))
    key = "checkin.revealed_privately_ask" if in_group else "checkin.revealed_privately"
    effects.append(
        Send(
            ToGroup(couple.id or 0),
            text(key, names=" & ".join(partner.first_name for partner in private)),
        )
    )
    return effects


def _reveal_body(
    session: Session, couple: Couple, checkin_row: Checkin
) -> tuple[Text, list[tuple[int, list[Button]]], bool]:
    """The side-by-side answers, the "make it a promise" buttons (by whose answer each
    is), and whether both finished."""
    answers = _answers(session, checkin_row.id or 0)
    partners = partners_of(session, couple.id or 0)
    by_partner = {(row.partner_id, row.question): row for row in answers}
    finished = {
        turn.partner_id
        for turn in session.exec(
            select(CheckinTurn).where(CheckinTurn.checkin_id == checkin_row.id)
        )
        if turn.finished_at is not None
    }
    both = all(partner.id in finished for partner in partners)
    answered = _really_answered(answers)
    missing = [partner for partner in partners if partner.id not in answered]
    blocks: list[Text] = []
    for number in QUESTIONS:
        lines: list[Text] = []
        for partner in partners:
            if partner in missing:
                continue
            row = by_partner.get((partner.id or 0, number))
            said = (
                text("checkin.said", answer=row.answer)
                if row is not None and row.answer
                else text("checkin.said_skipped" if row is not None else "checkin.said_none")
            )
            lines.append(text("checkin.reveal_line", name=partner.first_name, said=said))
        if blocks:
            blocks.append(text("checkin.gap"))
        blocks.append(
            text(
                "checkin.reveal_block",
                number=number,
                title=text(f"checkin.title{number}"),
                lines=tuple(lines),
            )
        )
    promise_buttons = [
        (
            partner.id or 0,
            [
                buttons.button(
                    text("checkin.button_promise", name=partner.first_name),
                    KIND_PROMISE,
                    row.id or 0,
                    "make",
                )
            ],
        )
        for partner in partners
        if (row := by_partner.get((partner.id or 0, DIFFERENTLY))) is not None and row.answer
    ]
    if both:
        heading = text("checkin.reveal_both")
    else:
        heading = text(
            "checkin.reveal_partly",
            missing=tuple(
                text("checkin.did_not_get_to_it", name=partner.first_name) for partner in missing
            )
            if missing
            else text("checkin.some_left_open"),
        )
    ending = text("checkin.reveal_end_promise" if promise_buttons else "checkin.reveal_end")
    body = text("checkin.reveal", heading=heading, blocks=tuple(blocks), ending=ending)
    return body, promise_buttons, both


def press_promise(session: Session, actor: Actor, press: Press, now: datetime) -> Effects:
    """ "Make it a promise": only the one who wrote it, once, after the reveal."""
    row = session.get(CheckinAnswer, press.target_id)
    checkin_row = session.get(Checkin, row.checkin_id) if row is not None else None
    if (
        row is None
        or checkin_row is None
        or press.action != "make"
        or row.question != DIFFERENTLY
        or not row.answer
        or checkin_row.state not in SHARED
    ):
        return buttons.expired()
    partner = partner_of_user(session, checkin_row.couple_id, actor.user_id)
    if partner is None:
        return buttons.expired()
    if partner.id != row.partner_id:
        return [Notice(text("checkin.promise_not_yours"))]
    if row.promise_state:
        return [Notice(text("checkin.promise_already"))]
    if not hooks.promises_available():
        row.promise_state = "wanted"
        session.add(row)
        return [Notice(text("checkin.promise_kept_for_later"), alert=True)]
    row.promise_state = "offered"
    session.add(row)
    return [
        Notice(text("checkin.promise_notice")),
        *hooks.offer_promise(session, partner, row.answer, now),
    ]


def _offer_kept_promises(session: Session, couple: Couple, now: datetime) -> Effects:
    """Answers someone wanted as a promise before promises existed: offered once they do."""
    if not hooks.promises_available():
        return []
    query = (
        select(CheckinAnswer)
        .join(Checkin, col(Checkin.id) == col(CheckinAnswer.checkin_id))
        .where(Checkin.couple_id == couple.id, CheckinAnswer.promise_state == "wanted")
    )
    effects: Effects = []
    for row in session.exec(query):
        partner = session.get(Partner, row.partner_id)
        row.promise_state = "offered"
        session.add(row)
        if partner is not None and partner.couple_id == couple.id and row.answer:
            effects.extend(hooks.offer_promise(session, partner, row.answer, now))
    return effects


# ---- timers ------------------------------------------------------------------------


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
                ref=_schedule_ref(couple.id or 0),
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
    return effects + start_checkin(session, couple, due.now, planned_at=meant)


def _resume_due(session: Session, due: Due) -> Effects:
    """The snoozed check-in comes back: same questions, where each partner left off."""
    checkin_row = session.get(Checkin, int(due.payload.get("checkin_id", 0)))
    couple = session.get(Couple, due.couple_id)
    if checkin_row is None or couple is None or checkin_row.state != SNOOZED:
        return []
    checkin_row.state = OPEN
    checkin_row.started_at = due.now
    session.add(checkin_row)
    effects: Effects = [
        # Yesterday's "moved to tomorrow" with its [Skip this week] gives way to the new one.
        EditTagged(
            ToGroup(couple.id or 0),
            _opening_tag(checkin_row),
            text("checkin.opening_line", outcome=text(f"checkin.outcome_{SNOOZED}")),
        ),
        _opening(checkin_row, can_snooze=False),
    ]
    for partner in partners_of(session, couple.id or 0):
        turn = _turn(session, checkin_row.id or 0, partner.id or 0)
        if turn is not None and turn.finished_at is None and turn.asking:
            effects.append(_retire_question(checkin_row, partner.id or 0, turn.asking))
            effects.append(_ask(checkin_row, turn, partner, turn.asking, due.now))
    return effects + _timers_from(session, couple, checkin_row, due.now)


def _remind_due(session: Session, due: Due) -> Effects:
    """One gentle reminder to a partner who has not finished; never at night for them."""
    checkin_row = session.get(Checkin, int(due.payload.get("checkin_id", 0)))
    partner = session.get(Partner, int(due.payload.get("partner_id", 0)))
    couple = session.get(Couple, due.couple_id)
    if (
        checkin_row is None
        or partner is None
        or couple is None
        or checkin_row.state != OPEN
        or partner.couple_id != couple.id
    ):
        return []
    turn = _turn(session, checkin_row.id or 0, partner.id or 0)
    if turn is None or turn.finished_at is not None or turn.reminded or not turn.asking:
        return []
    if hooks.is_quiet(session, couple.id or 0, due.now):
        return [
            SetTimer(
                REMIND,
                couple.id or 0,
                due.now + QUIET_RETRY,
                dict(due.payload),
                ref=_ref(checkin_row),
            )
        ]
    later = reminder_time(due.now, zone_of(couple, partner))
    if later > due.now:  # night fell for them since this was planned (a zone change)
        return [SetTimer(REMIND, couple.id or 0, later, dict(due.payload), ref=_ref(checkin_row))]
    turn.reminded = True
    session.add(turn)
    return [
        _retire_question(checkin_row, partner.id or 0, turn.asking),
        _ask(checkin_row, turn, partner, turn.asking, due.now, intro=text("checkin.reminder")),
    ]


def _close_due(session: Session, due: Due) -> Effects:
    """48 hours on: show what there is, or close quietly when nobody got to it."""
    checkin_row = session.get(Checkin, int(due.payload.get("checkin_id", 0)))
    couple = session.get(Couple, due.couple_id)
    if checkin_row is None or couple is None or checkin_row.state != OPEN:
        return []
    return _both_through(session, couple, checkin_row, due.now)


def _both_through(session: Session, couple: Couple, checkin_row: Checkin, now: datetime) -> Effects:
    """Both are through (or time is up): both sets shown together only when both really
    answered; with one partner's answers only, those stay private; with none, a quiet end."""
    answered = _really_answered(_answers(session, checkin_row.id or 0))
    if not answered:
        tidy = _finish(session, checkin_row, MISSED, now)
        return [
            CancelTimers(couple.id or 0, ref=_ref(checkin_row)),
            *tidy,
            Send(ToGroup(couple.id or 0), text("checkin.closed_empty")),
        ]
    partners = partners_of(session, couple.id or 0)
    if len(answered) < len(partners):
        return _close_one_sided(session, couple, checkin_row, partners, answered, now)
    return reveal(session, couple, checkin_row, now)


def _close_one_sided(
    session: Session,
    couple: Couple,
    checkin_row: Checkin,
    partners: list[Partner],
    answered: set[int],
    now: datetime,
) -> Effects:
    """Only one of them answered: nobody's private answers are shown without the other's.

    The group hears that the check-in closed, without blame; whoever answered may still
    choose to share their own answers.
    """
    tidy = _finish(session, checkin_row, HELD, now)
    missing = tuple(
        text("checkin.did_not_get_to_it", name=partner.first_name)
        for partner in partners
        if partner.id not in answered
    )
    share = keyboard(
        [buttons.button(text("checkin.button_share"), KIND_SHARE, checkin_row.id or 0, "share")]
    )
    return [
        CancelTimers(couple.id or 0, ref=_ref(checkin_row)),
        *tidy,
        Send(ToGroup(couple.id or 0), text("checkin.closed_one_sided", missing=missing)),
        *(
            Send(ToPartner(partner.id or 0), text("checkin.share_offer"), buttons=share)
            for partner in partners
            if partner.id in answered
        ),
    ]


def press_share(session: Session, actor: Actor, press: Press, now: datetime) -> Effects:
    """ "Share my answers": only someone who answered, only while they are still private."""
    checkin_row = session.get(Checkin, press.target_id)
    couple = session.get(Couple, checkin_row.couple_id) if checkin_row is not None else None
    if checkin_row is not None and couple is not None and press.action == "post":
        return _post_to_group(session, actor, couple, checkin_row)
    if (
        checkin_row is None
        or couple is None
        or press.action != "share"
        or checkin_row.state != HELD
    ):
        return buttons.expired()
    partner = partner_of_user(session, couple.id or 0, actor.user_id)
    if partner is None or partner.id not in _really_answered(
        _answers(session, checkin_row.id or 0)
    ):
        return buttons.expired()
    return [
        Notice(text("checkin.shared_notice")),
        EditOrigin(body=text("checkin.shared")),
        *reveal(session, couple, checkin_row, now),
    ]


def _post_to_group(session: Session, actor: Actor, couple: Couple, checkin_row: Checkin) -> Effects:
    """ "Post them in the group too": a partner who answered privately lets the other,
    who has no private chat, read the answers in the group, others present or not."""
    partner = partner_of_user(session, couple.id or 0, actor.user_id)
    if (
        partner is None
        or checkin_row.state not in SHARED
        or not actor.in_private
        or partner.id not in _really_answered(_answers(session, checkin_row.id or 0))
    ):
        return buttons.expired()
    body, _promise_buttons, _both = _reveal_body(session, couple, checkin_row)
    return [
        Notice(text("checkin.shared_notice")),
        EditOrigin(buttons=()),
        Send(ToGroup(couple.id or 0), body),
    ]


# ---- wording helpers ---------------------------------------------------------------


def _schedule_text(schedule: CheckinSchedule) -> Text:
    return text(
        "checkin.schedule",
        day=text(f"checkin.days_{schedule.weekday}"),
        at=ClockTime(time.fromisoformat(schedule.at)),
    )


def _when(
    session: Session, couple: Couple, moment: datetime, reader: Partner | None = None
) -> Text:
    """A moment for the reader; in the group, each partner's own when their zones differ."""
    return shown_when(session, couple, moment, reader=reader, zone_named=True)


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
