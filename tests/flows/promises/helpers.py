"""Helpers for the promise tests: run effects as the runtime would, press, fire timers."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import Session, col, select

from bot.delivery.models import Timer
from bot.delivery.outbox import persist
from bot.delivery.timers import handle_due
from flows import buttons, promises
from flows.outcome import Effects
from flows.promises import Promise, PromiseCheck
from tests.helpers import (
    T0,
    in_group,
    in_private,
)


def run(session: Session, effects: Effects, now: datetime = T0) -> Effects:
    """Store timers and messages as the runtime would."""
    persist(session, effects, now, claim=False)
    session.flush()
    return effects


def promise_cmd(
    session: Session,
    actor_id: int,
    args: str,
    now: datetime = T0,
    cap: int = promises.DEFAULT_CAP,
    private: bool = False,
) -> Effects:
    actor = in_private(actor_id) if private else in_group(actor_id)
    return run(session, promises.make_promise(session, actor, args, now, cap=cap), now)


def press(
    session: Session, actor_id: int, data: str, now: datetime = T0, private: bool = False
) -> Effects:
    actor = in_private(actor_id) if private else in_group(actor_id)
    return run(session, buttons.handle_press(session, actor, data, now), now)


def pending(session: Session, kind: str | None = None) -> list[Timer]:
    query = select(Timer).where(Timer.state == "pending")
    if kind is not None:
        query = query.where(Timer.kind == kind)
    return list(session.exec(query.order_by(col(Timer.due_at))))


def fire(session: Session, kind: str, now: datetime) -> Effects:
    """Handle the earliest pending timer of `kind`, which must be due by `now`."""
    timer = pending(session, kind)[0]
    assert timer.due_at <= now, f"{kind} is due at {timer.due_at}, not by {now}"
    effects, state, late = handle_due(session, timer, now)
    timer.state = state
    session.add(timer)
    persist(session, effects, now, claim=False, late=late)
    session.flush()
    return effects


def only_promise(session: Session) -> Promise:
    return session.exec(select(Promise).where(Promise.state == "active")).one()


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def answer_data(session: Session, action: str) -> str:
    check = session.exec(select(PromiseCheck).order_by(col(PromiseCheck.id).desc())).first()
    assert check is not None
    return buttons.data(promises.ANSWER, check.id or 0, action)
