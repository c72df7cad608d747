"""Coming back from a pause: the return time, "ready?", 20 more minutes, /back, the close.

At the return time each partner is asked once whether they are ready; "I need 20 more
minutes" moves the return while the whole break stays within a day. Both ready: the break
ends and a soft restart is offered. Nobody answers within an hour: one gentle line, closed
as "not returned". /back from one partner does not end the break for both: the other is
asked whether they are ready early too. A pause is a bridge back, not a chase: the bot
asks once per return time and never names who did not answer.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from flows import buttons
from flows.couples import (
    Actor,
    Membership,
    guard,
    shown_when,
)
from flows.locking import hold
from flows.models import Couple, Partner
from flows.outcome import (
    CancelTimers,
    EditOrigin,
    EditTagged,
    Effects,
    Notice,
    Send,
    SetTimer,
    ToChat,
    ToGroup,
    ToPartner,
    text,
    tidy_tag,
)
from flows.pause import wording
from flows.pause.model import (
    EARLY_STEP,
    NO_ANSWER_KIND,
    PROPOSED_STEP,
    READY_STEP,
    RETURN_KIND,
    RUNNING,
    STARTED_STEP,
    Outcome,
    Pause,
    PauseState,
    active_pause,
    end,
    ref,
)
from flows.pause.rules import (
    ANSWER_WINDOW,
    COUNSEL_WINDOW,
    counsel_due,
    extended_return,
    outcome_on_return,
)
from flows.timers import Due


def _is_ready(row: Pause, partner_id: int) -> bool:
    return row.asker_ready if partner_id == row.asked_by else row.other_ready


def close_missed(session: Session, due: Due) -> Effects:
    """The return fell due while Mend was down far too long: close it, say so, blame no one."""
    row = session.get(Pause, due.payload.get("pause_id"))
    if row is None or row.state not in RUNNING or row.return_at != due.due_at:
        return []
    couple = session.get(Couple, row.couple_id)
    tidy = _tidy_at_end(session, row, couple, due.now) if couple is not None else []
    end(row, Outcome.OFFLINE, None, due.now)
    session.add(row)
    return [*tidy, Send(ToGroup(row.couple_id), text("pause.closed_offline"))]


def return_time(session: Session, due: Due) -> Effects:
    """The return time: each partner who is not ready yet is asked, once."""
    row = session.get(Pause, due.payload.get("pause_id"))
    if row is None or row.state not in RUNNING or row.return_at != due.due_at:
        return []
    couple = session.get(Couple, row.couple_id)
    if couple is None:
        return []
    # "Is that return time OK?" no longer needs an answer once the time has come.
    effects: Effects = _moot_questions(session, row, couple, due.now)
    row.state = PauseState.ASKING
    session.add(row)
    for partner_id in (row.asked_by, row.other_id):
        if _is_ready(row, partner_id):
            continue
        partner = session.get(Partner, partner_id)
        effects.append(
            Send(
                ToPartner(partner_id),
                text(
                    "pause.ready_question",
                    time=shown_when(session, couple, row.return_at, reader=partner, since=due.now),
                ),
                buttons=wording.ready_buttons(row),
                tag=tidy_tag(READY_STEP, row.id or 0, partner_id),
            )
        )
    effects.append(
        SetTimer(
            NO_ANSWER_KIND,
            row.couple_id,
            row.return_at + ANSWER_WINDOW,
            {"pause_id": row.id, "return_at": row.return_at.isoformat()},
            ref=ref(row),
        )
    )
    return effects


def press_ready(
    session: Session, row: Pause, couple: Couple, partner: Partner, now: datetime
) -> Effects:
    # Both may press at the same moment: decide on the row as the other press left it.
    row = hold(session, row)
    if row.state != PauseState.ASKING:
        return buttons.expired()
    if _is_ready(row, partner.id or 0):
        return [Notice(text("pause.ready_already"))]
    # Read before this tap changes the row: "ready early?" may still be open from /back.
    tidy = _tidy_at_end(session, row, couple, now)
    if partner.id == row.asked_by:
        row.asker_ready = True
    else:
        row.other_ready = True
    session.add(row)
    if not (row.asker_ready and row.other_ready):
        return [
            Notice(text("pause.ready_notice")),
            EditOrigin(
                body=text(
                    "pause.ready_waiting", other=wording.name(session, _other_of(row, partner))
                ),
                buttons=(),
            ),
        ]
    end(row, outcome_on_return(row.extensions), partner.id, now)
    return [
        Notice(text("pause.ready_notice")),
        EditOrigin(body=text("pause.ready_done"), buttons=()),
        *tidy,
        CancelTimers(couple.id or 0, ref=ref(row)),
        Send(ToGroup(couple.id or 0), text("pause.both_back"), buttons=wording.soft_restart(row)),
        _tell_the_one_waiting(row, partner),
    ]


def _other_of(row: Pause, partner: Partner) -> int:
    return row.other_id if partner.id == row.asked_by else row.asked_by


def _tell_the_one_waiting(row: Pause, partner: Partner) -> Send:
    """The partner who was ready first hears privately that the other is back too."""
    return Send(
        ToPartner(_other_of(row, partner)), text("pause.both_back_private", name=partner.first_name)
    )


def press_more(
    session: Session, row: Pause, couple: Couple, partner: Partner, now: datetime
) -> Effects:
    if row.state != PauseState.ASKING:
        return buttons.expired()
    new_return = extended_return(row.started_at, row.return_at, now)
    if new_return is None:
        return [
            Notice(
                text("pause.more_refused", other=wording.name(session, _other_of(row, partner))),
                alert=True,
            )
        ]
    waiting: Effects = []
    if not _is_ready(row, _other_of(row, partner)):
        # Their "ready?" is asked again at the new time; this one no longer counts.
        other_id = _other_of(row, partner)
        waiting.append(EditTagged(ToPartner(other_id), tidy_tag(READY_STEP, row.id or 0, other_id)))
    if partner.id == row.asked_by:
        row.asker_ready = False
    else:
        row.other_ready = False
    row.return_at = new_return
    row.extensions += 1
    row.state = PauseState.AGREED
    session.add(row)
    if _is_ready(row, _other_of(row, partner)):
        other = session.get(Partner, _other_of(row, partner))
        waiting.append(
            Send(
                ToPartner(_other_of(row, partner)),
                text(
                    "pause.more_told_ready",
                    name=partner.first_name,
                    time=shown_when(session, couple, new_return, reader=other, since=now),
                ),
            )
        )
    return [
        *waiting,
        Notice(text("pause.more_notice")),
        EditOrigin(
            body=text(
                "pause.more_private",
                time=shown_when(session, couple, new_return, reader=partner, since=now),
            ),
            buttons=(),
        ),
        CancelTimers(couple.id or 0, ref=ref(row)),
        SetTimer(RETURN_KIND, couple.id or 0, new_return, {"pause_id": row.id}, ref=ref(row)),
        Send(
            ToGroup(couple.id or 0),
            text(
                "pause.more_group",
                name=partner.first_name,
                when=shown_when(session, couple, new_return, since=now),
            ),
        ),
    ]


def no_answer(session: Session, due: Due) -> Effects:
    """An hour after the return time with no way back yet: one gentle line, then closed."""
    row = session.get(Pause, due.payload.get("pause_id"))
    if row is None or row.state != PauseState.ASKING:
        return []
    # An extension moved the return time after this close was set: it no longer applies.
    if datetime.fromisoformat(str(due.payload.get("return_at"))) != row.return_at:
        return []
    couple = session.get(Couple, row.couple_id)
    tidy = _tidy_at_end(session, row, couple, due.now) if couple is not None else []
    end(row, Outcome.NOT_RETURNED, None, due.now)
    session.add(row)
    return [
        *tidy,
        Send(ToGroup(row.couple_id), text("pause.not_returned")),
        *_counsel_once_a_month(session, row, due.now),
    ]


def _counsel_once_a_month(session: Session, row: Pause, now: datetime) -> Effects:
    """The third break in a month nobody came back from: a private word about counselling.

    The repeated pattern is the signal (the seeds), and a counsellor is the kind answer to
    a fight that keeps coming back. Said privately to each, never in the group, at most
    once in any 30 days.
    """
    recent = list(
        session.exec(
            select(Pause).where(
                Pause.couple_id == row.couple_id, col(Pause.started_at) >= now - COUNSEL_WINDOW
            )
        )
    )
    offered = session.exec(
        select(Pause).where(
            Pause.couple_id == row.couple_id,
            col(Pause.counsel_offered),
            col(Pause.ended_at) >= now - COUNSEL_WINDOW,
        )
    ).first()
    if not counsel_due([item.outcome for item in recent], offered is not None):
        return []
    row.counsel_offered = True
    session.add(row)
    return [
        Send(ToPartner(partner_id), text("pause.counsel"))
        for partner_id in (row.asked_by, row.other_id)
    ]


def _moot_questions(session: Session, row: Pause, couple: Couple, now: datetime) -> Effects:
    """ "Is that return time OK?" (and a counter-proposal) still waiting for a tap when the
    return time comes or the break ends: one line of the return time, without buttons."""
    line = text(
        "pause.asked_line",
        name=wording.name(session, row.asked_by),
        when=shown_when(session, couple, row.return_at, since=now),
    )
    effects: Effects = []
    if row.agreed_at is None:
        effects.append(
            EditTagged(ToGroup(couple.id or 0), tidy_tag(STARTED_STEP, row.id or 0), line)
        )
    if row.proposed_return_at is not None:
        effects.append(
            EditTagged(ToGroup(couple.id or 0), tidy_tag(PROPOSED_STEP, row.id or 0), line)
        )
    return effects


def _tidy_at_end(session: Session, row: Pause, couple: Couple, now: datetime) -> Effects:
    """The break ends: every question of it still showing buttons loses them (called before
    `end`, while the row still says which were open)."""
    effects = _moot_questions(session, row, couple, now)
    for partner_id in (row.asked_by, row.other_id):
        if row.state == PauseState.ASKING and not _is_ready(row, partner_id):
            effects.append(
                EditTagged(ToPartner(partner_id), tidy_tag(READY_STEP, row.id or 0, partner_id))
            )
    if row.asker_ready != row.other_ready:  # "{name} is ready early. Are you?" may be open
        effects.append(EditTagged(ToGroup(couple.id or 0), tidy_tag(EARLY_STEP, row.id or 0)))
    return effects


def back(session: Session, actor: Actor, args: str, now: datetime) -> Effects:
    """/back: one partner is ready early. The break ends only when the other is too, so
    the one who needed it is never pulled back by the other's tap."""
    found = guard(session, actor, now)
    if not isinstance(found, Membership):
        return found
    reply = ToChat(actor.chat_id)
    row = active_pause(session, found.couple_id)
    if row is None:
        return [Send(reply, text("pause.none_on"))]
    partner = found.partner
    other_id = _other_of(row, partner)
    if _is_ready(row, other_id):
        return _both_back_early(session, row, found.couple, partner, now)
    if _is_ready(row, partner.id or 0):
        return [
            Send(reply, text("pause.back_already_asked", other=wording.name(session, other_id)))
        ]
    _set_ready(row, partner.id or 0, True)
    session.add(row)
    effects: Effects = [
        Send(
            ToGroup(found.couple_id),
            text(
                "pause.back_asks_other",
                name=partner.first_name,
                other=wording.name(session, other_id),
            ),
            buttons=wording.early_buttons(row),
            tag=tidy_tag(EARLY_STEP, row.id or 0),
        )
    ]
    if actor.in_private:
        effects.append(
            Send(reply, text("pause.back_asked_private", other=wording.name(session, other_id)))
        )
    return effects


def _set_ready(row: Pause, partner_id: int, ready: bool) -> None:
    if partner_id == row.asked_by:
        row.asker_ready = ready
    else:
        row.other_ready = ready


def press_early(
    session: Session, row: Pause, couple: Couple, partner: Partner, ready: bool, now: datetime
) -> Effects:
    """The other's answer to "{name} is ready early. Are you?"."""
    if row.state == PauseState.ENDED:
        return buttons.expired()
    other_id = _other_of(row, partner)
    if not _is_ready(row, other_id) or _is_ready(row, partner.id or 0):
        # Only the one who was asked answers; the one who asked waits.
        return [Notice(text("pause.early_is_for_other", other=wording.name(session, other_id)))]
    if ready:
        return [EditOrigin(buttons=()), *_both_back_early(session, row, couple, partner, now)]
    when = shown_when(session, couple, row.return_at, since=now)
    waiting = session.get(Partner, other_id)
    return [
        Notice(text("pause.not_yet_notice")),
        EditOrigin(buttons=()),
        Send(ToGroup(couple.id or 0), text("pause.not_yet", name=partner.first_name, when=when)),
        Send(
            ToPartner(other_id),
            text(
                "pause.not_yet_private",
                name=partner.first_name,
                time=shown_when(session, couple, row.return_at, reader=waiting, since=now),
            ),
        ),
    ]


def _both_back_early(
    session: Session, row: Pause, couple: Couple, partner: Partner, now: datetime
) -> Effects:
    before_return = now < row.return_at and row.state != PauseState.ASKING
    tidy = _tidy_at_end(session, row, couple, now)
    end(row, Outcome.EARLY if before_return else outcome_on_return(row.extensions), partner.id, now)
    session.add(row)
    return [
        *tidy,
        CancelTimers(couple.id or 0, ref=ref(row)),
        Send(
            ToGroup(couple.id or 0),
            text("pause.back", name=partner.first_name),
            buttons=wording.soft_restart(row),
        ),
        _tell_the_one_waiting(row, partner),
    ]
