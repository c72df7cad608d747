"""What promises say: their messages, schedules and keyboards."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session

from flows import buttons
from flows.couples import (
    shown_clock,
)
from flows.models import Couple, Partner
from flows.outcome import (
    Button,
    ClockTime,
    Day,
    Effects,
    Keyboard,
    Notice,
    Send,
    Text,
    ToPartner,
    Weekday,
    keyboard,
    text,
)
from flows.promises import schedule
from flows.promises.model import (
    ANSWER,
    CHANGE,
    WHEN,
    Promise,
    PromiseCheck,
    follow_through,
)
from flows.timeparse import ONCE, WEEKDAYS, WEEKLY

WHEN_LABELS = {
    "tonight": "promises.button_tonight",
    "tomorrow": "promises.button_tomorrow",
    "3days": "promises.button_3days",
    "nextweek": "promises.button_next_week",
    "daily": "promises.button_daily",
    "weekdays": "promises.button_weekdays",
}


def quoted(promise: Promise) -> str:
    return promise.what


def schedule_text(promise: Promise) -> Text:
    if promise.repeat == ONCE and promise.due_on is not None:
        return text("promises.schedule_once", day=Day(promise.due_on))
    if promise.repeat == WEEKLY:
        return text("promises.schedule_weekly", day=Weekday(promise.weekday or 0))
    if promise.repeat == WEEKDAYS:
        return text("promises.schedule_weekdays")
    return text("promises.schedule_daily")


def clock(session: Session, couple: Couple, promiser: Partner, at: str) -> Text:
    """A time of day in the promiser's zone, named when the partners live in different zones."""
    return shown_clock(session, couple, promiser, time.fromisoformat(at))


def follow_through_text(session: Session, promise: Promise, zone: ZoneInfo, now: datetime) -> Text:
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


def when_keyboard(promise_id: int) -> Keyboard:
    choices = [
        buttons.button(text(WHEN_LABELS[key]), WHEN, promise_id, key)
        for key in schedule.WHEN_CHOICES
    ]
    return keyboard(choices[0:2], choices[2:4], choices[4:6])


def change_keyboard(promise: Promise, *, with_keep: bool = False) -> Keyboard:
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


def not_yours(session: Session, promise: Promise) -> Effects:
    owner = session.get(Partner, promise.partner_id)
    return [Notice(text("promises.not_yours", name=owner.first_name if owner else ""))]


def first_text(promise: Promise, first: date | None, zone: ZoneInfo, now: datetime) -> Text:
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
    if schedule.nudge_moment(promise, first, zone) > now:
        return text(
            "promises.first_nudge", day=day, at=ClockTime(time.fromisoformat(promise.remind_at))
        )
    return text("promises.first_ask", day=day, at=ClockTime(schedule.ASK_AT))


def answer_keyboard(check: PromiseCheck) -> Keyboard:
    cid = check.id or 0
    return keyboard(
        [
            buttons.button(text("promises.button_kept"), ANSWER, cid, "kept"),
            buttons.button(text("promises.button_not_this_time"), ANSWER, cid, "not"),
        ],
        [buttons.button(text("promises.button_change"), ANSWER, cid, "change")],
    )


def change_menu(partner: Partner, promise: Promise) -> Send:
    return Send(
        ToPartner(partner.id or 0),
        text(
            "promises.change_menu",
            number=promise.number,
            what=quoted(promise),
            schedule=schedule_text(promise),
        ),
        buttons=change_keyboard(promise),
    )


def short(what: str, limit: int = 32) -> str:
    """A promise's words on a button: Telegram cuts long labels, so cut them kindly."""
    return what if len(what) <= limit else what[: limit - 1].rstrip() + "…"


def not_yours_text(session: Session, promise: Promise) -> Text:
    owner = session.get(Partner, promise.partner_id)
    return text("promises.not_yours", name=owner.first_name if owner else "")


def pairs(rows: list[list[Button]]) -> list[list[Button]]:
    flat = [button for row in rows for button in row]
    return [flat[index : index + 2] for index in range(0, len(flat), 2)]
