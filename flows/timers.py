"""Durable timers: what each kind does when it falls due, and how late is too late.

A feature lists its kinds in its `FEATURE.timers`. The delivery layer
(`bot/delivery/timers.py`, `bot/delivery/sweep.py`) claims due rows and calls the handler
inside a transaction; the handler returns effects like any flow. When a timer is
handled long after its due time (the bot was down), the kind's policy decides: still
useful -> handled with `late=True` (the message says so honestly); too late ->
`on_missed` runs instead and the row is closed as missed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, SQLModel

from flows.outcome import Effects

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


@dataclass(frozen=True)
class PendingTimer:
    """A timer still waiting, as a flow may read it (to set it again at another time)."""

    kind: str
    ref: str | None
    due_at: datetime
    payload: Mapping[str, Any]


def pending_timers(session: Session, couple_id: int) -> list[PendingTimer]:
    """The couple's pending timers, earliest first.

    The one read of the delivery layer's timer table a flow makes (a zone change sets
    wall-clock timers again, onboarding.move_local_timers): read-only, through the table
    rather than the model, and every change goes back as `CancelTimers`/`SetTimer`.
    """
    timer = SQLModel.metadata.tables["timer"]
    query = (
        select(timer.c.kind, timer.c.ref, timer.c.due_at, timer.c.payload)
        .where(timer.c.couple_id == couple_id, timer.c.state == "pending")
        .order_by(timer.c.due_at, timer.c.id)
    )
    return [
        PendingTimer(kind, ref, due_at, json.loads(payload or "{}"))
        for kind, ref, due_at, payload in session.execute(query)
    ]
