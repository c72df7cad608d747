"""The alarm clock: one job for the earliest timer, re-armed after every wake-up."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from apscheduler.jobstores.base import JobLookupError

from bot.app import MIN_WAKE_DELAY, Wakeups
from bot.clock import FixedClock
from tests.helpers import T0


@dataclass
class FakeJob:
    ran: bool = False
    removed: bool = False

    def schedule_removal(self) -> None:
        if self.ran:  # like APScheduler: a one-shot job that ran is gone
            raise JobLookupError("mend-next-timer")
        self.removed = True


@dataclass
class FakeJobQueue:
    scheduled: list[tuple[float, FakeJob]] = field(default_factory=list)
    job_kwargs: list[dict[str, Any] | None] = field(default_factory=list)
    repeating: list[tuple[float, float]] = field(default_factory=list)

    def run_once(
        self, callback: Any, when: float, name: str, job_kwargs: dict[str, Any] | None = None
    ) -> FakeJob:
        job = FakeJob()
        self.scheduled.append((when, job))
        self.job_kwargs.append(job_kwargs)
        return job

    def run_repeating(
        self,
        callback: Any,
        interval: float,
        first: float,
        name: str,
        job_kwargs: dict[str, Any] | None = None,
    ) -> FakeJob:
        self.repeating.append((interval, first))
        self.job_kwargs.append(job_kwargs)
        return FakeJob()


@dataclass
class FakeRuntime:
    next_due: datetime | None = None
    sweeps: int = 0

    async def sweep(self) -> None:
        self.sweeps += 1

    def earliest_pending(self) -> datetime | None:
        return self.next_due


def wakeups(next_due: datetime | None = None) -> tuple[Wakeups, FakeJobQueue, FakeRuntime]:
    queue, runtime = FakeJobQueue(), FakeRuntime(next_due)
    application: Any = type("App", (), {"job_queue": queue})()
    return Wakeups(application, runtime, FixedClock(T0)), queue, runtime  # type: ignore[arg-type]


def test_an_earlier_timer_moves_the_wake_up_and_a_later_one_does_not() -> None:
    alarm, queue, _runtime = wakeups()
    alarm.schedule(T0 + timedelta(hours=1))
    alarm.schedule(T0 + timedelta(hours=2))
    assert [delay for delay, _job in queue.scheduled] == [3600.0]
    alarm.schedule(T0 + timedelta(minutes=5))
    assert [delay for delay, _job in queue.scheduled] == [3600.0, 300.0]
    assert queue.scheduled[0][1].removed


async def test_after_the_job_ran_the_next_wake_up_is_armed_again() -> None:
    alarm, queue, runtime = wakeups()
    alarm.schedule(T0 + timedelta(minutes=1))
    queue.scheduled[-1][1].ran = True
    runtime.next_due = T0 + timedelta(minutes=20)
    await alarm._wake(None)  # type: ignore[arg-type]
    assert runtime.sweeps == 1
    assert queue.scheduled[-1][0] == 1200.0  # re-armed, no JobLookupError on the way
    queue.scheduled[-1][1].ran = True
    await alarm._sweep(None)  # type: ignore[arg-type]  # the periodic sweep may come first
    assert len(queue.scheduled) == 3


def test_an_overdue_row_never_makes_a_busy_loop() -> None:
    alarm, queue, _runtime = wakeups()
    alarm.schedule(T0 - timedelta(minutes=5))
    assert queue.scheduled[-1][0] == MIN_WAKE_DELAY


def test_a_late_wake_up_or_sweep_runs_once_instead_of_being_dropped() -> None:
    """APScheduler drops a run that is over a second late ("missed") unless told not to:
    a suspended process or a clock step must not lose the wake-up."""
    alarm, queue, _runtime = wakeups()
    alarm.schedule(T0 + timedelta(minutes=5))
    alarm.start(30.0)
    assert queue.job_kwargs == [{"misfire_grace_time": None, "coalesce": True}] * 2
    # The sweep at start-up is run directly; the first periodic one comes an interval later
    # (a job added with first=0 before the scheduler runs would be skipped anyway).
    assert queue.repeating == [(30.0, 30.0)]
