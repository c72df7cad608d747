"""Two processes claim the same due timer at the same moment: exactly one of them gets it.

The race is forced, not hoped for: a barrier in SQLAlchemy's `before_cursor_execute` holds each
claimer just before its first `UPDATE timer` until the other one has finished selecting its
candidates. On SQLite both then hold the same candidate and the second UPDATE runs after the
first committed, so only its `state='pending'` condition keeps it from claiming the row again.
On PostgreSQL the second SELECT skips the row the first one locked (`FOR UPDATE SKIP LOCKED`).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlmodel import Session, select

from bot.clock import FixedClock
from bot.db import session_scope
from bot.delivery.models import Timer
from bot.delivery.outbox import persist
from bot.runtime import Runtime
from flows import onboarding
from flows.outcome import SetTimer
from tests.helpers import T0, make_couple


def _held_at_the_update(engine: Engine) -> threading.Barrier:
    barrier = threading.Barrier(2, timeout=30)
    arrived = threading.local()

    @event.listens_for(engine, "before_cursor_execute")
    def hold(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE TIMER") and not getattr(
            arrived, "done", False
        ):
            arrived.done = True
            barrier.wait()

    barrier.arrived = arrived  # type: ignore[attr-defined]
    return barrier


def test_two_claimers_forced_to_interleave_take_a_due_timer_once(any_engine: Engine) -> None:
    if any_engine.dialect.name == "sqlite":
        # SQLite transactions take the write lock at BEGIN IMMEDIATE (bot/db.py), so two
        # claimers cannot both select before either updates: the interleaving this test
        # forces is impossible there; `test_two_claimers_on_sqlite_take_turns` covers it.
        pytest.skip("SQLite serialises claimers at BEGIN; see the SQLite test below")
    with session_scope(any_engine) as session:
        couple, _ana, _ben = make_couple(session, private_open=False)
        persist(
            session, [SetTimer(onboarding.INVITE_REMINDER, couple.id or 0, T0)], T0, claim=False
        )
    barrier = _held_at_the_update(any_engine)
    arrived = barrier.arrived  # type: ignore[attr-defined]

    def claim() -> list[tuple[int, datetime]]:
        try:
            return Runtime(any_engine, FixedClock(T0))._claim_timers()
        finally:
            # A claimer that found nothing to update (PostgreSQL: the row was locked) still
            # lets the other one go on.
            if not getattr(arrived, "done", False):
                arrived.done = True
                barrier.wait()

    with ThreadPoolExecutor(2) as pool:
        claims = [pool.submit(claim) for _ in range(2)]
        results = [future.result(timeout=60) for future in claims]
    assert not barrier.broken
    assert sorted(len(result) for result in results) == [0, 1]
    with Session(any_engine) as session:
        [timer] = session.exec(select(Timer)).all()
        assert timer.state == "claimed" and timer.attempts == 1


def test_two_claimers_on_sqlite_take_turns(engine: Engine) -> None:
    """Two claimers at once on SQLite: the second waits for the first's transaction, then
    finds the timer claimed (its `state='pending'` condition), so only one takes it."""
    with session_scope(engine) as session:
        couple, _ana, _ben = make_couple(session, private_open=False)
        persist(
            session, [SetTimer(onboarding.INVITE_REMINDER, couple.id or 0, T0)], T0, claim=False
        )
    start = threading.Barrier(2, timeout=30)

    def claim() -> list[tuple[int, datetime]]:
        start.wait()
        return Runtime(engine, FixedClock(T0))._claim_timers()

    with ThreadPoolExecutor(2) as pool:
        results = [future.result(timeout=60) for future in [pool.submit(claim) for _ in "ab"]]
    assert sorted(len(result) for result in results) == [0, 1]
    with Session(engine) as session:
        [timer] = session.exec(select(Timer)).all()
        assert timer.state == "claimed" and timer.attempts == 1
