"""Carrying out what flows return: the transaction, the outbox, the timers.

Every flow runs in one transaction together with the rows for what it asked for:
new timers, and the messages to send (the outbox). Messages go out only after that
commit and are marked sent once Telegram accepted them, so a crash loses nothing;
the price is at-least-once delivery (see the README, "Delivery guarantee").

`Runtime` is the facade the shell holds: it runs a flow's transaction (this module),
turns effects into rows (`bot/delivery/outbox.py`, `persist`), sends them
(`bot/delivery/sender.py`, failures in `failures.py`), claims and fires due timers
(`bot/delivery/sweep.py`), and stops.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import Engine, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, col
from telegram import Bot

from bot.clock import Clock
from bot.db import session_scope
from bot.delivery.failures import MAX_SEND_ATTEMPTS, retry_backoff
from bot.delivery.models import Outbox
from bot.delivery.outbox import Committed, persist
from bot.delivery.sender import PER_CHAT_CLAIM, REQUEST_GOES_OUT, SEND_CLAIM_TIMEOUT, Sender
from bot.delivery.sweep import (
    DELETE_SENT_AFTER,
    ERASE_SENT_TEXT_AFTER,
    TIMER_CLAIM_TIMEOUT,
    WAIT_FOR_PRIVATE_CHAT,
    Sweeper,
)
from bot.health import HeartbeatWriter
from bot.inbox import CURRENT_CLAIM, InboxStore
from flows.outcome import EditOrigin, Effects, Notice, SendFile

log = logging.getLogger(__name__)

# A flow's transaction is tried this often when the database is busy.
DB_ATTEMPTS = 5

__all__ = [
    "DELETE_SENT_AFTER",
    "ERASE_SENT_TEXT_AFTER",
    "MAX_SEND_ATTEMPTS",
    "PER_CHAT_CLAIM",
    "REQUEST_GOES_OUT",
    "SEND_CLAIM_TIMEOUT",
    "TIMER_CLAIM_TIMEOUT",
    "WAIT_FOR_PRIVATE_CHAT",
    "Runtime",
    "retry_backoff",
]


class Runtime(Sender, Sweeper):
    """The runtime around the flows: runs transactions, sends, fires timers."""

    def __init__(
        self,
        db: Engine,
        clock: Clock,
        *,
        sweep_seconds: float = 30.0,
        claim_timeout: timedelta | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.sweep_seconds = sweep_seconds
        # Only benchmarks shorten these (MEND_CLAIM_TIMEOUT_SECONDS); see the constants above.
        self.timer_claim_timeout = claim_timeout or TIMER_CLAIM_TIMEOUT
        self.send_claim_timeout = claim_timeout or SEND_CLAIM_TIMEOUT
        self.bot: Bot | None = None
        self.is_postgres = db.dialect.name == "postgresql"
        self._sweep_lock = asyncio.Lock()
        self._sweep_again = False
        self._deliver_task: asyncio.Task[None] | None = None
        self._deliver_again = False
        # Set by the shell: called with the earliest due time a commit added.
        self.on_new_timer: Callable[[datetime], None] = lambda _when: None
        self.delivered = 0
        # Messages Telegram refused, by catalogue key (a 400 is a bug on our side, not
        # the couple's: counted so it shows up, logged by key, never by text).
        self.refused: Counter[str] = Counter()
        self._last_purge: datetime | None = None
        self.heartbeat = HeartbeatWriter(db)
        # A stop: no new claims, no new sends; rows in hand and not yet tried are given back.
        self.stopping = False
        self._unsent: dict[int, Outbox] = {}
        # Chats with a question on its way: out to Telegram, not yet marked sent. What is
        # typed there waits for the mark (`questions_marked`), or it would answer the
        # question before it.
        self._asking: Counter[int] = Counter()
        self._question_marked = asyncio.Event()
        self._chat_tails: dict[int, asyncio.Task[None]] = {}
        # Set when the rate limiter calls REQUEST_GOES_OUT as a request leaves (app.py).
        self.limiter_reports_requests = False

    # ---- running flows -------------------------------------------------------------

    async def run(
        self,
        flow: Callable[[Session, datetime], Effects],
        *,
        origin: tuple[int, int] | None = None,
    ) -> Committed:
        """Run a flow in one transaction, store what it asked for, and start sending it.

        The transaction also marks the update's inbox row done. Sending is not awaited:
        it goes on behind the caller, in order per chat (`deliver_soon`), so a button press
        is answered at once, and a group waiting on its rate limit holds up no handler.
        """
        claim = CURRENT_CLAIM.get()

        def transaction() -> Committed:
            with session_scope(self.db) as session:
                now = self.clock.now()
                effects = flow(session, now)
                committed = persist(session, effects, now, claim=True, origin=origin)
                if claim is not None:
                    InboxStore.finish_in(session, claim, now)
            if claim is not None:
                claim.done = True
            return committed

        def transaction_with_retry() -> Committed:
            for attempt in range(1, DB_ATTEMPTS + 1):
                try:
                    return transaction()
                except IntegrityError:
                    # Someone else's write won a race on a unique rule (both partners sent
                    # /pause at once): run the flow again, so it sees their row and answers
                    # as it would have if they had been a second later.
                    if attempt >= 2:
                        raise
                    log.info("a concurrent change won a race; running the flow again")
                except OperationalError as exc:
                    # A busy database (a lock held too long, a deadlock, a dropped
                    # connection): try again rather than fail what a person asked for.
                    if attempt >= DB_ATTEMPTS:
                        raise
                    log.warning("database busy (%s); trying again", type(exc.orig).__name__)
                    time.sleep(0.05 * 2**attempt)
            raise AssertionError("unreachable")

        committed = await asyncio.to_thread(transaction_with_retry)
        if committed.released:
            self.kick_delivery()
        if committed.rows:
            self.deliver_soon(committed.rows)
        if committed.earliest_timer is not None:
            self.on_new_timer(committed.earliest_timer)
        return committed

    async def stop(self, grace: float) -> None:
        """Claim and send nothing new; let sends under way finish within `grace` seconds;
        give rows not yet tried back (they go out after the next start, in order)."""
        self.stopping = True
        running = [task for task in self._chat_tails.values() if not task.done()]
        if self._deliver_task is not None and not self._deliver_task.done():
            running.append(self._deliver_task)
        if running:
            _done, pending = await asyncio.wait(running, timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=0.5)
        if self._unsent:
            rows = list(self._unsent.values())
            self._unsent.clear()
            await asyncio.to_thread(self._release, rows)

    def _release(self, rows: Sequence[Outbox]) -> None:
        with session_scope(self.db) as session:
            for row in rows:
                session.execute(
                    update(Outbox)
                    .where(col(Outbox.id) == row.id, col(Outbox.state) == "sending")
                    .values(state="pending", claimed_at=None)
                )
        log.info("%s messages not yet sent wait for the next start", len(rows))

    # ---- immediate answers to a button press ------------------------------------------

    @staticmethod
    def notices(effects: Effects) -> list[Notice]:
        return [effect for effect in effects if isinstance(effect, Notice)]

    @staticmethod
    def edits(effects: Effects) -> list[EditOrigin]:
        return [effect for effect in effects if isinstance(effect, EditOrigin)]

    @staticmethod
    def files(effects: Effects) -> list[SendFile]:
        return [effect for effect in effects if isinstance(effect, SendFile)]
