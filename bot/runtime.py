"""Carrying out what flows return: the outbox, the timers and the wake-up job.

Every flow runs in one transaction together with the rows for what it asked for:
new timers, and the messages to send (the outbox). Messages go out only after that
commit and are marked sent once Telegram accepted them, so a crash loses nothing;
the price is at-least-once delivery (see the README, "Delivery guarantee").

Turning effects into rows is `bot/delivery/outbox.py` (`persist`); this module runs
the transactions, sends the outbox rows, and claims and fires due timers.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Engine,
    Table,
    bindparam,
    delete,
    exists,
    or_,
    type_coerce,
    update,
)
from sqlalchemy import Text as SAText
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, col, select
from telegram import Bot, ForceReply, InlineKeyboardMarkup
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
)

from bot.clock import Clock
from bot.db import session_scope
from bot.delivery.models import Outbox, OutboxState, Timer, TimerState
from bot.delivery.outbox import Committed, _tell_group_something_waits, persist
from bot.delivery.timers import handle_due
from bot.health import HeartbeatWriter
from bot.inbox import CURRENT_CLAIM, InboxStore
from bot.texts import render
from flows.models import Couple, Partner
from flows.onboarding import migrate_chat
from flows.outcome import (
    EditOrigin,
    Effects,
    Notice,
    SendFile,
    Text,
    takes_replies,
)
from flows.secret import DataKeyError, unseal

log = logging.getLogger(__name__)

# Called by the rate limiter when the request of the row being sent leaves for Telegram.
REQUEST_GOES_OUT: ContextVar[Callable[[], object] | None] = ContextVar(
    "mend_request_goes_out", default=None
)

# A claim older than this is taken back: the process that made it is presumed dead.
TIMER_CLAIM_TIMEOUT = timedelta(minutes=2)
SEND_CLAIM_TIMEOUT = timedelta(minutes=5)
BATCH = 100
MAX_SEND_ATTEMPTS = 8
MAX_TIMER_ATTEMPTS = 5
# A flow's transaction is tried this often when the database is busy.
DB_ATTEMPTS = 5
# Accepted messages of one chat are marked sent together within this many seconds.
MARK_SENT_WITHIN = 0.5
# Delivery: chats sent to side by side, rows of one chat claimed at a time (a group at its
# limit sends 10 a minute, so 10 rows are out well within SEND_CLAIM_TIMEOUT), and how often
# to look for new rows while some chat is still draining.
MAX_CHATS_IN_FLIGHT = 50
PER_CHAT_CLAIM = 10
BUSY_POLL = 0.2
# How Telegram says that the message to edit is not there any more (deleted by a partner,
# or too old): the edit is dropped quietly, it is not a bug on our side.
MESSAGE_GONE = ("message to edit not found", "message can't be edited", "message_id_invalid")
# What was sent is kept only as long as a reply to it may still arrive (a check-in stays
# open 48 hours); then its text is erased, and the row itself goes after a month.
ERASE_SENT_TEXT_AFTER = timedelta(days=3)
DELETE_SENT_AFTER = timedelta(days=30)
# A message waiting for a private chat that is not opened within this long is dropped: a
# nudge or "kept?" from last week is noise when the chat finally opens.
WAIT_FOR_PRIVATE_CHAT = timedelta(days=3)
PURGE_EVERY = timedelta(hours=1)


class _GoingOut:
    """One row on its way: told when the request leaves (after any rate limit), and settled
    once the row is marked; a question counts in `Runtime._asking` in between."""

    def __init__(self, runtime: Runtime, row_id: int, asking_chat: int | None) -> None:
        self.runtime, self.row_id, self.asking_chat = runtime, row_id, asking_chat
        self.counted = False

    def going(self) -> None:
        self.runtime._unsent.pop(self.row_id, None)
        if self.asking_chat is not None and not self.counted:
            self.counted = True
            self.runtime._asking[self.asking_chat] += 1

    def settle(self) -> None:
        if self.counted:
            self.counted = False
            asking = self.runtime._asking
            asking[self.asking_chat or 0] -= 1
            if asking[self.asking_chat or 0] <= 0:
                del asking[self.asking_chat or 0]
            self.runtime._question_marked.set()


class Runtime:
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

    def deliver_soon(self, rows: Sequence[Outbox]) -> None:
        """Send claimed rows behind the caller: each chat's after that chat's earlier ones."""
        for chat_id, chat_rows in _by_chat(rows).items():
            for row in chat_rows:
                self._unsent[row.id or 0] = row
            previous = self._chat_tails.get(chat_id)
            task = asyncio.create_task(self._deliver_after(previous, chat_rows))
            self._chat_tails[chat_id] = task
            task.add_done_callback(functools.partial(self._forget_tail, chat_id))

    async def settled(self) -> None:
        """Wait until what `run` started sending is out (tests and benchmarks)."""
        while self._chat_tails:
            await asyncio.wait(list(self._chat_tails.values()))

    def _forget_tail(self, chat_id: int, task: asyncio.Task[None]) -> None:
        if self._chat_tails.get(chat_id) is task:
            del self._chat_tails[chat_id]

    async def _deliver_after(self, previous: asyncio.Task[None] | None, rows: list[Outbox]) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        await self._deliver_chat(rows)

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

    # ---- sending -------------------------------------------------------------------

    def kick_delivery(self) -> None:
        """Deliver pending outbox rows in the background (one runner at a time)."""
        if self.stopping:
            return
        if self._deliver_task is not None and not self._deliver_task.done():
            self._deliver_again = True
            return
        self._deliver_task = asyncio.create_task(self._deliver_loop())

    async def _deliver_loop(self) -> None:
        """Claim and send pending rows, each chat on its own so a slow one holds up no other.

        A group at its rate limit drains one message every few seconds; its later rows
        stay pending (and unclaimed, so no other process sends them out of order) until
        its current ones are out, while every other chat goes on.
        """
        busy: dict[int, asyncio.Task[None]] = {}
        while not self.stopping:
            self._deliver_again = False
            for chat_id in [chat for chat, task in busy.items() if task.done()]:
                del busy[chat_id]
            room = MAX_CHATS_IN_FLIGHT - len(busy)
            rows = (
                await asyncio.to_thread(self._claim_outbox, frozenset(busy), room)
                if room > 0
                else []
            )
            for chat_id, chat_rows in _by_chat(rows).items():
                self._unsent.update((row.id or 0, row) for row in chat_rows)
                busy[chat_id] = asyncio.create_task(self._deliver_chat(chat_rows))
            if rows:
                continue
            if busy:
                await asyncio.wait(
                    busy.values(), timeout=BUSY_POLL, return_when=asyncio.FIRST_COMPLETED
                )
                continue
            if not self._deliver_again:
                return

    def _claim_outbox(
        self, skip_chats: frozenset[int] = frozenset(), max_chats: int = BATCH
    ) -> list[Outbox]:
        """Claim pending rows (oldest first) of at most `max_chats` chats not in `skip_chats`,
        at most PER_CHAT_CLAIM of each, so a claim is sent well within its timeout.

        Every claim counts as an attempt: a row whose sender keeps dying (or keeps failing in
        a way nobody caught) ends as failed after MAX_SEND_ATTEMPTS instead of coming back
        every few minutes forever."""
        now = self.clock.now()
        stale = now - self.send_claim_timeout
        tries_left = col(Outbox.attempts) < MAX_SEND_ATTEMPTS
        claimable = or_(
            (col(Outbox.state) == "pending")
            & or_(col(Outbox.claimed_at).is_(None), col(Outbox.claimed_at) <= now),
            (col(Outbox.state) == "sending") & (col(Outbox.claimed_at) < stale) & tries_left,
        )
        with session_scope(self.db) as session:
            session.execute(
                update(Outbox)
                .where(col(Outbox.state) == "sending", col(Outbox.claimed_at) < stale, ~tries_left)
                .values(state="failed")
            )
            query = select(Outbox.id, Outbox.chat_id).where(claimable)
            if skip_chats:
                query = query.where(col(Outbox.chat_id).not_in(skip_chats))
            query = query.order_by(col(Outbox.id)).limit(BATCH)
            if self.is_postgres:
                query = query.with_for_update(skip_locked=True)
            per_chat: dict[int, int] = defaultdict(int)
            candidates: list[int] = []
            for row_id, chat_id in session.exec(query):
                if chat_id not in per_chat and len(per_chat) >= max_chats:
                    continue
                if per_chat[chat_id] < PER_CHAT_CLAIM and row_id is not None:
                    per_chat[chat_id] += 1
                    candidates.append(row_id)
            claimed: list[int] = []
            for row_id in candidates:
                result = session.execute(
                    update(Outbox)
                    .where(col(Outbox.id) == row_id, claimable)
                    .values(state="sending", claimed_at=now, attempts=col(Outbox.attempts) + 1)
                )
                if result.rowcount == 1:  # type: ignore[attr-defined]
                    claimed.append(row_id)
            if not claimed:
                return []
            return self._readable(session, claimed)

    def _readable(self, session: Session, row_ids: list[int]) -> list[Outbox]:
        """The claimed rows, read; one whose text does not open (a wrong DATA_KEY, a damaged
        value) is marked failed and named in the log by id, and stops no other row."""
        rows = select(Outbox).where(col(Outbox.id).in_(row_ids)).order_by(col(Outbox.id))
        try:
            return list(session.exec(rows))
        except DataKeyError:
            pass
        session.expunge_all()
        raw = select(
            Outbox.id, type_coerce(Outbox.body, SAText()), type_coerce(Outbox.fallback, SAText())
        ).where(col(Outbox.id).in_(row_ids))
        broken: list[int] = []
        for row_id, body, fallback in session.execute(raw):
            try:
                unseal(body)
                if fallback is not None:
                    unseal(fallback)
            except DataKeyError:
                broken.append(row_id)
        for row_id in broken:
            log.error(
                "outbox row %s cannot be read with DATA_KEY; marked failed (README, Encryption)",
                row_id,
            )
        session.execute(update(Outbox).where(col(Outbox.id).in_(broken)).values(state="failed"))
        readable = [row_id for row_id in row_ids if row_id not in broken]
        if not readable:
            return []
        rows = select(Outbox).where(col(Outbox.id).in_(readable)).order_by(col(Outbox.id))
        return list(session.exec(rows))

    async def deliver(self, rows: Sequence[Outbox]) -> None:
        """Send claimed rows: in order within a chat, chats side by side."""
        await asyncio.gather(
            *(self._deliver_chat(chat_rows) for chat_rows in _by_chat(rows).values())
        )

    async def _deliver_chat(self, rows: list[Outbox]) -> None:
        """One chat's rows in order. Accepted ones are marked sent together, at the latest
        half a second after the first of them (and always before a failure is handled),
        which keeps the window for a duplicate after a crash that short."""
        accepted: list[tuple[int, int]] = []
        first_accepted = 0.0
        loop = asyncio.get_running_loop()
        for row in rows:
            if self.stopping:
                break  # given back by stop()
            asks = row.kind == "send" and takes_replies(row.tag)
            out = _GoingOut(self, row.id or 0, row.chat_id if asks else None)
            try:
                if await self._deliver_row(row, out, accepted):
                    if len(accepted) == 1:
                        first_accepted = loop.time()
                    # A question is marked at once: in private, what is typed next answers
                    # the latest question marked sent, and the partner may already be typing
                    # while an edit behind it waits on the chat's limit.
                    if asks or loop.time() - first_accepted >= MARK_SENT_WITHIN:
                        await self._mark_sent(accepted)
            finally:
                out.settle()
        await self._mark_sent(accepted)

    async def _deliver_row(
        self, row: Outbox, out: _GoingOut, accepted: list[tuple[int, int]]
    ) -> bool:
        """Send one row of a chat; True when Telegram took it (it joins `accepted`, which
        the caller marks sent). A failure marks what was accepted before it first."""
        row_id = row.id or 0
        if self.limiter_reports_requests:
            # Still "unsent" while it waits on a rate limit; the limiter says when the
            # request really goes out (a stop gives back only rows not yet out).
            token = REQUEST_GOES_OUT.set(out.going)
        else:
            out.going()
        try:
            message_id = await self._send_one(row)
        except _NothingToEdit:
            # The message to edit was deleted in Telegram (or never arrived): nothing is
            # on anyone's screen to change, and nothing else waits on it.
            await self._mark_sent(accepted)
            log.info("outbox row %s: the message to edit is gone; left alone", row.id)
            await asyncio.to_thread(self._finish, [(row_id, row.message_id)], "failed")
            return False
        except TelegramError as exc:
            await self._mark_sent(accepted)
            await self._failed(row, exc)
            return False
        except Exception:
            await self._mark_sent(accepted)
            log.exception("delivery of outbox row %s failed; it will be tried again", row.id)
            await asyncio.to_thread(self._retry_later, row.id)
            return False
        finally:
            if self.limiter_reports_requests:
                REQUEST_GOES_OUT.reset(token)
                if not self.stopping:
                    self._unsent.pop(row_id, None)
        accepted.append((row_id, message_id))
        return True

    async def questions_marked(self, chat_id: int, timeout: float = 5.0) -> None:
        """Wait (at most `timeout`) until no question to `chat_id` is between Telegram and
        its mark in the outbox: a message typed there answers the question on screen."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while self._asking[chat_id]:
                    self._question_marked.clear()
                    await self._question_marked.wait()

    async def _send_one(self, row: Outbox) -> int:
        """Send one row; returns Telegram's message id (a moved group is followed)."""
        assert self.bot is not None, "the runtime has no bot yet"
        if row.kind != "send":
            return await self._edit_one(row)
        markup: Any = None
        if row.markup:
            raw = json.loads(row.markup)
            markup = (
                InlineKeyboardMarkup.de_json(raw, self.bot)
                if "inline_keyboard" in raw
                else ForceReply(selective=False)
            )
        try:
            message = await self.bot.send_message(row.chat_id, row.body, reply_markup=markup)
        except ChatMigrated as exc:
            await asyncio.to_thread(self._migrate_chat, row.chat_id, exc.new_chat_id)
            row.chat_id = exc.new_chat_id
            return await self._send_one(row)
        self.delivered += 1
        return int(message.message_id)

    async def _edit_one(self, row: Outbox) -> int:
        """Edit the bot's message `row.message_id` (a pressed button's, or a tidied step's)."""
        assert self.bot is not None
        if row.message_id is None:
            # A step tidied while its message was on its way: by now (this row comes after
            # it in the chat's order) Telegram has it, or it never arrived.
            row.message_id = await asyncio.to_thread(self._sent_message_id, row.chat_id, row.tag)
            if row.message_id is None:
                raise _NothingToEdit
        markup = (
            InlineKeyboardMarkup.de_json(json.loads(row.markup), self.bot) if row.markup else None
        )
        try:
            if row.kind == "edit_text":
                await self.bot.edit_message_text(
                    row.body, chat_id=row.chat_id, message_id=row.message_id, reply_markup=markup
                )
            else:
                await self.bot.edit_message_reply_markup(
                    chat_id=row.chat_id, message_id=row.message_id, reply_markup=markup
                )
        except BadRequest as exc:
            reason = str(exc).lower()
            if any(gone in reason for gone in MESSAGE_GONE):
                raise _NothingToEdit from exc
            if "not modified" not in reason:
                raise
        return row.message_id

    def _sent_message_id(self, chat_id: int, tag: str | None) -> int | None:
        if tag is None:
            return None
        with session_scope(self.db) as session:
            query = (
                select(Outbox.message_id)
                .where(
                    col(Outbox.chat_id) == chat_id,
                    col(Outbox.tag) == tag,
                    col(Outbox.kind) == "send",
                    col(Outbox.state) == "sent",
                )
                .order_by(col(Outbox.id).desc())
                .limit(1)
            )
            return session.exec(query).first()

    async def _failed(self, row: Outbox, exc: TelegramError) -> None:
        refused = isinstance(exc, BadRequest)  # PTB makes BadRequest a NetworkError
        if isinstance(exc, Forbidden) or (refused and "chat not found" in str(exc).lower()):
            await asyncio.to_thread(self._unreachable, row)
            self.kick_delivery()  # the group fallback or the "something waits" line
        elif not refused and isinstance(exc, RetryAfter | NetworkError):
            log.warning("outbox row %s will be retried: %s", row.id, type(exc).__name__)
            await asyncio.to_thread(self._retry_later, row.id)
        else:
            # Telegram's description names the problem ("message is too long", "button URL
            # invalid"), never the text; the key says which message it was.
            self.refused[row.key or "unknown"] += 1
            log.error(
                "Telegram refused a %s message (outbox row %s): %s",
                row.key or "unknown",
                row.id,
                exc,
            )
            await asyncio.to_thread(self._refused, row)
            self.kick_delivery()  # the fallback text, if there is one

    async def _mark_sent(self, accepted: list[tuple[int, int]]) -> None:
        if accepted:
            done = list(accepted)
            accepted.clear()
            await asyncio.to_thread(self._finish, done, "sent")

    def _finish(self, rows: Sequence[tuple[int, int | None]], state: str) -> None:
        now = self.clock.now()
        # `sent_at` is when Telegram accepted it: what a partner has actually seen is
        # ordered by it (bot/delivery/chats.py, latest_question).
        sent_at = now if state == "sent" else None
        if not rows:
            return
        # One Core statement run for all rows (executemany): the ORM's bulk UPDATE would
        # compile and evaluate it again for every row.
        table: Table = Outbox.__table__  # type: ignore[attr-defined]
        statement = (
            update(table)
            .where(table.c.id == bindparam("row_id"))
            .values(state=state, message_id=bindparam("new_message_id"), sent_at=sent_at)
        )
        with session_scope(self.db) as session:
            session.connection().execute(
                statement,
                [{"row_id": row_id, "new_message_id": message_id} for row_id, message_id in rows],
            )

    def _refused(self, row: Outbox) -> None:
        """Telegram will never take this message. If it carried the couple's state (a
        reveal, a return time), they still hear the simpler text written for that case."""
        with session_scope(self.db) as session:
            session.execute(update(Outbox).where(col(Outbox.id) == row.id).values(state="failed"))
            if not row.fallback:
                return
            session.add(
                Outbox(
                    couple_id=row.couple_id,
                    partner_id=row.partner_id,
                    chat_id=row.chat_id,
                    body=row.fallback,
                    key=f"{row.key}#fallback",
                    private_only=row.private_only,
                    state=OutboxState.PENDING,
                    created_at=self.clock.now(),
                )
            )

    def _retry_later(self, row_id: int | None) -> None:
        """Back off: a pending row's `claimed_at` is the moment before which it waits."""
        with session_scope(self.db) as session:
            row = session.get(Outbox, row_id)
            if row is None:
                return
            # The claim already counted this attempt.
            row.state = (
                OutboxState.PENDING if row.attempts < MAX_SEND_ATTEMPTS else OutboxState.FAILED
            )
            row.claimed_at = self.clock.now() + retry_backoff(max(row.attempts, 1))
            session.add(row)

    def _migrate_chat(self, old_chat_id: int, new_chat_id: int) -> None:
        """The same rule as the migration update (flows/onboarding/flow.py), whichever comes
        first."""
        with session_scope(self.db) as session:
            now = self.clock.now()
            persist(session, migrate_chat(session, old_chat_id, new_chat_id), now, claim=False)

    def _unreachable(self, row: Outbox) -> None:
        """A private chat refused: fall back to the group. A group refused: hold its mail."""
        with session_scope(self.db) as session:
            couple = session.get(Couple, row.couple_id) if row.couple_id else None
            stored = session.get(Outbox, row.id)
            if stored is None:
                return
            if couple is not None and row.chat_id == couple.group_chat_id:
                couple.group_reachable = False
                session.add(couple)
                session.execute(
                    update(Outbox)
                    .where(
                        col(Outbox.chat_id) == row.chat_id,
                        col(Outbox.state).in_(["pending", "sending"]),
                    )
                    .values(state="held")
                )
                log.warning("group of couple %s is unreachable; holding its messages", couple.id)
                return
            partner = session.get(Partner, row.partner_id) if row.partner_id else None
            stored.state = OutboxState.FAILED
            session.add(stored)
            if partner is None or couple is None:
                return
            partner.private_blocked = True
            session.add(partner)
            if row.private_only:
                # Meant for them alone: it waits for the private chat, the group only
                # hears that something waits.
                _tell_group_something_waits(session, couple, partner, self.clock.now(), claim=False)
                stored.state = OutboxState.WAITING
                stored.claimed_at = None
                log.info(
                    "partner %s blocked the bot in private; a private message waits", partner.id
                )
                return
            fallback = Outbox(
                couple_id=couple.id,
                partner_id=partner.id,
                chat_id=couple.group_chat_id,
                body=render(
                    Text("common.for_partner", {"name": partner.first_name}), partner.language
                )
                + "\n"
                + row.body,
                markup=row.markup,
                tag=row.tag,
                key=row.key,
                fallback=row.fallback,
                state=OutboxState.HELD if not couple.group_reachable else OutboxState.PENDING,
                created_at=self.clock.now(),
            )
            session.add(fallback)
            log.info("partner %s blocked the bot in private; writing to the group", partner.id)

    # ---- timers --------------------------------------------------------------------

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


def retry_backoff(attempts: int) -> timedelta:
    """10 s, 20 s, 40 s … up to 10 minutes: a network blip costs no message."""
    return timedelta(seconds=min(10 * 2 ** (attempts - 1), 600))


def _by_chat(rows: Sequence[Outbox]) -> dict[int, list[Outbox]]:
    by_chat: dict[int, list[Outbox]] = defaultdict(list)
    for row in rows:
        by_chat[row.chat_id].append(row)
    return by_chat


class _LostClaim(Exception):
    pass


class _NothingToEdit(Exception):
    """The message an edit row names is not there (deleted in Telegram, or never sent)."""
