"""Timer rows: stored and cancelled as flows ask (`SetTimer`, `CancelTimers`), and a
claimed row handed to its kind's handler (flows/timers.py says what a kind is)."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col

from bot.delivery.models import Timer, TimerState
from flows.feature import installed
from flows.outcome import CancelTimers, Effects, SetTimer
from flows.timers import Due


def store_timer(session: Session, request: SetTimer, now: datetime) -> Timer:
    row = Timer(
        couple_id=request.couple_id,
        kind=request.kind,
        ref=request.ref,
        due_at=request.due_at,
        payload=json.dumps(dict(request.payload), default=str),
        created_at=now,
    )
    session.add(row)
    return row


def cancel_timers(session: Session, request: CancelTimers, now: datetime) -> int:
    statement = update(Timer).where(
        col(Timer.couple_id) == request.couple_id, col(Timer.state) == TimerState.PENDING
    )
    if request.ref is not None:
        statement = statement.where(col(Timer.ref) == request.ref)
    if request.kind is not None:
        statement = statement.where(col(Timer.kind) == request.kind)
    result = session.execute(statement.values(state=TimerState.CANCELLED, finished_at=now))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def handle_due(session: Session, timer: Timer, now: datetime) -> tuple[Effects, TimerState, bool]:
    """Run the handler for a claimed timer: returns (effects, final state, late)."""
    due = Due(
        timer_id=timer.id or 0,
        kind=timer.kind,
        couple_id=timer.couple_id,
        due_at=timer.due_at,
        payload=json.loads(timer.payload or "{}"),
        now=now,
    )
    kind = installed().timers.get(timer.kind)
    if kind is None:
        return [], TimerState.SKIPPED, False
    if due.lateness > kind.useful_for:
        effects = kind.on_missed(session, due) if kind.on_missed else []
        return effects, TimerState.MISSED, True
    return kind.handle(session, due), TimerState.DONE, due.late
