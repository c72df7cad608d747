"""Helpers for the pause tests: start, press, fire the return timer, as the runtime would."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from bot.delivery.models import Timer
from bot.delivery.outbox import persist
from bot.delivery.timers import handle_due
from flows import buttons
from flows import pause as flow
from flows.outcome import Effects
from flows.pause import Pause
from tests.helpers import (
    ANA_ID,
    BEN_ID,
    T0,
    in_group,
    in_private,
)

MIN = timedelta(minutes=1)


def run(session: Session, effects: Effects, now: datetime) -> Effects:
    """Store what a flow asked for (timers, cancellations, outbox) the way the runtime does."""
    persist(session, effects, now, claim=False)
    session.flush()
    return effects


def fire(session: Session, now: datetime) -> Effects:
    """Handle every timer due by `now`, as the runtime's sweep would."""
    out: Effects = []
    query = (
        select(Timer)
        .where(Timer.state == "pending", col(Timer.due_at) <= now)
        .order_by(col(Timer.due_at))
    )
    for timer in list(session.exec(query)):
        effects, state, late = handle_due(session, timer, now)
        timer.state = state
        session.add(timer)
        persist(session, effects, now, claim=False, late=late)
        out.extend(effects)
    session.flush()
    return out


def press(
    session: Session, user_id: int, data: str, now: datetime, private: bool = False
) -> Effects:
    actor = in_private(user_id) if private else in_group(user_id)
    return run(session, buttons.handle_press(session, actor, data, now), now)


def start(session: Session, user_id: int, args: str, now: datetime = T0) -> Effects:
    return run(session, flow.pause(session, in_group(user_id), args, now), now)


def only_pause(session: Session) -> Pause:
    return session.exec(select(Pause)).one()


def pending(session: Session) -> list[Timer]:
    return list(
        session.exec(select(Timer).where(Timer.state == "pending").order_by(col(Timer.due_at)))
    )


def pz(pause: Pause, action: str) -> str:
    return buttons.data(flow.PAUSE, pause.id or 0, action)


def agreed_pause(session: Session, minutes: int = 60) -> Pause:
    start(session, ANA_ID, str(minutes))
    row = only_pause(session)
    press(session, BEN_ID, pz(row, "ok"), T0 + MIN)
    assert row.state == flow.PauseState.AGREED
    return row
