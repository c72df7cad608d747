"""Pause: a break during an argument that comes back at an agreed time.

One partner asks (`/pause 60`); the break starts at once, so whoever is flooded can step
away without waiting for a tap. The other partner agrees to the return time or proposes
another one, which goes back to the first partner to accept. Coming back (the return
time, "ready?", more time, /back) is in `coming_back.py`; the rules of time (at least 20
minutes, at most a day) in `rules.py`; the words in `wording.py`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from flows import buttons
from flows.buttons import Press
from flows.couples import (
    Actor,
    Membership,
    guard,
    partner_of_user,
    partners_of,
    shown_when,
)
from flows.feature import Feature
from flows.inputs import Said
from flows.models import Couple, Partner
from flows.outcome import (
    CancelTimers,
    EditOrigin,
    Effects,
    Notice,
    Send,
    SetTimer,
    Text,
    ToChat,
    ToGroup,
    keyboard,
    text,
    tidy_tag,
)
from flows.pause import wording
from flows.pause.coming_back import (
    back,
    close_missed,
    no_answer,
    press_early,
    press_more,
    press_ready,
    return_time,
)
from flows.pause.model import (
    LENGTH_TAG,
    NO_ANSWER_KIND,
    PAUSE,
    PROPOSED_STEP,
    RETURN_KIND,
    START,
    STARTED_STEP,
    Outcome,
    Pause,
    PauseState,
    active_pause,
    couple_is_pausing,
    end,
    ref,
)
from flows.pause.rules import (
    CHOICES_MINUTES,
    HISTORY_SIZE,
    MAXIMUM,
    MINIMUM,
    PROPOSAL_MINUTES,
    is_unclear,
)
from flows.timeparse import parse_length
from flows.timers import TimerKind

# ---- starting -----------------------------------------------------------------------


def pause(session: Session, actor: Actor, args: str, now: datetime) -> Effects:
    """/pause [length]: start a break with a return time, or show the one that is on."""
    found = guard(session, actor, now)
    if not isinstance(found, Membership):
        return found
    reply = ToChat(actor.chat_id)
    running = active_pause(session, found.couple_id)
    if running is not None:
        return [Send(reply, wording.state_of(session, found.couple, running, now))]
    if not args.strip():
        return [wording.choose(found.couple_id, reply)]
    length = parse_length(args, found.partner.language)
    if length is None or is_unclear(length):
        # The buttons, not a syntax lesson: someone asking for a break is upset already.
        return [wording.choose(found.couple_id, reply, text("pause.choose_unclear"))]
    if length > MAXIMUM:
        return [Send(reply, text("pause.too_long", given=wording.length(length)))]
    return [*_start(session, found, length, now), *_told_from_private(actor)]


def _told_from_private(actor: Actor) -> Effects:
    """A break asked for in private is still announced in the group; the asker hears so."""
    if not actor.in_private:
        return []
    return [Send(ToChat(actor.chat_id), text("pause.started_from_private"))]


def length_answer(session: Session, actor: Actor, said: Said, now: datetime) -> Effects | None:
    """ "45" (or "45 minutes") in reply to "How long a break?": the same as /pause 45."""
    kind, _, target = (said.reply_to_tag or "").partition(":")
    if kind != LENGTH_TAG or not target.isdigit() or not said.is_reply:
        return None
    couple = session.get(Couple, int(target))
    if couple is None or couple.group_chat_id != actor.chat_id:
        return None
    return pause(session, actor, said.text, now)


def press_start(session: Session, actor: Actor, press: Press, now: datetime) -> Effects:
    """A duration button under a bare /pause: whoever taps it is the one asking."""
    couple = session.get(Couple, press.target_id)
    if (
        couple is None
        or couple.formed_at is None
        or not (actor.in_private or couple.group_chat_id == actor.chat_id)
    ):
        return buttons.expired()
    partner = partner_of_user(session, couple.id or 0, actor.user_id)
    if not press.action.isdigit() or int(press.action) not in CHOICES_MINUTES:
        return buttons.expired()
    if partner is None:
        return buttons.expired() if actor.in_private else [Notice(text("pause.not_yours"))]
    if active_pause(session, couple.id or 0) is not None:
        return [EditOrigin(buttons=()), Notice(text("pause.already_on_notice"))]
    found = Membership(couple, partner)
    started = _start(session, found, timedelta(minutes=int(press.action)), now)
    if actor.in_private:
        return [EditOrigin(body=text("pause.started_from_private")), *started]
    return [EditOrigin(buttons=()), *started]


def _start(session: Session, found: Membership, length: timedelta, now: datetime) -> Effects:
    partners = partners_of(session, found.couple_id)
    other = next(p for p in partners if p.id != found.partner_id)
    raised = length < MINIMUM
    length = max(length, MINIMUM)
    return_at = now + length
    row = Pause(
        couple_id=found.couple_id,
        active_couple_id=found.couple_id,
        asked_by=found.partner_id,
        other_id=other.id or 0,
        started_at=now,
        agreed_return_at=return_at,
        return_at=return_at,
    )
    session.add(row)
    session.flush()
    body, question = wording.started(
        session, found.couple, row, found.partner, other, length, raised, now
    )
    return [
        Send(
            ToGroup(found.couple_id),
            body,
            buttons=question,
            tag=tidy_tag(STARTED_STEP, row.id or 0),
        ),
        SetTimer(RETURN_KIND, found.couple_id, return_at, {"pause_id": row.id}, ref=ref(row)),
    ]


# ---- agreeing -----------------------------------------------------------------------


def _pressed_pause(
    session: Session, actor: Actor, press: Press
) -> tuple[Pause, Couple, Partner] | None:
    """The pause a button names, if the presser is one of its couple, pressing in its chats."""
    row = session.get(Pause, press.target_id)
    if row is None:
        return None
    couple = session.get(Couple, row.couple_id)
    if couple is None:
        return None
    partner = partner_of_user(session, row.couple_id, actor.user_id)
    if partner is None:
        return None
    if not actor.in_private and actor.chat_id != couple.group_chat_id:
        return None
    return row, couple, partner


def press_pause(session: Session, actor: Actor, press: Press, now: datetime) -> Effects:
    """Agree, propose, accept a proposal, or answer "ready to come back?"."""
    found = _pressed_pause(session, actor, press)
    if found is None:
        return buttons.expired()
    row, couple, partner = found
    action = press.action
    if action == "ok":
        return _agree(session, row, couple, partner, now)
    if action.startswith("p") and action[1:].isdigit():
        return _propose(session, row, couple, partner, int(action[1:]), now)
    if action == "acc":
        return _accept(session, row, couple, partner, now)
    if action == "ready":
        return press_ready(session, row, couple, partner, now)
    if action == "more":
        return press_more(session, row, couple, partner, now)
    if action in ("early", "notyet"):
        return press_early(session, row, couple, partner, action == "early", now)
    return buttons.expired()


def _agree(
    session: Session, row: Pause, couple: Couple, partner: Partner, now: datetime
) -> Effects:
    if row.state != PauseState.WAITING:
        return buttons.expired()
    if partner.id != row.other_id:
        return [Notice(text("pause.agree_is_for_other", other=wording.name(session, row.other_id)))]
    return _settled(session, row, couple, partner, now)


def _settled(
    session: Session, row: Pause, couple: Couple, partner: Partner, now: datetime
) -> Effects:
    """The return time is agreed: the buttons go, and the group hears when."""
    row.state = PauseState.AGREED
    row.agreed_at = now
    session.add(row)
    return [
        Notice(text("pause.agreed_notice")),
        # The question is answered: one line of what was agreed, without buttons.
        EditOrigin(
            body=text(
                "pause.settled_line",
                name=wording.name(session, row.asked_by),
                when=shown_when(session, couple, row.return_at, since=now),
            )
        ),
        Send(
            ToGroup(couple.id or 0),
            text(
                "pause.agreed",
                name=partner.first_name,
                when=shown_when(session, couple, row.return_at, since=now),
            ),
        ),
    ]


def _propose(
    session: Session, row: Pause, couple: Couple, partner: Partner, minutes: int, now: datetime
) -> Effects:
    if row.state != PauseState.WAITING or minutes not in PROPOSAL_MINUTES:
        return buttons.expired()
    if partner.id != row.other_id:
        return [Notice(text("pause.agree_is_for_other", other=wording.name(session, row.other_id)))]
    proposed = row.started_at + timedelta(minutes=minutes)
    if proposed <= now:
        return [Notice(text("pause.proposal_passed"))]
    row.state = PauseState.PROPOSED
    row.proposed_return_at = proposed
    session.add(row)
    asker = session.get(Partner, row.asked_by)
    accept = buttons.button(
        text(
            "pause.button_accept",
            time=shown_when(session, couple, proposed, reader=asker, since=now),
        ),
        PAUSE,
        row.id or 0,
        "acc",
    )
    return [
        Notice(text("pause.proposed_notice")),
        EditOrigin(buttons=()),
        Send(
            ToGroup(couple.id or 0),
            text(
                "pause.proposed",
                name=partner.first_name,
                asker=wording.name(session, row.asked_by),
                when=shown_when(session, couple, proposed, since=now),
                kept=shown_when(session, couple, row.return_at, since=now),
            ),
            buttons=keyboard([accept]),
            tag=tidy_tag(PROPOSED_STEP, row.id or 0),
        ),
    ]


def _accept(
    session: Session, row: Pause, couple: Couple, partner: Partner, now: datetime
) -> Effects:
    if row.state != PauseState.PROPOSED or row.proposed_return_at is None:
        return buttons.expired()
    if partner.id != row.asked_by:
        return [
            Notice(text("pause.accept_is_for_asker", asker=wording.name(session, row.asked_by)))
        ]
    if row.proposed_return_at <= now:
        return [Notice(text("pause.proposal_passed"))]
    row.return_at = row.agreed_return_at = row.proposed_return_at
    row.proposed_return_at = None
    return [
        CancelTimers(couple.id or 0, ref=ref(row)),
        SetTimer(RETURN_KIND, couple.id or 0, row.return_at, {"pause_id": row.id}, ref=ref(row)),
        *_settled(session, row, couple, partner, now),
    ]


# ---- showing ------------------------------------------------------------------------


def history(session: Session, actor: Actor, args: str, now: datetime) -> Effects:
    """/pauses: the recent breaks, when, who asked, the agreed return, how each ended."""
    found = guard(session, actor, now)
    if not isinstance(found, Membership):
        return found
    couple = found.couple
    query = (
        select(Pause)
        .where(Pause.couple_id == found.couple_id)
        .order_by(col(Pause.started_at).desc(), col(Pause.id).desc())
        .limit(HISTORY_SIZE)
    )
    rows = list(session.exec(query))
    reply = ToChat(actor.chat_id)
    if not rows:
        return [Send(reply, text("pause.history_empty"))]
    reader = found.partner if actor.in_private else None
    lines = [wording.history_line(session, couple, row, reader) for row in rows]
    return [Send(reply, text("pause.history", lines=tuple(lines)))]


def _settings(session: Session, couple: Couple, reader: Partner) -> list[Text]:
    row = active_pause(session, couple.id or 0)
    if row is None:
        return []
    return [
        text(
            "pause.settings_on",
            when=shown_when(session, couple, row.return_at, since=row.started_at),
        )
    ]


def _on_leave(session: Session, couple: Couple, partner: Partner, now: datetime) -> Effects:
    row = active_pause(session, couple.id or 0)
    if row is None:
        return []
    end(row, Outcome.CLOSED, partner.id, now)
    session.add(row)
    return [CancelTimers(couple.id or 0, ref=ref(row))]


FEATURE = Feature(
    name="pause",
    commands={"pause": pause, "back": back, "pauses": history},
    buttons={START: press_start, PAUSE: press_pause},
    timers=(
        TimerKind(RETURN_KIND, return_time, useful_for=timedelta(hours=12), on_missed=close_missed),
        TimerKind(NO_ANSWER_KIND, no_answer, useful_for=timedelta(days=30)),
    ),
    on_text=(length_answer,),
    on_leave=(_on_leave,),
    settings_lines=(_settings,),
    # While a pause is on, nothing nudges the couple.
    quiet_checks=(couple_is_pausing,),
)
