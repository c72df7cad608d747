"""Timers: claiming due timers and firing each in its own transaction (the sweep).

A sweep handles every due timer, kicks delivery of what they wrote, writes the heartbeat,
and now and then purges delivered outbox rows (`purge_delivered`). What a due timer does
is `timers.py` (`handle_due`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Engine, delete, exists, or_, type_coerce, update
from sqlalchemy import Text as SAText
from sqlmodel import col, select

from bot.clock import Clock
from bot.db import session_scope
from bot.delivery.models import Outbox, Timer, TimerState
from bot.delivery.outbox import persist
from bot.delivery.sender import BATCH
from bot.delivery.timers import handle_due
from bot.health import HeartbeatWriter
from flows.models import Couple

log = logging.getLogger(__name__)

# A claim older than this is taken back: the process that made it is presumed dead.
TIMER_CLAIM_TIMEOUT = timedelta(minutes=2)
MAX_TIMER_ATTEMPTS = 5
# What was sent is kept only as long as a reply to it may still arrive (a check-in stays
# open 48 hours); then its text is erased, and the row itself goes after a month.
ERASE_SENT_TEXT_AFTER = timedelta(days=3)
DELETE_SENT_AFTER = timedelta(days=30)
# A message waiting for a private chat that is not opened within this long is dropped: a
# nudge or "kept?" from last week is noise when the chat finally opens.
WAIT_FOR_PRIVATE_CHAT = timedelta(days=3)
PURGE_EVERY = timedelta(hours=1)


class Sweeper:
    """Claims and fires due timers (a mixin of `Runtime`; its state is set there)."""

    db: Engine
    clock: Clock
    is_postgres: bool
    timer_claim_timeout: timedelta
    stopping: bool
    heartbeat: HeartbeatWriter
    on_new_timer: Callable[[datetime], None]
    _sweep_lock: asyncio.Lock
    _sweep_again: bool
    _last_purge: datetime | None

    if TYPE_CHECKING:

        def kick_delivery(self) -> None: ...

    async def sweep(self) -> None:
        """Handle every due timer, then deliver what is waiting. Safe to call often."""
        if self._sweep_lock.locked():
            self._sweep_again = True
            return
        async with self._sweep_lock:
            while True:
                self._sweep_again = False
                handled = await self.fire_due()
                self.kick_delivery()
                if not handled and not self._sweep_again:
                    break
            await asyncio.to_thread(self.heartbeat.beat)
            now = self.clock.now()
            if self._last_purge is None or now - self._last_purge >= PURGE_EVERY:
                self._last_purge = now
                await asyncio.to_thread(self.purge_delivered)

    def purge_delivered(self) -> None:
        """Erase the text of messages sent long ago; delete rows older than a month; drop
        what waited too long for a private chat.

        The erased text is stored as a bare "" (it reads as empty), compared as stored: a
        sealed "" would be a fresh token on every run, and every erased row rewritten."""
        now = self.clock.now()
        stored_body = type_coerce(Outbox.body, SAText())
        with session_scope(self.db) as session:
            session.execute(
                update(Outbox)
                .where(
                    col(Outbox.state) == "waiting",
                    col(Outbox.created_at) < now - WAIT_FOR_PRIVATE_CHAT,
                )
                .values(state="failed")
            )
            session.execute(
                update(Outbox)
                .where(
                    col(Outbox.state).in_(["sent", "failed"]),
                    col(Outbox.created_at) < now - ERASE_SENT_TEXT_AFTER,
                    or_(stored_body != "", col(Outbox.fallback).is_not(None)),
                )
                .values(body=type_coerce("", SAText()), markup=None, fallback=None)
            )
            session.execute(
                delete(Outbox).where(
                    col(Outbox.state).in_(["sent", "failed"]),
                    col(Outbox.created_at) < now - DELETE_SENT_AFTER,
                )
            )

    async def fire_due(self) -> int:
        """Claim due timers in batches and handle each in its own transaction."""
        handled = 0
        while not self.stopping:
            claims = await asyncio.to_thread(self._claim_timers)
            if not claims:
                return handled
            for timer_id, claimed_at in claims:
                earliest = await asyncio.to_thread(self._handle_timer, timer_id, claimed_at)
                if earliest is not None:
                    self.on_new_timer(earliest)
                handled += 1
            self.kick_delivery()
        return handled

    def _claim_timers(self) -> list[tuple[int, datetime]]:
        now = self.clock.now()
        stale = now - self.timer_claim_timeout
        claimable = or_(
            col(Timer.state) == "pending",
            (col(Timer.state) == "claimed") & (col(Timer.claimed_at) < stale),
        )
        # Two narrow queries rather than one with `OR` and a join: each walks the
        # (state, due_at) index in order and stops after the due rows, so a sweep costs the
        # same with 300,000 pending or finished timers as with 3,000 (bench/scale.py; the
        # join let SQLite scan every couple, and PostgreSQL misjudge how many rows are due).
        reachable = exists().where(
            col(Couple.id) == col(Timer.couple_id), col(Couple.group_reachable)
        )
        with session_scope(self.db) as session:
            candidates: list[int] = []
            for state_is in (
                (col(Timer.state) == "claimed") & (col(Timer.claimed_at) < stale),
                col(Timer.state) == "pending",
            ):
                query = (
                    select(Timer.id)
                    .where(state_is, col(Timer.due_at) <= now, reachable)
                    .order_by(col(Timer.due_at))
                    .limit(BATCH - len(candidates))
                )
                if self.is_postgres:
                    query = query.with_for_update(skip_locked=True, of=Timer)
                candidates += [row_id for row_id in session.exec(query) if row_id is not None]
                if len(candidates) >= BATCH:
                    break
            claimed: list[tuple[int, datetime]] = []
            for timer_id in candidates:
                result = session.execute(
                    update(Timer)
                    .where(col(Timer.id) == timer_id, claimable)
                    .values(state="claimed", claimed_at=now, attempts=col(Timer.attempts) + 1)
                )
                if result.rowcount == 1:  # type: ignore[attr-defined]
                    claimed.append((timer_id, now))
            return claimed

    def _handle_timer(self, timer_id: int, claimed_at: datetime) -> datetime | None:
        """Handle one claimed timer; returns the earliest due time of timers it added."""
        try:
            with session_scope(self.db) as session:
                timer = session.get(Timer, timer_id)
                if timer is None or timer.state != "claimed" or timer.claimed_at != claimed_at:
                    return None  # another process took it back after our claim timed out
                now = self.clock.now()
                effects, state, late = handle_due(session, timer, now)
                committed = persist(session, effects, now, claim=False, late=late)
                finished = session.execute(
                    update(Timer)
                    .where(
                        col(Timer.id) == timer_id,
                        col(Timer.state) == "claimed",
                        col(Timer.claimed_at) == claimed_at,
                    )
                    .values(state=state, finished_at=now)
                )
                if finished.rowcount != 1:  # type: ignore[attr-defined]
                    raise _LostClaim
        except _LostClaim:
            return None
        except Exception:
            log.exception("timer %s failed; it will be retried after the claim timeout", timer_id)
            self._give_up_if_exhausted(timer_id)
            return None
        return committed.earliest_timer

    def _give_up_if_exhausted(self, timer_id: int) -> None:
        with session_scope(self.db) as session:
            timer = session.get(Timer, timer_id)
            if timer is not None and timer.attempts >= MAX_TIMER_ATTEMPTS:
                timer.state = TimerState.FAILED
                timer.finished_at = self.clock.now()
                session.add(timer)

    def earliest_pending(self) -> datetime | None:
        """The next due time a sweep could act on (timers of a group without the bot wait)."""
        reachable = exists().where(
            col(Couple.id) == col(Timer.couple_id), col(Couple.group_reachable)
        )
        with session_scope(self.db) as session:
            query = (
                select(Timer.due_at)
                .where(col(Timer.state) == "pending", reachable)
                .order_by(col(Timer.due_at))
                .limit(1)
            )
            return session.exec(query).first()


class _LostClaim(Exception):
    pass
