"""The receiver's answer under a posted repair: one tap, heard by the author privately."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from flows import buttons, pause
from flows.buttons import Press
from flows.couples import (
    Actor,
    other_partner,
    partner_of_user,
)
from flows.models import Couple, Partner
from flows.outcome import (
    EditOrigin,
    Effects,
    Notice,
    Send,
    ToPartner,
    text,
)
from flows.repair.model import (
    ANSWERS,
    Repair,
    RepairState,
)


def press_answer(session: Session, actor: Actor, pressed: Press, now: datetime) -> Effects:
    """Thank you / I need some time / can we talk tonight?: the author hears it privately.

    Answering is a choice, never a duty: nothing reminds the receiver, nothing counts it.
    """
    repair = session.get(Repair, pressed.target_id)
    couple = session.get(Couple, repair.couple_id) if repair is not None else None
    if (
        repair is None
        or couple is None
        or repair.state != RepairState.POSTED
        or not (actor.chat_id == couple.group_chat_id or actor.in_private)
        or pressed.action not in ANSWERS
    ):
        return buttons.expired()
    receiver = partner_of_user(session, couple.id or 0, actor.user_id)
    author = session.get(Partner, repair.partner_id)
    if receiver is None or author is None:
        return buttons.expired()
    if receiver.id == author.id:
        other = other_partner(session, author)
        return [Notice(text("repair.answer_is_for_other", other=other.first_name if other else ""))]
    if repair.answer is not None:
        return [EditOrigin(buttons=()), *buttons.expired()]
    repair.answer, repair.answered_at, repair.updated_at = pressed.action, now, now
    session.add(repair)
    effects: Effects = [
        Notice(text("repair.answer_sent_notice", name=author.first_name)),
        EditOrigin(buttons=()),
        Send(
            ToPartner(author.id or 0),
            text(f"repair.answered_{pressed.action}", name=receiver.first_name),
        ),
    ]
    if pressed.action == "time" and pause.active_pause(session, couple.id or 0) is None:
        # Time is easier to give with a return time: the usual pause, agreed as usual.
        effects.append(
            Send(
                ToPartner(receiver.id or 0),
                text("repair.time_offer_pause", name=author.first_name),
                buttons=pause.duration_buttons(couple.id or 0),
            )
        )
    return effects
