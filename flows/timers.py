"""Durable timers: what each kind does when it falls due, and how late is too late.

A feature lists its kinds in its `FEATURE.timers`. The engine in `bot/runtime.py`
claims due rows and calls the handler inside a transaction; the handler returns
effects like any flow. When a timer is handled long after its due time (the bot was
down), the kind's policy decides: still useful -> handled with `late=True` (the
message says so honestly); too late -> `on_missed` runs instead and the row is
closed as missed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from flows.feature import installed
from flows.models import Timer
from flows.outcome import CancelTimers, Effects, SetTimer

# A timer handled later than this after its due time counts as late (and says so).
LATE_AFTER = timedelta(minutes=2)


@dataclass(frozen=True)
class Due:
    """A timer being handled, as its handler sees it."""

    timer_id: int
    kind: str
    couple_id: int
    due_at: datetime
    payload: Mapping[str, Any]
    now: datetime

    @property
    def lateness(self) -> timedelta:
        return self.now - self.due_at

    @property
    def late(self) -> bool:
        return self.lateness > LATE_AFTER


TimerHandler = Callable[[Session, Due], Effects]


@dataclass(frozen=True)
class TimerKind:
    name: str
    handle: TimerHandler
    # How late the action is still worth doing; past this, `on_missed` runs.
    useful_for: timedelta
    on_missed: TimerHandler | None = None


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
        col(Timer.couple_id) == request.couple_id, col(Timer.state) == "pending"
    )
    if request.ref is not None:
        statement = statement.where(col(Timer.ref) == request.ref)
    if request.kind is not None:
        statement = statement.where(col(Timer.kind) == request.kind)
    result = session.execute(statement.values(state="cancelled", finished_at=now))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def pending_timers(session: Session, couple_id: int, ref: str | None = None) -> list[Timer]:
    query = select(Timer).where(Timer.couple_id == couple_id, Timer.state == "pending")
    if ref is not None:
        query = query.where(Timer.ref == ref)
    return list(session.exec(query.order_by(col(Timer.due_at))))


def handle_due(session: Session, timer: Timer, now: datetime) -> tuple[Effects, str, bool]:
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
        return [], "skipped", False
    if due.lateness > kind.useful_for:
        effects = kind.on_missed(session, due) if kind.on_missed else []
        return effects, "missed", True
    return kind.handle(session, due), "done", due.late
