"""The day of a promise: the nudge at the promiser's time, then "kept?" in the evening,
and what happens with the answer (told to the other, "I noticed", the offer after misses).

A miss carries no blame; after several misses in a row the bot offers to make the promise
easier.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from flows import buttons
from flows.buttons import Press
from flows.couples import (
    Actor,
    other_partner,
    zone_of,
)
from flows.hooks import is_quiet
from flows.models import Couple, Partner
from flows.outcome import (
    ClockTime,
    Day,
    EditOrigin,
    Effects,
    Notice,
    Send,
    SetTimer,
    ToPartner,
    keyboard,
    text,
)
from flows.promises import schedule, wording
from flows.promises.model import (
    NOTICED,
    CheckOutcome,
    Promise,
    PromiseCheck,
    PromiseState,
    couple_chats,
    end_promise,
    promiser_pressing,
    ref,
)
from flows.timeparse import ONCE
from flows.timers import Due

# While a pause is on, nudges wait and are tried again this much later.
POSTPONE = timedelta(minutes=15)


# After this many misses in a row the bot asks whether to change the promise.
MISSES_BEFORE_OFFER = 3


def _live(session: Session, due: Due) -> tuple[Promise, Couple, Partner] | None:
    """The promise a timer is about, if the timer still matches its current schedule."""
    promise = session.get(Promise, int(due.payload.get("promise") or 0))
    if (
        promise is None
        or promise.state != PromiseState.ACTIVE
        or due.payload.get("v") != promise.version
    ):
        return None
    couple = session.get(Couple, promise.couple_id)
    partner = session.get(Partner, promise.partner_id)
    if couple is None or partner is None or couple.formed_at is None:
        return None
    return promise, couple, partner


def _postponed(due: Due, promise: Promise, zone: ZoneInfo) -> SetTimer:
    """The same timer again a little later (pause) or in the morning (night): never lost."""
    later = schedule.daytime_after(due.now + POSTPONE, zone)
    return SetTimer(due.kind, promise.couple_id, later, dict(due.payload), ref(promise))


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
    if is_quiet(session, couple.id or 0, due.now) or schedule.at_night(due.now, zone):
        return [_postponed(due, promise, zone)]
    key = "promises.nudge_once" if promise.repeat == ONCE else "promises.nudge"
    return [
        Send(
            ToPartner(partner.id or 0),
            text(key, what=wording.quoted(promise), ask=ClockTime(schedule.ASK_AT)),
        )
    ]


def _following(promise: Promise, day: date, zone: ZoneInfo, now: datetime) -> Effects:
    following = schedule.next_day(promise, day, zone, now)
    return schedule.timers_for(promise, following, zone, now) if following else []


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
    if is_quiet(session, couple.id or 0, due.now) or schedule.at_night(due.now, zone):
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
        text(key, what=wording.quoted(promise), day=Day(day)),
        buttons=wording.answer_keyboard(check),
    )
    return [question, *_following(promise, day, zone, due.now)]


# ---- answering "kept?" ------------------------------------------------------------------


def press_answer(session: Session, actor: Actor, press: Press, now: datetime) -> Effects:
    """Kept / Not this time / Change it, from the promiser only, once per question."""
    check = session.get(PromiseCheck, press.target_id)
    promise = session.get(Promise, check.promise_id) if check is not None else None
    if check is None or promise is None or press.action not in {"kept", "not", "change"}:
        return buttons.expired()
    owner = promiser_pressing(session, actor, promise)
    if owner is None:
        if actor.chat_id in couple_chats(session, promise):
            return wording.not_yours(session, promise)
        return buttons.expired()
    couple, partner = owner
    if promise.state != PromiseState.ACTIVE:
        return buttons.expired()
    if press.action == "change":
        return [Notice(text("promises.change_notice")), wording.change_menu(partner, promise)]
    if check.outcome != CheckOutcome.ASKED:
        return buttons.expired()
    check.answered_at = now
    zone = zone_of(couple, partner)
    if press.action == "kept":
        return _kept(session, couple, partner, promise, check, zone, now)
    return _not_this_time(session, partner, promise, check, zone, now)


def _kept(
    session: Session,
    couple: Couple,
    partner: Partner,
    promise: Promise,
    check: PromiseCheck,
    zone: ZoneInfo,
    now: datetime,
) -> Effects:
    check.outcome = CheckOutcome.KEPT
    promise.misses_in_row = 0
    effects: Effects = []
    session.add_all([check, promise])
    session.flush()
    other = other_partner(session, partner)
    other_name = other.first_name if other else ""
    if promise.repeat == ONCE:
        effects.extend(end_promise(promise, now, state=PromiseState.KEPT))
        thanks = text("promises.kept_once_thanks", what=wording.quoted(promise), other=other_name)
    else:
        thanks = text(
            "promises.kept_thanks",
            what=wording.quoted(promise),
            other=other_name,
            follow=wording.follow_through_text(session, promise, zone, now),
        )
    session.add(promise)
    effects.extend([Notice(text("promises.kept_notice")), EditOrigin(body=thanks)])
    if other is not None:
        effects.append(
            Send(
                ToPartner(other.id or 0),
                text("promises.kept_told", name=partner.first_name, what=wording.quoted(promise)),
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
    check.outcome = CheckOutcome.NOT_KEPT
    promise.misses_in_row += 1
    effects: Effects = []
    if promise.repeat == ONCE:
        # A one-off stays: it simply gets another day.
        promise.due_on = max(check.day, now.astimezone(zone).date()) + timedelta(days=1)
        timers, first = schedule.reschedule(promise, zone, now)
        effects.extend(timers)
        body = text(
            "promises.not_this_time_once",
            what=wording.quoted(promise),
            next=wording.first_text(promise, first, zone, now),
        )
    else:
        body = text("promises.not_this_time", what=wording.quoted(promise))
    session.add_all([check, promise])
    effects.extend([Notice(text("promises.not_notice")), EditOrigin(body=body)])
    if promise.misses_in_row >= MISSES_BEFORE_OFFER:
        effects.append(
            Send(
                ToPartner(partner.id or 0),
                text(
                    "promises.misses_offer",
                    what=wording.quoted(promise),
                    misses=promise.misses_in_row,
                ),
                buttons=wording.change_keyboard(promise, with_keep=True),
            )
        )
    return effects


def press_noticed(session: Session, actor: Actor, press: Press, now: datetime) -> Effects:
    """ "I noticed": only the other partner, once, for a kept day."""
    check = session.get(PromiseCheck, press.target_id)
    promise = session.get(Promise, check.promise_id) if check is not None else None
    if (
        check is None
        or promise is None
        or press.action != "yes"
        or check.outcome != CheckOutcome.KEPT
    ):
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
            body=text(
                "promises.noticed_done", name=promiser.first_name, what=wording.quoted(promise)
            )
        ),
        Send(
            ToPartner(promiser.id or 0),
            text("promises.was_noticed", name=noticer.first_name, what=wording.quoted(promise)),
        ),
    ]
