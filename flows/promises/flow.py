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

This module makes a promise (/promise, its "when?" buttons, /promises) and declares
`FEATURE`; the nudge and "kept?" are in `daily.py`, changes and /drop in `changing.py`,
the calendar in `schedule.py`, the words in `wording.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlmodel import Session, col, select

from flows import buttons
from flows.buttons import Press
from flows.couples import (
    Actor,
    Membership,
    guard,
    other_partner,
    partners_of,
    zone_of,
)
from flows.feature import Feature
from flows.inputs import Said
from flows.models import Couple, Partner
from flows.outcome import (
    Button,
    CancelTimers,
    EditOrigin,
    EditTagged,
    Effects,
    Notice,
    Send,
    Text,
    ToChat,
    ToPartner,
    keyboard,
    text,
    tidy_tag,
)
from flows.promises import schedule, wording
from flows.promises.changing import drop, new_words, press_change
from flows.promises.daily import ask_due, ask_missed, nudge_due, press_answer, press_noticed
from flows.promises.model import (
    ANSWER,
    ASK_KIND,
    CHANGE,
    DEFAULT_CAP,
    MAX_WHAT,
    NEW_TAG,
    NOTICED,
    NUDGE_KIND,
    WHEN,
    WHEN_STEP,
    WORDS_WINDOW,
    Promise,
    PromiseState,
    active_promises,
    couple_chats,
    end_promise,
    next_number,
    promiser_pressing,
)
from flows.timeparse import ONCE, When, parse_promise
from flows.timers import TimerKind

# ---- making a promise ------------------------------------------------------------------


def _cap_reached(session: Session, partner: Partner, cap: int) -> bool:
    return len(active_promises(session, partner.couple_id, partner.id)) >= cap


def _left_behind(session: Session, partner: Partner) -> Effects:
    """The "when?" of drafts a new question leaves behind (`_new_draft`): one line each, so
    no set of buttons stays that can only say it has expired."""
    drafts = session.exec(
        select(Promise).where(Promise.partner_id == partner.id, Promise.state == PromiseState.DRAFT)
    )
    return [
        EditTagged(
            ToPartner(partner.id or 0),
            tidy_tag(WHEN_STEP, old.id or 0),
            text("promises.when_left", what=wording.quoted(old)),
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
            select(Promise).where(
                Promise.partner_id == partner.id, Promise.state == PromiseState.DRAFT
            )
        ):
            old.state, old.ended_at = PromiseState.EXPIRED, now
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
    moved = schedule.apply_when(promise, when, at, zone, now)
    promise.state = PromiseState.ACTIVE
    promise.number = next_number(session, couple.id or 0)
    promise.editing, promise.editing_since = None, None
    session.add(promise)
    timers, first = schedule.reschedule(promise, zone, now)
    other = other_partner(session, partner)
    body = text(
        "promises.made",
        number=promise.number,
        other=other.first_name if other else "",
        what=wording.quoted(promise),
        schedule=wording.schedule_text(promise),
        remind=wording.clock(session, couple, partner, promise.remind_at),
        ask=wording.clock(session, couple, partner, schedule.hhmm(schedule.ASK_AT)),
        first=wording.first_text(promise, first, zone, now),
        night=text("promises.night_moved") if moved else "",
    )
    return timers, body


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
                what=wording.quoted(promise),
                schedule=wording.schedule_text(promise),
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
                text("promises.ask_when", what=wording.quoted(draft)),
                buttons=wording.when_keyboard(draft.id or 0),
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
            text("promises.ask_when", what=wording.quoted(draft)),
            buttons=wording.when_keyboard(draft.id or 0),
            tag=tidy_tag(WHEN_STEP, draft.id or 0),
        ),
    ]


def press_when(
    session: Session, actor: Actor, press: Press, now: datetime, cap: int = DEFAULT_CAP
) -> Effects:
    """A "when?" button: makes a draft a promise, or reschedules one being changed."""
    when = schedule.WHEN_CHOICES.get(press.action)
    promise = session.get(Promise, press.target_id)
    if when is None or promise is None:
        return buttons.expired()
    owner = promiser_pressing(session, actor, promise)
    if owner is None:
        if promise.state in {
            PromiseState.DRAFT,
            PromiseState.ACTIVE,
        } and actor.chat_id in couple_chats(session, promise):
            return wording.not_yours(session, promise)
        return buttons.expired()
    couple, partner = owner
    if promise.state == PromiseState.DRAFT:
        if couple.formed_at is None:
            return buttons.expired()
        if _cap_reached(session, partner, cap):
            promise.state, promise.ended_at = PromiseState.EXPIRED, now
            session.add(promise)
            return [EditOrigin(body=text("promises.cap_reached", cap=cap))]
        timers, body = _activate(session, couple, partner, promise, when, None, now)
        effects: Effects = [*timers, Notice(text("promises.made_notice")), EditOrigin(body=body)]
        if actor.in_private:
            effects.extend(_tell_other(session, partner, promise))
        return effects
    if promise.state == PromiseState.ACTIVE and promise.editing == "when":
        zone = zone_of(couple, partner)
        moved = schedule.apply_when(promise, when, None, zone, now)
        promise.editing, promise.editing_since = None, None
        promise.misses_in_row = 0
        session.add(promise)
        timers, first = schedule.reschedule(promise, zone, now)
        body = text(
            "promises.when_changed",
            number=promise.number,
            what=wording.quoted(promise),
            schedule=wording.schedule_text(promise),
            first=wording.first_text(promise, first, zone, now),
            night=text("promises.night_moved") if moved else "",
        )
        return [*timers, EditOrigin(body=body)]
    return buttons.expired()


def list_promises(session: Session, actor: Actor, args: str, now: datetime) -> Effects:
    """/promises: both partners' active promises with their follow-through."""
    found = guard(session, actor, now)
    if not isinstance(found, Membership):
        return found
    reply = ToChat(actor.chat_id)
    couple = found.couple
    promises = active_promises(session, found.couple_id)
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
                what=wording.quoted(promise),
                schedule=wording.schedule_text(promise),
                remind=wording.clock(session, couple, promiser, promise.remind_at),
            )
        )
        if promise.repeat != ONCE:
            lines.append(wording.follow_through_text(session, promise, zone, now))
        label = text("promises.button_change_number", number=promise.number)
        rows.append([buttons.button(label, CHANGE, promise.id or 0, "menu")])
    return [
        Send(
            reply, text("promises.list", lines=tuple(lines)), buttons=keyboard(*wording.pairs(rows))
        )
    ]


# ---- around the couple -------------------------------------------------------------------


def _settings(session: Session, couple: Couple, reader: Partner) -> list[Text]:
    return [
        text(
            "promises.settings",
            name=partner.first_name,
            count=len(active_promises(session, couple.id or 0, partner.id)),
        )
        for partner in partners_of(session, couple.id or 0)
    ]


def _on_leave(session: Session, couple: Couple, partner: Partner, now: datetime) -> Effects:
    """A partner leaves: every promise of the couple ends (its history stays)."""
    for promise in session.exec(
        select(Promise).where(
            Promise.couple_id == couple.id,
            col(Promise.state).in_([PromiseState.DRAFT, PromiseState.ACTIVE]),
        )
    ):
        end_promise(promise, now, state=PromiseState.ENDED)
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
