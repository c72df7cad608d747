"""Small promises: made by one partner to the other, nudged, asked about, kept, noticed.

The rules (product.md, "Promises"): a promise is small and has a when ("daily", "by
Friday", "tomorrow", "every weekday", "weekly"; buttons when that is missing). At most a
few are active per partner, so each one can be kept. The promiser gets a nudge at the
chosen time of day in their own zone and, in the evening, one question: kept? A kept
promise is told to the other partner, who can answer "I noticed". A miss carries no blame;
after several misses in a row the bot offers to make the promise easier. Follow-through
is counted per promise (this week, last four weeks), never as a score between partners.

Trust comes back through small things done repeatedly and seen by the other person, so
every part of this flow is about making the small thing easy to do and easy to notice.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, Session, SQLModel, col, func, select

from flows import buttons
from flows.buttons import Press
from flows.couples import (
    Actor,
    Membership,
    guard,
    other_partner,
    partners_of,
    shown_clock,
    zone_of,
)
from flows.feature import Feature
from flows.hooks import is_quiet
from flows.inputs import Said
from flows.models import Couple, Partner, secret_text, utc_column
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
    ToPartner,
    Weekday,
    keyboard,
    text,
    tidy_tag,
)
from flows.recurrence import local_to_utc
from flows.timeparse import DAILY, ONCE, WEEKDAYS, WEEKLY, When, parse_promise
from flows.timers import Due, TimerKind

# Small and few (product.md): the default for PROMISE_CAP.
DEFAULT_CAP = 3
# A promise is one sentence; longer text is refused with this limit named.
MAX_WHAT = 200

DEFAULT_REMINDER = time(9, 0)
EVENING_REMINDER = time(18, 0)
# "Kept?" comes once a day, in the evening, before the night begins.
ASK_AT = time(21, 0)
# Nothing is sent at night in the promiser's zone: from NIGHT_FROM until MORNING.
NIGHT_FROM = time(22, 0)
MORNING = time(8, 0)
LATEST_REMINDER = time(20, 30)
# While a pause is on, nudges wait and are tried again this much later.
POSTPONE = timedelta(minutes=15)
# After this many misses in a row the bot asks whether to change the promise.
MISSES_BEFORE_OFFER = 3
# A private message without a reply still counts as new wording for this long.
WORDS_WINDOW = timedelta(minutes=30)

REPEATS = {DAILY: range(7), WEEKDAYS: range(5)}

# Button kinds (short: payloads stay under 64 bytes).
WHEN = "pw"  # choosing when: target promise, action a WHEN_CHOICES key
ANSWER = "pk"  # kept?: target check, action kept | not | change
NOTICED = "pn"  # "I noticed": target check
CHANGE = "pc"  # change menu: target promise, action words | when | keep | drop

# Reply tag of "What will you promise?" (a bare /promise): promise-new:<partner>:<cap>.
NEW_TAG = "promise-new"
# A draft's "when?" buttons, named so a newer question can tidy them (`_left_behind`).
WHEN_STEP = "promises.when"
NUDGE_KIND = "promise.nudge"
ASK_KIND = "promise.ask"


class Promise(SQLModel, table=True):
    """One small promise by one partner (the promiser) to the other."""

    id: int | None = Field(default=None, primary_key=True)
    couple_id: int = Field(foreign_key="couple.id", index=True)
    partner_id: int = Field(index=True)
    # Per couple and stable, so "/drop 3" always means the same promise.
    number: int = 0
    what: str = secret_text()
    # draft (waiting for "when") -> active -> kept | dropped | ended; or draft -> expired
    state: str = Field(default="draft", index=True)
    repeat: str | None = None
    weekday: int | None = None
    due_on: date | None = None
    remind_at: str = "09:00"
    # Bumped on every schedule change: timers carry it and ignore themselves when stale.
    version: int = 0
    misses_in_row: int = 0
    # "words" or "when" while the promiser is changing it.
    editing: str | None = None
    editing_since: datetime | None = utc_column(nullable=True)
    created_at: datetime = utc_column()
    ended_at: datetime | None = utc_column(nullable=True)


class PromiseCheck(SQLModel, table=True):
    """One "kept?" question about one day of a promise, and how it went."""

    __table_args__ = (UniqueConstraint("promise_id", "day", name="uq_promisecheck_day"),)

    id: int | None = Field(default=None, primary_key=True)
    promise_id: int = Field(foreign_key="promise.id", index=True)
    couple_id: int = Field(foreign_key="couple.id", index=True)
    day: date
    asked_at: datetime = utc_column()
    # asked -> kept | not_kept (an unanswered question stays "asked")
    outcome: str = "asked"
    answered_at: datetime | None = utc_column(nullable=True)
    noticed_at: datetime | None = utc_column(nullable=True)


# ---- the calendar of a promise ---------------------------------------------------------

WHEN_CHOICES: dict[str, When] = {
    "tonight": When(ONCE, in_days=0, evening=True),
    "tomorrow": When(ONCE, in_days=1),
    "3days": When(ONCE, in_days=3),
    "nextweek": When(ONCE, in_days=7),
    "daily": When(DAILY),
    "weekdays": When(WEEKDAYS),
}
WHEN_LABELS = {
    "tonight": "promises.button_tonight",
    "tomorrow": "promises.button_tomorrow",
    "3days": "promises.button_3days",
    "nextweek": "promises.button_next_week",
    "daily": "promises.button_daily",
    "weekdays": "promises.button_weekdays",
}


def _hhmm(at: time) -> str:
    return at.strftime("%H:%M")


def _remind_time(promise: Promise) -> time:
    hours, minutes = promise.remind_at.split(":")
    return time(int(hours), int(minutes))


def _days_of(promise: Promise) -> range | tuple[int, ...]:
    if promise.repeat == WEEKLY:
        return (promise.weekday or 0,)
    return REPEATS.get(promise.repeat or "", range(7))


def _at_night(moment: datetime, zone: ZoneInfo) -> bool:
    clock = moment.astimezone(zone).time()
    return clock >= NIGHT_FROM or clock < MORNING


def _daytime_after(moment: datetime, zone: ZoneInfo) -> datetime:
    """`moment`, or the next morning when it falls at night in `zone`."""
    if not _at_night(moment, zone):
        return moment
    local = moment.astimezone(zone)
    day = local.date() if local.time() < MORNING else local.date() + timedelta(days=1)
    return local_to_utc(day, MORNING, zone)


def ask_moment(day: date, zone: ZoneInfo) -> datetime:
    return local_to_utc(day, ASK_AT, zone)


def nudge_moment(promise: Promise, day: date, zone: ZoneInfo) -> datetime:
    return local_to_utc(day, _remind_time(promise), zone)


def _once_day(when: When, zone: ZoneInfo, now: datetime) -> date:
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


def _occurrences(promise: Promise, start: date) -> Iterator[date]:
    if promise.repeat == ONCE:
        if promise.due_on is not None and promise.due_on >= start:
            yield promise.due_on
        return
    allowed = set(_days_of(promise))
    for offset in range(0, 15):
        day = start + timedelta(days=offset)
        if day.weekday() in allowed:
            yield day


def _first_day(promise: Promise, zone: ZoneInfo, now: datetime) -> date | None:
    """The first day that still has its evening question ahead (recurring: its nudge too)."""
    today = now.astimezone(zone).date()
    for day in _occurrences(promise, today):
        if promise.repeat == ONCE:
            return day if ask_moment(day, zone) > now else None
        if nudge_moment(promise, day, zone) > now:
            return day
    return None


def _next_day(promise: Promise, after: date, zone: ZoneInfo, now: datetime) -> date | None:
    """The next day of a recurring promise after `after` whose question is still ahead."""
    if promise.repeat == ONCE:
        return None
    start = max(after + timedelta(days=1), now.astimezone(zone).date())
    for day in _occurrences(promise, start):
        if ask_moment(day, zone) > now:
            return day
    return None


def _ref(promise: Promise) -> str:
    return f"promise:{promise.id}"


def _timers_for(promise: Promise, day: date, zone: ZoneInfo, now: datetime) -> Effects:
    payload = {"promise": promise.id, "day": day.isoformat(), "v": promise.version}
    effects: Effects = []
    nudge_at = nudge_moment(promise, day, zone)
    if nudge_at > now:
        effects.append(SetTimer(NUDGE_KIND, promise.couple_id, nudge_at, payload, _ref(promise)))
    effects.append(
        SetTimer(ASK_KIND, promise.couple_id, ask_moment(day, zone), payload, _ref(promise))
    )
    return effects


def _reschedule(promise: Promise, zone: ZoneInfo, now: datetime) -> tuple[Effects, date | None]:
    """Cancel the old timers and set the ones for the first day of the current schedule."""
    promise.version += 1
    effects: Effects = [CancelTimers(promise.couple_id, ref=_ref(promise))]
    first = _first_day(promise, zone, now)
    if first is not None:
        effects.extend(_timers_for(promise, first, zone, now))
    return effects, first


def _apply_when(
    promise: Promise, when: When, at: time | None, zone: ZoneInfo, now: datetime
) -> bool:
    """Set the schedule; True when the chosen time of day was moved out of the night."""
    chosen = at or (EVENING_REMINDER if when.evening else None)
    if chosen is None:
        # Keep a time of day chosen earlier when only the days change.
        chosen = _remind_time(promise) if promise.state == "active" else DEFAULT_REMINDER
    moved = False
    if chosen < MORNING:
        chosen, moved = MORNING, True
    elif chosen > LATEST_REMINDER:
        chosen, moved = LATEST_REMINDER, True
    promise.remind_at = _hhmm(chosen)
    promise.repeat = when.repeat
    if when.repeat == ONCE:
        promise.weekday, promise.due_on = None, _once_day(when, zone, now)
    else:
        promise.due_on = None
        promise.weekday = (
            (when.weekday if when.weekday is not None else now.astimezone(zone).weekday())
            if when.repeat == WEEKLY
            else None
        )
    return moved


# ---- showing promises ------------------------------------------------------------------


def _quoted(promise: Promise) -> str:
    return promise.what


def schedule_text(promise: Promise) -> Text:
    if promise.repeat == ONCE and promise.due_on is not None:
        return text("promises.schedule_once", day=Day(promise.due_on))
    if promise.repeat == WEEKLY:
        return text("promises.schedule_weekly", day=Weekday(promise.weekday or 0))
    if promise.repeat == WEEKDAYS:
        return text("promises.schedule_weekdays")
    return text("promises.schedule_daily")


def _clock(session: Session, couple: Couple, promiser: Partner, at: str) -> Text:
    """A time of day in the promiser's zone, named when the partners live in different zones."""
    return shown_clock(session, couple, promiser, time.fromisoformat(at))


@dataclass(frozen=True)
class FollowThrough:
    week_kept: int
    week_asked: int
    month_kept: int
    month_asked: int


def follow_through(
    session: Session, promise: Promise, zone: ZoneInfo, now: datetime
) -> FollowThrough:
    """Kept out of asked: this week (Monday on, the promiser's calendar) and the last 28 days.

    An unanswered question counts as asked and not kept: the number is what happened, not
    what was reported.
    """
    today = now.astimezone(zone).date()
    week_start = today - timedelta(days=today.weekday())
    month_start = today - timedelta(days=27)
    query = select(PromiseCheck).where(
        PromiseCheck.promise_id == promise.id,
        col(PromiseCheck.day) >= min(week_start, month_start),
        col(PromiseCheck.day) <= today,
    )
    checks = list(session.exec(query))
    week = [check for check in checks if check.day >= week_start]
    month = [check for check in checks if check.day >= month_start]
    return FollowThrough(
        week_kept=sum(check.outcome == "kept" for check in week),
        week_asked=len(week),
        month_kept=sum(check.outcome == "kept" for check in month),
        month_asked=len(month),
    )


def _follow_through_text(session: Session, promise: Promise, zone: ZoneInfo, now: datetime) -> Text:
    counts = follow_through(session, promise, zone, now)
    if counts.month_asked == 0:
        return text("promises.follow_none_yet")
    if counts.month_asked > counts.week_asked:
        return text(
            "promises.follow_both",
            kept=counts.week_kept,
            asked=counts.week_asked,
            month_kept=counts.month_kept,
            month_asked=counts.month_asked,
        )
    return text("promises.follow_week", kept=counts.week_kept, asked=counts.week_asked)


def _when_keyboard(promise_id: int) -> Keyboard:
    choices = [
        buttons.button(text(WHEN_LABELS[key]), WHEN, promise_id, key) for key in WHEN_CHOICES
    ]
    return keyboard(choices[0:2], choices[2:4], choices[4:6])


def _change_keyboard(promise: Promise, *, with_keep: bool = False) -> Keyboard:
    pid = promise.id or 0
    rows: list[list[Button]] = [
        [
            buttons.button(text("promises.button_change_words"), CHANGE, pid, "words"),
            buttons.button(text("promises.button_change_when"), CHANGE, pid, "when"),
        ],
        [buttons.button(text("promises.button_drop"), CHANGE, pid, "drop")],
    ]
    if with_keep:
        rows[1].insert(0, buttons.button(text("promises.button_keep_as_is"), CHANGE, pid, "keep"))
    return keyboard(*rows)


# ---- finding and checking ----------------------------------------------------------------


def _active(session: Session, couple_id: int, partner_id: int | None = None) -> list[Promise]:
    query = select(Promise).where(Promise.couple_id == couple_id, Promise.state == "active")
    if partner_id is not None:
        query = query.where(Promise.partner_id == partner_id)
    return list(session.exec(query.order_by(col(Promise.number))))


def _next_number(session: Session, couple_id: int) -> int:
    query = select(func.max(Promise.number)).where(Promise.couple_id == couple_id)
    return int(session.exec(query).one() or 0) + 1


def _promiser_pressing(
    session: Session, actor: Actor, promise: Promise | None
) -> tuple[Couple, Partner] | None:
    """The promise's couple and promiser when `actor` is that promiser, pressing in a chat
    the bot wrote to them (the couple's group or their own private chat)."""
    if promise is None:
        return None
    partner = session.get(Partner, promise.partner_id)
    couple = session.get(Couple, promise.couple_id)
    if partner is None or couple is None or partner.couple_id != couple.id:
        return None
    if partner.user_id != actor.user_id:
        return None
    if actor.chat_id not in {couple.group_chat_id, partner.user_id}:
        return None
    return couple, partner


def _not_yours(session: Session, promise: Promise) -> Effects:
    owner = session.get(Partner, promise.partner_id)
    return [Notice(text("promises.not_yours", name=owner.first_name if owner else ""))]


# ---- making a promise ------------------------------------------------------------------


def _cap_reached(session: Session, partner: Partner, cap: int) -> bool:
    return len(_active(session, partner.couple_id, partner.id)) >= cap


def _left_behind(session: Session, partner: Partner) -> Effects:
    """The "when?" of drafts a new question leaves behind (`_new_draft`): one line each, so
    no set of buttons stays that can only say it has expired."""
    drafts = session.exec(
        select(Promise).where(Promise.partner_id == partner.id, Promise.state == "draft")
    )
    return [
        EditTagged(
            ToPartner(partner.id or 0),
            tidy_tag(WHEN_STEP, old.id or 0),
            text("promises.when_left", what=_quoted(old)),
        )
        for old in drafts
    ]


def _new_draft(
    session: Session, partner: Partner, what: str, now: datetime, *, asking: bool
) -> Promise:
    if asking:
        # An older unanswered "when?" of the same partner is left behind: one question at
        # a time, so an old set of buttons cannot make a promise nobody remembers.
        for old in session.exec(
            select(Promise).where(Promise.partner_id == partner.id, Promise.state == "draft")
        ):
            old.state, old.ended_at = "expired", now
            session.add(old)
    draft = Promise(
        couple_id=partner.couple_id, partner_id=partner.id or 0, what=what, created_at=now
    )
    session.add(draft)
    session.flush()
    return draft


def _activate(
    session: Session,
    couple: Couple,
    partner: Partner,
    promise: Promise,
    when: When,
    at: time | None,
    now: datetime,
) -> tuple[Effects, Text]:
    """Make a draft a promise: number, schedule, timers; returns the timers and the note."""
    zone = zone_of(couple, partner)
    moved = _apply_when(promise, when, at, zone, now)
    promise.state = "active"
    promise.number = _next_number(session, couple.id or 0)
    promise.editing, promise.editing_since = None, None
    session.add(promise)
    timers, first = _reschedule(promise, zone, now)
    other = other_partner(session, partner)
    body = text(
        "promises.made",
        number=promise.number,
        other=other.first_name if other else "",
        what=_quoted(promise),
        schedule=schedule_text(promise),
        remind=_clock(session, couple, partner, promise.remind_at),
        ask=_clock(session, couple, partner, _hhmm(ASK_AT)),
        first=_first_text(promise, first, zone, now),
        night=text("promises.night_moved") if moved else "",
    )
    return timers, body


def _first_text(promise: Promise, first: date | None, zone: ZoneInfo, now: datetime) -> Text:
    if first is None:
        return text("promises.first_none")
    today = now.astimezone(zone).date()
    day = (
        text("promises.today")
        if first == today
        else text("promises.tomorrow")
        if first == today + timedelta(days=1)
        else Day(first)
    )
    if nudge_moment(promise, first, zone) > now:
        return text(
            "promises.first_nudge", day=day, at=ClockTime(time.fromisoformat(promise.remind_at))
        )
    return text("promises.first_ask", day=day, at=ClockTime(ASK_AT))


def _tell_other(session: Session, partner: Partner, promise: Promise) -> Effects:
    other = other_partner(session, partner)
    if other is None:
        return []
    return [
        Send(
            ToPartner(other.id or 0),
            text(
                "promises.told_other",
                name=partner.first_name,
                what=_quoted(promise),
                schedule=schedule_text(promise),
            ),
        )
    ]


def make_promise(
    session: Session, actor: Actor, args: str, now: datetime, cap: int = DEFAULT_CAP
) -> Effects:
    """/promise <what> [when]: a small promise to the other partner."""
    found = guard(session, actor, now)
    if not isinstance(found, Membership):
        return found
    reply = ToChat(actor.chat_id)
    if not args.strip():
        # Tapped bare from the menu: ask for it; the answer goes on into "when?".
        return [
            Send(
                reply,
                text("promises.ask_what", name=found.partner.first_name),
                force_reply=True,
                tag=f"{NEW_TAG}:{found.partner_id}:{cap}:{int(now.timestamp())}",
            )
        ]
    parsed = parse_promise(args, found.partner.language)
    if not parsed.what:
        return [Send(reply, text("promises.usage"))]
    if len(parsed.what) > MAX_WHAT:
        return [Send(reply, text("common.too_long", limit=MAX_WHAT))]
    if _cap_reached(session, found.partner, cap):
        return [Send(reply, text("promises.cap_reached", cap=cap))]
    left = _left_behind(session, found.partner) if parsed.when is None else []
    draft = _new_draft(session, found.partner, parsed.what, now, asking=parsed.when is None)
    if parsed.when is None:
        return [
            *left,
            Send(
                reply,
                text("promises.ask_when", what=_quoted(draft)),
                buttons=_when_keyboard(draft.id or 0),
                tag=tidy_tag(WHEN_STEP, draft.id or 0),
            ),
        ]
    timers, body = _activate(
        session, found.couple, found.partner, draft, parsed.when, parsed.at, now
    )
    effects: Effects = [*timers, Send(reply, body)]
    if actor.in_private:
        effects.extend(_tell_other(session, found.partner, draft))
    return effects


def promise_answer(session: Session, actor: Actor, said: Said, now: datetime) -> Effects | None:
    """What someone will promise, in reply to "What will you promise?" (a bare /promise).
    The tag carries who was asked, the cap at that moment and when."""
    parts = (said.reply_to_tag or "").split(":")
    if len(parts) != 4 or parts[0] != NEW_TAG or not all(p.isdigit() for p in parts[1:]):
        return None
    partner_id, cap = parts[1], parts[2]
    asked_at = datetime.fromtimestamp(int(parts[3]), UTC)
    asked = session.get(Partner, int(partner_id))
    if asked is None:
        return None
    if asked.user_id != actor.user_id:
        if not said.is_reply:
            return None
        return [
            Send(ToChat(actor.chat_id), text("promises.ask_what_not_yours", name=asked.first_name))
        ]
    if not said.is_reply:
        # Typed in private after the question: an answer only soon after, and only once.
        answered = session.exec(
            select(Promise).where(
                Promise.partner_id == asked.id, col(Promise.created_at) >= asked_at
            )
        ).first()
        if not actor.in_private or answered is not None or now - asked_at > WORDS_WINDOW:
            return None
    return make_promise(session, actor, said.text, now, cap=int(cap))


def offer_promise(session: Session, partner: Partner, what: str, now: datetime) -> Effects:
    """From a check-in or repair answer: the same "when?" buttons, for that text."""
    cleaned = " ".join(what.split()).strip(" \t,;:-–—.")
    if not cleaned:
        return []
    if len(cleaned) > MAX_WHAT:
        return [Send(ToPartner(partner.id or 0), text("promises.offer_too_long", limit=MAX_WHAT))]
    # The cap is checked when a time is chosen: the button handler knows the configured cap.
    left = _left_behind(session, partner)
    draft = _new_draft(session, partner, cleaned, now, asking=True)
    return [
        *left,
        Send(
            ToPartner(partner.id or 0),
            text("promises.ask_when", what=_quoted(draft)),
            buttons=_when_keyboard(draft.id or 0),
            tag=tidy_tag(WHEN_STEP, draft.id or 0),
        ),
    ]


def press_when(
    session: Session, actor: Actor, press: Press, now: datetime, cap: int = DEFAULT_CAP
) -> Effects:
    """A "when?" button: makes a draft a promise, or reschedules one being changed."""
    when = WHEN_CHOICES.get(press.action)
    promise = session.get(Promise, press.target_id)
    if when is None or promise is None:
        return buttons.expired()
    owner = _promiser_pressing(session, actor, promise)
    if owner is None:
        if promise.state in {"draft", "active"} and actor.chat_id in _couple_chats(
            session, promise
        ):
            return _not_yours(session, promise)
        return buttons.expired()
    couple, partner = owner
    if promise.state == "draft":
        if couple.formed_at is None:
            return buttons.expired()
        if _cap_reached(session, partner, cap):
            promise.state, promise.ended_at = "expired", now
            session.add(promise)
            return [EditOrigin(body=text("promises.cap_reached", cap=cap))]
        timers, body = _activate(session, couple, partner, promise, when, None, now)
        effects: Effects = [*timers, Notice(text("promises.made_notice")), EditOrigin(body=body)]
        if actor.in_private:
            effects.extend(_tell_other(session, partner, promise))
        return effects
    if promise.state == "active" and promise.editing == "when":
        zone = zone_of(couple, partner)
        moved = _apply_when(promise, when, None, zone, now)
        promise.editing, promise.editing_since = None, None
        promise.misses_in_row = 0
        session.add(promise)
        timers, first = _reschedule(promise, zone, now)
        body = text(
            "promises.when_changed",
            number=promise.number,
            what=_quoted(promise),
            schedule=schedule_text(promise),
            first=_first_text(promise, first, zone, now),
            night=text("promises.night_moved") if moved else "",
        )
        return [*timers, EditOrigin(body=body)]
    return buttons.expired()


# ---- the day of a promise: nudge, then "kept?" --------------------------------------------


def _live(session: Session, due: Due) -> tuple[Promise, Couple, Partner] | None:
    """The promise a timer is about, if the timer still matches its current schedule."""
    promise = session.get(Promise, int(due.payload.get("promise") or 0))
    if promise is None or promise.state != "active" or due.payload.get("v") != promise.version:
        return None
    couple = session.get(Couple, promise.couple_id)
    partner = session.get(Partner, promise.partner_id)
    if couple is None or partner is None or couple.formed_at is None:
        return None
    return promise, couple, partner


def _postponed(due: Due, promise: Promise, zone: ZoneInfo) -> SetTimer:
    """The same timer again a little later (pause) or in the morning (night): never lost."""
    later = _daytime_after(due.now + POSTPONE, zone)
    return SetTimer(due.kind, promise.couple_id, later, dict(due.payload), _ref(promise))


def nudge_due(session: Session, due: Due) -> Effects:
    """The promiser's reminder at their chosen time of day."""
    found = _live(session, due)
    if found is None:
        return []
    promise, couple, partner = found
    zone = zone_of(couple, partner)
    day = date.fromisoformat(str(due.payload["day"]))
    if due.now.astimezone(zone).date() > day:
        return []  # that day is over; its evening question still comes
    if is_quiet(session, couple.id or 0, due.now) or _at_night(due.now, zone):
        return [_postponed(due, promise, zone)]
    key = "promises.nudge_once" if promise.repeat == ONCE else "promises.nudge"
    return [
        Send(ToPartner(partner.id or 0), text(key, what=_quoted(promise), ask=ClockTime(ASK_AT)))
    ]


def _answer_keyboard(check: PromiseCheck) -> Keyboard:
    cid = check.id or 0
    return keyboard(
        [
            buttons.button(text("promises.button_kept"), ANSWER, cid, "kept"),
            buttons.button(text("promises.button_not_this_time"), ANSWER, cid, "not"),
        ],
        [buttons.button(text("promises.button_change"), ANSWER, cid, "change")],
    )


def _following(promise: Promise, day: date, zone: ZoneInfo, now: datetime) -> Effects:
    following = _next_day(promise, day, zone, now)
    return _timers_for(promise, following, zone, now) if following else []


def ask_missed(session: Session, due: Due) -> Effects:
    """The bot was down past the evening: a one-off is still asked, a recurring one moves on."""
    found = _live(session, due)
    if found is None:
        return []
    promise, couple, partner = found
    zone = zone_of(couple, partner)
    if promise.repeat == ONCE:
        return [_postponed(due, promise, zone)]
    return _following(promise, date.fromisoformat(str(due.payload["day"])), zone, due.now)


def ask_due(session: Session, due: Due) -> Effects:
    """In the evening of the promise's day: kept? For recurring ones, set up the next day."""
    found = _live(session, due)
    if found is None:
        return []
    promise, couple, partner = found
    zone = zone_of(couple, partner)
    if is_quiet(session, couple.id or 0, due.now) or _at_night(due.now, zone):
        return [_postponed(due, promise, zone)]
    day = date.fromisoformat(str(due.payload["day"]))
    already = session.exec(
        select(PromiseCheck).where(PromiseCheck.promise_id == promise.id, PromiseCheck.day == day)
    ).first()
    if already is not None:
        return []
    check = PromiseCheck(
        promise_id=promise.id or 0, couple_id=couple.id or 0, day=day, asked_at=due.now
    )
    session.add(check)
    session.flush()
    today = due.now.astimezone(zone).date()
    if promise.repeat == ONCE:
        key = "promises.ask_kept_once"
    elif day == today:
        key = "promises.ask_kept_today"
    else:
        key = "promises.ask_kept_day"
    question = Send(
        ToPartner(partner.id or 0),
        text(key, what=_quoted(promise), day=Day(day)),
        buttons=_answer_keyboard(check),
    )
    return [question, *_following(promise, day, zone, due.now)]


# ---- answering "kept?" ------------------------------------------------------------------


def press_answer(session: Session, actor: Actor, press: Press, now: datetime) -> Effects:
    """Kept / Not this time / Change it, from the promiser only, once per question."""
    check = session.get(PromiseCheck, press.target_id)
    promise = session.get(Promise, check.promise_id) if check is not None else None
    if check is None or promise is None or press.action not in {"kept", "not", "change"}:
        return buttons.expired()
    owner = _promiser_pressing(session, actor, promise)
    if owner is None:
        if actor.chat_id in _couple_chats(session, promise):
            return _not_yours(session, promise)
        return buttons.expired()
    couple, partner = owner
    if promise.state != "active":
        return buttons.expired()
    if press.action == "change":
        return [Notice(text("promises.change_notice")), _change_menu(partner, promise)]
    if check.outcome != "asked":
        return buttons.expired()
    check.answered_at = now
    zone = zone_of(couple, partner)
    if press.action == "kept":
        return _kept(session, couple, partner, promise, check, zone, now)
    return _not_this_time(session, partner, promise, check, zone, now)


def _change_menu(partner: Partner, promise: Promise) -> Send:
    return Send(
        ToPartner(partner.id or 0),
        text(
            "promises.change_menu",
            number=promise.number,
            what=_quoted(promise),
            schedule=schedule_text(promise),
        ),
        buttons=_change_keyboard(promise),
    )


def _couple_chats(session: Session, promise: Promise) -> set[int]:
    couple = session.get(Couple, promise.couple_id)
    if couple is None:
        return set()
    partners = partners_of(session, couple.id or 0)
    return {couple.group_chat_id, *(partner.user_id for partner in partners)}


def _kept(
    session: Session,
    couple: Couple,
    partner: Partner,
    promise: Promise,
    check: PromiseCheck,
    zone: ZoneInfo,
    now: datetime,
) -> Effects:
    check.outcome = "kept"
    promise.misses_in_row = 0
    effects: Effects = []
    session.add_all([check, promise])
    session.flush()
    other = other_partner(session, partner)
    other_name = other.first_name if other else ""
    if promise.repeat == ONCE:
        effects.extend(_end(promise, now, state="kept"))
        thanks = text("promises.kept_once_thanks", what=_quoted(promise), other=other_name)
    else:
        thanks = text(
            "promises.kept_thanks",
            what=_quoted(promise),
            other=other_name,
            follow=_follow_through_text(session, promise, zone, now),
        )
    session.add(promise)
    effects.extend([Notice(text("promises.kept_notice")), EditOrigin(body=thanks)])
    if other is not None:
        effects.append(
            Send(
                ToPartner(other.id or 0),
                text("promises.kept_told", name=partner.first_name, what=_quoted(promise)),
                buttons=keyboard(
                    [buttons.button(text("promises.button_noticed"), NOTICED, check.id or 0, "yes")]
                ),
            )
        )
    return effects


def _not_this_time(
    session: Session,
    partner: Partner,
    promise: Promise,
    check: PromiseCheck,
    zone: ZoneInfo,
    now: datetime,
) -> Effects:
    check.outcome = "not_kept"
    promise.misses_in_row += 1
    effects: Effects = []
    if promise.repeat == ONCE:
        # A one-off stays: it simply gets another day.
        promise.due_on = max(check.day, now.astimezone(zone).date()) + timedelta(days=1)
        timers, first = _reschedule(promise, zone, now)
        effects.extend(timers)
        body = text(
            "promises.not_this_time_once",
            what=_quoted(promise),
            next=_first_text(promise, first, zone, now),
        )
    else:
        body = text("promises.not_this_time", what=_quoted(promise))
    session.add_all([check, promise])
    effects.extend([Notice(text("promises.not_notice")), EditOrigin(body=body)])
    if promise.misses_in_row >= MISSES_BEFORE_OFFER:
        effects.append(
            Send(
                ToPartner(partner.id or 0),
                text("promises.misses_offer", what=_quoted(promise), misses=promise.misses_in_row),
                buttons=_change_keyboard(promise, with_keep=True),
            )
        )
    return effects


def press_noticed(session: Session, actor: Actor, press: Press, now: datetime) -> Effects:
    """ "I noticed": only the other partner, once, for a kept day."""
    check = session.get(PromiseCheck, press.target_id)
    promise = session.get(Promise, check.promise_id) if check is not None else None
    if check is None or promise is None or press.action != "yes" or check.outcome != "kept":
        return buttons.expired()
    couple = session.get(Couple, promise.couple_id)
    promiser = session.get(Partner, promise.partner_id)
    if couple is None or promiser is None:
        return buttons.expired()
    if promiser.user_id == actor.user_id:
        other = other_partner(session, promiser)
        return [Notice(text("promises.noticed_not_yours", name=other.first_name if other else ""))]
    noticer = other_partner(session, promiser)
    if (
        noticer is None
        or noticer.user_id != actor.user_id
        or actor.chat_id not in {couple.group_chat_id, noticer.user_id}
    ):
        return buttons.expired()
    if check.noticed_at is not None:
        return buttons.expired()
    check.noticed_at = now
    session.add(check)
    return [
        Notice(text("promises.noticed_notice")),
        EditOrigin(
            body=text("promises.noticed_done", name=promiser.first_name, what=_quoted(promise))
        ),
        Send(
            ToPartner(promiser.id or 0),
            text("promises.was_noticed", name=noticer.first_name, what=_quoted(promise)),
        ),
    ]


# ---- changing and ending -----------------------------------------------------------------


def _end(promise: Promise, now: datetime, state: str = "dropped") -> Effects:
    promise.state, promise.ended_at = state, now
    promise.editing, promise.editing_since = None, None
    return [CancelTimers(promise.couple_id, ref=_ref(promise))]


def press_change(session: Session, actor: Actor, press: Press, now: datetime) -> Effects:
    """The change menu: new wording, new schedule, keep as is, or drop."""
    promise = session.get(Promise, press.target_id)
    if promise is None or press.action not in {"menu", "words", "when", "keep", "drop"}:
        return buttons.expired()
    owner = _promiser_pressing(session, actor, promise)
    if owner is None:
        if promise.state == "active" and actor.chat_id in _couple_chats(session, promise):
            return _not_yours(session, promise)
        return buttons.expired()
    _couple, partner = owner
    if promise.state != "active":
        return buttons.expired()
    if press.action == "menu":
        return [Notice(text("promises.change_notice")), _change_menu(partner, promise)]
    if press.action == "drop":
        effects = _end(promise, now)
        session.add(promise)
        return [
            *effects,
            EditOrigin(body=text("promises.dropped", number=promise.number, what=_quoted(promise))),
        ]
    if press.action == "keep":
        promise.misses_in_row = 0
        promise.editing, promise.editing_since = None, None
        session.add(promise)
        return [EditOrigin(body=text("promises.kept_as_is", what=_quoted(promise)))]
    promise.editing, promise.editing_since = press.action, now
    session.add(promise)
    if press.action == "when":
        return [
            EditOrigin(
                body=text("promises.ask_new_when", what=_quoted(promise)),
                buttons=_when_keyboard(promise.id or 0),
            )
        ]
    return [
        EditOrigin(body=text("promises.change_words_started", number=promise.number)),
        Send(
            ToPartner(partner.id or 0),
            text("promises.ask_words", what=_quoted(promise), limit=MAX_WHAT),
            force_reply=True,
            tag=f"promises:{promise.id}:words",
        ),
    ]


def new_words(session: Session, actor: Actor, said: Said, now: datetime) -> Effects | None:
    """New wording for a promise: a reply to the bot's question, or (in private) the next
    message soon after "Change the words"."""
    reply = ToChat(actor.chat_id)
    tag = said.reply_to_tag or ""
    promise: Promise | None = None
    if tag.startswith("promises:") and tag.endswith(":words"):
        middle = tag.split(":")[1]
        promise = session.get(Promise, int(middle)) if middle.isdigit() else None
        if promise is None or promise.state != "active" or promise.editing != "words":
            return [Send(reply, text("promises.words_stale"))]
    elif actor.in_private and not tag:
        query = (
            select(Promise)
            .join(Partner, col(Partner.id) == col(Promise.partner_id))
            .where(
                Partner.user_id == actor.user_id,
                Promise.state == "active",
                Promise.editing == "words",
                col(Promise.editing_since) >= now - WORDS_WINDOW,
            )
            .order_by(col(Promise.editing_since).desc())
        )
        promise = session.exec(query).first()
        if promise is None:
            return None
    else:
        return None
    if _promiser_pressing(session, actor, promise) is None:
        # Someone else replied to the question: not theirs to change.
        return [Send(reply, _not_yours_text(session, promise))]
    cleaned = " ".join(said.text.split())
    if not cleaned:
        return [Send(reply, text("promises.ask_words", what=_quoted(promise), limit=MAX_WHAT))]
    if len(cleaned) > MAX_WHAT:
        return [Send(reply, text("common.too_long", limit=MAX_WHAT))]
    promise.what = cleaned
    promise.editing, promise.editing_since = None, None
    session.add(promise)
    return [
        Send(reply, text("promises.words_changed", number=promise.number, what=_quoted(promise)))
    ]


def _short(what: str, limit: int = 32) -> str:
    """A promise's words on a button: Telegram cuts long labels, so cut them kindly."""
    return what if len(what) <= limit else what[: limit - 1].rstrip() + "…"


def _not_yours_text(session: Session, promise: Promise) -> Text:
    owner = session.get(Partner, promise.partner_id)
    return text("promises.not_yours", name=owner.first_name if owner else "")


def drop(session: Session, actor: Actor, args: str, now: datetime) -> Effects:
    """/drop N: ends one of your promises; its history stays."""
    found = guard(session, actor, now)
    if not isinstance(found, Membership):
        return found
    reply = ToChat(actor.chat_id)
    raw = args.strip().lstrip("#")
    if not raw:
        own = _active(session, found.couple_id, found.partner_id)
        if not own:
            return [Send(reply, text("promises.drop_none"))]
        choices = [
            [
                buttons.button(
                    text(
                        "promises.button_drop_number",
                        number=promise.number,
                        what=_short(promise.what),
                    ),
                    CHANGE,
                    promise.id or 0,
                    "drop",
                )
            ]
            for promise in own
        ]
        return [Send(reply, text("promises.drop_choose"), buttons=keyboard(*choices))]
    if not raw.isdigit():
        return [Send(reply, text("promises.drop_usage"))]
    promise = session.exec(
        select(Promise).where(
            Promise.couple_id == found.couple_id,
            Promise.number == int(raw),
            Promise.state == "active",
        )
    ).first()
    if promise is None:
        return [Send(reply, text("promises.drop_unknown", number=int(raw)))]
    if promise.partner_id != found.partner_id:
        return [Send(reply, _not_yours_text(session, promise))]
    effects = _end(promise, now)
    session.add(promise)
    return [
        *effects,
        Send(reply, text("promises.dropped", number=promise.number, what=_quoted(promise))),
    ]


def list_promises(session: Session, actor: Actor, args: str, now: datetime) -> Effects:
    """/promises: both partners' active promises with their follow-through."""
    found = guard(session, actor, now)
    if not isinstance(found, Membership):
        return found
    reply = ToChat(actor.chat_id)
    couple = found.couple
    promises = _active(session, found.couple_id)
    if not promises:
        return [Send(reply, text("promises.list_empty"))]
    names = {partner.id: partner for partner in partners_of(session, found.couple_id)}
    lines: list[Text] = []
    rows: list[list[Button]] = []
    for promise in promises:
        promiser = names.get(promise.partner_id)
        if promiser is None:
            continue
        zone = zone_of(couple, promiser)
        lines.append(
            text(
                "promises.list_line",
                number=promise.number,
                name=promiser.first_name,
                what=_quoted(promise),
                schedule=schedule_text(promise),
                remind=_clock(session, couple, promiser, promise.remind_at),
            )
        )
        if promise.repeat != ONCE:
            lines.append(_follow_through_text(session, promise, zone, now))
        label = text("promises.button_change_number", number=promise.number)
        rows.append([buttons.button(label, CHANGE, promise.id or 0, "menu")])
    return [Send(reply, text("promises.list", lines=tuple(lines)), buttons=keyboard(*_pairs(rows)))]


def _pairs(rows: list[list[Button]]) -> list[list[Button]]:
    flat = [button for row in rows for button in row]
    return [flat[index : index + 2] for index in range(0, len(flat), 2)]


# ---- around the couple -------------------------------------------------------------------


def _settings(session: Session, couple: Couple, reader: Partner) -> list[Text]:
    return [
        text(
            "promises.settings",
            name=partner.first_name,
            count=len(_active(session, couple.id or 0, partner.id)),
        )
        for partner in partners_of(session, couple.id or 0)
    ]


def _on_leave(session: Session, couple: Couple, partner: Partner, now: datetime) -> Effects:
    """A partner leaves: every promise of the couple ends (its history stays)."""
    for promise in session.exec(
        select(Promise).where(
            Promise.couple_id == couple.id, col(Promise.state).in_(["draft", "active"])
        )
    ):
        _end(promise, now, state="ended")
        session.add(promise)
    return [
        CancelTimers(couple.id or 0, kind=NUDGE_KIND),
        CancelTimers(couple.id or 0, kind=ASK_KIND),
    ]


def _promiser_of(session: Session, payload: Mapping[str, Any]) -> int | None:
    """Nudges and "kept?" follow the promiser's own zone when they set one."""
    promise = session.get(Promise, int(payload.get("promise") or 0))
    return promise.partner_id if promise is not None else None


FEATURE = Feature(
    name="promises",
    # /promise is wired in bot/app.py: it passes the PROMISE_CAP setting (as does the
    # "when?" button handler there, which takes WHEN presses before this one).
    commands={"promises": list_promises, "drop": drop},
    buttons={WHEN: press_when, ANSWER: press_answer, NOTICED: press_noticed, CHANGE: press_change},
    timers=(
        TimerKind(NUDGE_KIND, nudge_due, useful_for=timedelta(hours=3)),
        TimerKind(ASK_KIND, ask_due, useful_for=timedelta(hours=14), on_missed=ask_missed),
    ),
    local_time_timers={NUDGE_KIND: _promiser_of, ASK_KIND: _promiser_of},
    on_text=(promise_answer, new_words),
    on_leave=(_on_leave,),
    settings_lines=(_settings,),
    promise_offer=offer_promise,
)
