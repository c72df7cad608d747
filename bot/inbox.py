"""The inbox: every update is stored before it counts as received, then handled per chat.

Polling and the webhook only write here (`InboxQueue.put`, awaited by PTB's Updater before
it asks Telegram for the next batch, which is what acknowledges the last one; and by the
webhook handler before it answers 200). `InboxDrainer` claims stored rows chat by chat
and hands each to PTB's handlers through `ChatOrderedProcessor`: updates of different
chats run side by side, updates of one chat one after another, in update_id order, by one
process at a time. The flow that an update causes marks its row done in its own
transaction (`finish_in`), which also erases the payload.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict
from collections.abc import Awaitable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Table, delete, exists, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import aliased
from sqlmodel import Session, col
from telegram import Update
from telegram.ext import Application, BaseUpdateProcessor

from bot.clock import Clock
from bot.db import connection_scope, session_scope
from flows.models import Inbox

log = logging.getLogger(__name__)

# The table itself, for the hot statements: a Core UPDATE/INSERT skips the ORM's bulk
# machinery (which evaluates the WHERE clause against every object in the session).
INBOX: Table = Inbox.__table__  # type: ignore[attr-defined]

# Rows of one chat claimed at a time; a claim older than INBOX_CLAIM_TIMEOUT belongs to a
# process presumed dead (PostgreSQL; on SQLite there is one process, and it takes its own
# claims back at start-up).
PER_CHAT_CLAIM = 10
INBOX_CLAIM_TIMEOUT = timedelta(seconds=60)
# How often to look for rows other processes stored (a process's own wake it at once).
IDLE_POLL = 1.0
# Handled rows (payload already erased) are kept this long to recognise a redelivery.
KEEP_DONE = timedelta(days=2)
PURGE_EVERY = timedelta(hours=1)
STORE_RETRY = 0.5


@dataclass
class Claim:
    """The inbox row an update came from, while its handlers run."""

    row_id: int
    claimed_at: datetime
    done: bool = False


# Set while an update's handlers run, so the flow's transaction can mark the row done.
CURRENT_CLAIM: ContextVar[Claim | None] = ContextVar("mend_inbox_claim", default=None)


class LostClaim(Exception):
    """The inbox row was taken back (a stop released it, or another process took it over):
    the flow's transaction is rolled back, and the update is handled again later."""


@dataclass(frozen=True)
class Claimed:
    row_id: int
    update_id: int
    chat_id: int
    payload: str | None
    claimed_at: datetime
    # The update itself, when this process has just received it (no parsing it again).
    update: Update | None = None


def chat_key(update: Update) -> int:
    """Which chat an update belongs to for ordering: its chat, else its sender."""
    if update.effective_chat is not None:
        return update.effective_chat.id
    if update.effective_user is not None:
        return update.effective_user.id
    return 0


class InboxStore:
    """The inbox table: store, claim per chat, finish, release, purge."""

    def __init__(self, db: Engine, clock: Clock, *, claim_timeout: timedelta | None = None) -> None:
        self.db = db
        self.clock = clock
        self.claim_timeout = claim_timeout or INBOX_CLAIM_TIMEOUT
        self.is_postgres = db.dialect.name == "postgresql"

    def store(self, update_id: int, chat_id: int, payload: str) -> bool:
        """Store an update once; False when this update_id was stored before."""
        stored, _claimed = self.store_and_claim(update_id, chat_id, payload, claim=False)
        return stored

    def store_and_claim(
        self, update_id: int, chat_id: int, payload: str, *, claim: bool
    ) -> tuple[bool, Claimed | None]:
        """Store an update once (False when its update_id was stored before); with `claim`,
        store it claimed by this process when nothing of its chat waits or is being
        handled anywhere, which saves the drainer a claim: one transaction, not two.

        The check and the insert are one transaction under the same lock a claim takes
        (SQLite: the writer lock; PostgreSQL: the chat's advisory lock), so an update never
        overtakes an earlier one of its chat, in this process or another."""
        now = self.clock.now()
        insert = pg_insert if self.is_postgres else sqlite_insert
        with connection_scope(self.db) as connection:
            if claim and self.is_postgres:
                claim = bool(
                    connection.execute(
                        text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": chat_id}
                    ).scalar()
                )
            if claim:
                busy = connection.execute(
                    select(INBOX.c.id)
                    .where(INBOX.c.chat_id == chat_id, INBOX.c.state.in_(["pending", "claimed"]))
                    .limit(1)
                ).first()
                claim = busy is None
            statement = (
                insert(INBOX)
                .values(
                    update_id=update_id,
                    chat_id=chat_id,
                    payload=payload,
                    state="claimed" if claim else "pending",
                    received_at=now,
                    claimed_at=now if claim else None,
                )
                .on_conflict_do_nothing(index_elements=["update_id"])
                .returning(INBOX.c.id)
            )
            row_id = connection.execute(statement).scalar()
        if row_id is None:
            return False, None
        if not claim:
            return True, None
        return True, Claimed(row_id, update_id, chat_id, payload, now)

    def waiting_chats(self, skip_chats: frozenset[int] = frozenset(), limit: int = 64) -> list[int]:
        """Chats with rows to handle and no live claim on them, oldest first; then chats
        whose only claims are stale (a process died holding them). A scan of the waiting
        rows: the drainer runs it about once a second, and otherwise claims the chats it
        stored updates for itself."""
        now = self.clock.now()
        stale = now - self.claim_timeout
        inner = aliased(Inbox)
        live_claim = exists().where(
            col(inner.chat_id) == col(Inbox.chat_id),
            col(inner.state) == "claimed",
            col(inner.claimed_at) >= stale,
        )
        waiting = select(col(Inbox.chat_id), func.min(col(Inbox.update_id))).where(
            col(Inbox.state) == "pending", ~live_claim
        )
        orphaned = (
            select(col(Inbox.chat_id))
            .distinct()
            .where(col(Inbox.state) == "claimed", col(Inbox.claimed_at) < stale, ~live_claim)
        )
        if skip_chats:
            waiting = waiting.where(col(Inbox.chat_id).not_in(skip_chats))
            orphaned = orphaned.where(col(Inbox.chat_id).not_in(skip_chats))
        waiting = (
            waiting.group_by(col(Inbox.chat_id))
            .order_by(func.min(col(Inbox.update_id)))
            .limit(limit)
        )
        with session_scope(self.db) as session:
            chats = [chat_id for chat_id, _first in session.execute(waiting)]
            if len(chats) < limit:
                dead = session.execute(orphaned.limit(limit)).scalars()
                chats += [chat_id for chat_id in dead if chat_id not in chats]
        return chats[:limit]

    def claim_chats(self, chats: Sequence[int], per_chat: int = PER_CHAT_CLAIM) -> list[Claimed]:
        """Claim the oldest rows (at most `per_chat`) of each of `chats` that nobody else
        is handling: a chat with a live claim of another process is left alone, so its
        updates run in order in one process at a time (SQLite: the transaction holds the
        one writer lock from its start; PostgreSQL: an advisory lock per chat)."""
        if not chats:
            return []
        now = self.clock.now()
        stale = now - self.claim_timeout
        with connection_scope(self.db) as connection:
            if self.is_postgres:
                chats = [
                    chat_id
                    for chat_id in chats
                    if connection.execute(
                        text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": chat_id}
                    ).scalar()
                ]
                if not chats:
                    return []
            rows = connection.execute(
                select(
                    INBOX.c.id,
                    INBOX.c.update_id,
                    INBOX.c.chat_id,
                    INBOX.c.state,
                    INBOX.c.claimed_at,
                    INBOX.c.payload,
                )
                .where(INBOX.c.state.in_(["pending", "claimed"]), INBOX.c.chat_id.in_(chats))
                .order_by(INBOX.c.chat_id, INBOX.c.update_id)
            ).all()
            held = {
                row.chat_id
                for row in rows
                if row.state == "claimed" and row.claimed_at is not None and row.claimed_at >= stale
            }
            taken: dict[int, int] = defaultdict(int)
            chosen: list[Claimed] = []
            for row in rows:
                if row.chat_id not in held and taken[row.chat_id] < per_chat:
                    taken[row.chat_id] += 1
                    chosen.append(Claimed(row.id, row.update_id, row.chat_id, row.payload, now))
            if not chosen:
                return []
            connection.execute(
                update(INBOX)
                .where(INBOX.c.id.in_([row.row_id for row in chosen]))
                .values(state="claimed", claimed_at=now)
            )
        return chosen

    def claim(
        self,
        skip_chats: frozenset[int] = frozenset(),
        max_chats: int = 32,
        per_chat: int = PER_CHAT_CLAIM,
    ) -> list[Claimed]:
        """Find waiting chats and claim them (what a second process does)."""
        return self.claim_chats(self.waiting_chats(skip_chats, max_chats), per_chat)

    @staticmethod
    def finish_in(session: Session | Connection, claim: Claim, now: datetime) -> None:
        """Mark the row done in the caller's transaction (the flow's), erasing its payload."""
        if claim.done:
            return
        result = session.execute(
            update(INBOX)
            .where(
                INBOX.c.id == claim.row_id,
                INBOX.c.state == "claimed",
                INBOX.c.claimed_at == claim.claimed_at,
            )
            .values(state="done", payload=None, done_at=now)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise LostClaim

    def finish(self, claim: Claim) -> None:
        """Mark done an update that no flow marked (nothing to change, or its handler failed)."""
        with contextlib.suppress(LostClaim), connection_scope(self.db) as connection:
            self.finish_in(connection, claim, self.clock.now())
        claim.done = True

    def release(self, claims: Sequence[Claimed]) -> int:
        """Give rows back (a stop): they are handled after the next start, or elsewhere."""
        if not claims:
            return 0
        released = 0
        with session_scope(self.db) as session:
            for row in claims:
                result = session.execute(
                    update(Inbox)
                    .where(
                        col(Inbox.id) == row.row_id,
                        col(Inbox.state) == "claimed",
                        col(Inbox.claimed_at) == row.claimed_at,
                    )
                    .values(state="pending", claimed_at=None)
                )
                released += result.rowcount  # type: ignore[attr-defined]
        return released

    def recover(self) -> int:
        """SQLite (one process): claims left by a process that died are ours to take back."""
        if self.is_postgres:
            return 0
        with session_scope(self.db) as session:
            result = session.execute(
                update(Inbox)
                .where(col(Inbox.state) == "claimed")
                .values(state="pending", claimed_at=None)
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    def purge(self) -> None:
        with session_scope(self.db) as session:
            session.execute(
                delete(Inbox).where(
                    col(Inbox.state) == "done", col(Inbox.done_at) < self.clock.now() - KEEP_DONE
                )
            )

    def waiting(self) -> int:
        with session_scope(self.db) as session:
            query = select(func.count()).select_from(Inbox).where(col(Inbox.state) != "done")
            return int(session.execute(query).scalar() or 0)


class InboxQueue(asyncio.Queue[object]):
    """PTB's update queue, turned into the door of the inbox.

    An `Update` put here is written to the inbox (retrying while the database is away)
    before `put` returns: the Updater asks for the next batch, which acknowledges this
    one to Telegram, only after that; the webhook answers 200 only after that. Anything
    else (PTB's stop marker) goes into the queue as usual.
    """

    def __init__(self) -> None:
        super().__init__()
        self.store: InboxStore | None = None
        self.drainer: InboxDrainer | None = None

    async def put(self, item: object) -> None:
        if not isinstance(item, Update):
            await super().put(item)
            return
        if self.store is None:
            raise RuntimeError("the inbox queue has no store")
        payload = json.dumps(item.to_dict(), separators=(",", ":"))
        chat = chat_key(item)
        drainer = self.drainer
        # A chat this process is not handling: stored claimed, handed to the drainer.
        reserved = drainer is not None and drainer.reserve(chat)
        claimed: Claimed | None = None
        try:
            while True:
                call = asyncio.ensure_future(
                    asyncio.to_thread(
                        self.store.store_and_claim, item.update_id, chat, payload, claim=reserved
                    )
                )
                try:
                    _stored, claimed = await asyncio.shield(call)
                    break
                except asyncio.CancelledError:
                    # Polling stopped while the row was being written: the write goes on in
                    # its thread, and a row it stores claimed must not stay claimed by
                    # nobody (on PostgreSQL that would hold the chat up for the timeout).
                    if drainer is not None:
                        drainer.when_stored(chat, call, reserved=reserved, update=item)
                        drainer = None
                    raise
                except Exception:
                    log.exception("could not store update %s; retrying", item.update_id)
                    await asyncio.sleep(STORE_RETRY)
        finally:
            if drainer is not None:
                await drainer.stored(chat, claimed, reserved=reserved, update=item)


class ChatOrderedProcessor(BaseUpdateProcessor):
    """PTB's update processor: at most `max_concurrent_updates` updates at once, and
    one at a time per chat, in the order they arrive here."""

    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._users: dict[int, int] = defaultdict(int)

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = chat_key(update) if isinstance(update, Update) else 0
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] += 1
        try:
            async with lock:
                await coroutine
        finally:
            self._users[key] -= 1
            if not self._users[key]:
                del self._users[key]
                self._locks.pop(key, None)

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None


class InboxDrainer:
    """Claims stored updates chat by chat and runs each through PTB's handlers."""

    def __init__(
        self,
        application: Application[Any, Any, Any, Any, Any, Any],
        store: InboxStore,
        max_chats: int,
    ) -> None:
        self.application = application
        self.store = store
        self.max_chats = max_chats
        self.stopping = False
        self.handled = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # Chats being handled; a future without a task while an update of the chat is
        # being stored claimed (`reserve`).
        self._busy: dict[int, asyncio.Future[bool]] = {}
        self._held: dict[int, Claimed] = {}
        self._last_purge: datetime | None = None
        # Chats this process stored updates for (in arrival order), claimed without a scan;
        # a scan about once a second finds the rest (other processes', left-over ones).
        self._known: dict[int, None] = {}
        # Hand-overs of writes that finished after their caller was cancelled (a stop).
        self._late: set[asyncio.Future[Any]] = set()
        self._next_scan = 0.0

    def wake(self, chat_id: int | None = None) -> None:
        if chat_id is not None:
            self._known[chat_id] = None
        self._wake.set()

    def _settle(self, chat_id: int) -> bool:
        """Forget a chat's finished handling; True when the chat is free now."""
        task = self._busy.get(chat_id)
        if task is None:
            return True
        if not task.done():
            return False
        del self._busy[chat_id]
        if task.cancelled() or task.exception() is not None or task.result():
            self._known[chat_id] = None  # a full claim (or a failure): look again
        return True

    def reserve(self, chat_id: int) -> bool:
        """Whether an update of `chat_id` about to be stored may be stored claimed: this
        process is not handling the chat, knows of nothing waiting in it, and has room.
        The chat then counts as busy until `stored` says how it went."""
        if (
            self.stopping
            or not self._settle(chat_id)
            or chat_id in self._known
            or len(self._busy) >= self.max_chats
        ):
            return False
        self._busy[chat_id] = asyncio.get_running_loop().create_future()
        return True

    def when_stored(
        self,
        chat_id: int,
        call: asyncio.Future[tuple[bool, Claimed | None]],
        *,
        reserved: bool,
        update: Update,
    ) -> None:
        """`stored`, once a write whose caller was cancelled has finished."""

        def finished(done: asyncio.Future[tuple[bool, Claimed | None]]) -> None:
            claimed = None if done.cancelled() or done.exception() else done.result()[1]
            task = asyncio.ensure_future(
                self.stored(chat_id, claimed, reserved=reserved, update=update)
            )
            self._late.add(task)
            task.add_done_callback(self._late.discard)

        self._late.add(call)
        call.add_done_callback(self._late.discard)
        call.add_done_callback(finished)

    async def stored(
        self,
        chat_id: int,
        claimed: Claimed | None,
        *,
        reserved: bool,
        update: Update | None = None,
    ) -> None:
        """An update of `chat_id` is in the inbox: handle it at once if it was stored
        claimed, otherwise let the loop claim it."""
        placeholder = self._busy.pop(chat_id, None) if reserved else None
        if placeholder is not None and not placeholder.done():
            placeholder.set_result(False)
        if claimed is None:
            self.wake(chat_id)
            return
        if self.stopping:
            # Stored claimed while the stop began: back to waiting, for the next start.
            await asyncio.to_thread(self.store.release, [claimed])
            return
        self._held[claimed.row_id] = claimed
        self._busy[chat_id] = asyncio.create_task(
            self._handle_chat([replace(claimed, update=update)])
        )

    async def start(self) -> None:
        recovered = await asyncio.to_thread(self.store.recover)
        if recovered:
            log.info("%s updates left claimed by the last run are handled first", recovered)
        self._task = asyncio.create_task(self._loop(), name="mend-inbox")

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while not self.stopping:
            self._wake.clear()
            for chat_id in [chat for chat, task in self._busy.items() if task.done()]:
                self._settle(chat_id)
            room = self.max_chats - len(self._busy)
            rows: list[Claimed] = []
            if room > 0:
                try:
                    if loop.time() >= self._next_scan:
                        self._next_scan = loop.time() + IDLE_POLL
                        found = await asyncio.to_thread(
                            self.store.waiting_chats, frozenset(self._busy), 2 * self.max_chats
                        )
                        for chat_id in found:
                            self._known.setdefault(chat_id, None)
                    chats = [chat for chat in self._known if chat not in self._busy][:room]
                    rows = await asyncio.to_thread(self.store.claim_chats, chats)
                    for chat_id in chats:
                        self._known.pop(chat_id, None)
                except Exception:
                    log.exception("claiming stored updates failed; trying again")
                    await asyncio.sleep(STORE_RETRY)
                    continue
            by_chat: dict[int, list[Claimed]] = defaultdict(list)
            for row in rows:
                self._held[row.row_id] = row
                by_chat[row.chat_id].append(row)
            for chat_id, chat_rows in by_chat.items():
                self._busy[chat_id] = asyncio.create_task(self._handle_chat(chat_rows))
            if rows:
                continue
            await self._maybe_purge()
            waiters: list[asyncio.Future[Any]] = [asyncio.ensure_future(self._wake.wait())]
            waiters += list(self._busy.values())
            await asyncio.wait(waiters, timeout=IDLE_POLL, return_when=asyncio.FIRST_COMPLETED)
            waiters[0].cancel()

    async def _handle_chat(self, rows: list[Claimed]) -> bool:
        """One chat's claimed rows in order; True when the claim was full (more may wait)."""
        for row in rows:
            if self.stopping:
                return False
            await self._handle_one(row)
            self._held.pop(row.row_id, None)
            self.handled += 1
        return len(rows) >= PER_CHAT_CLAIM

    async def _handle_one(self, row: Claimed) -> None:
        claim = Claim(row.row_id, row.claimed_at)
        token = CURRENT_CLAIM.set(claim)
        try:
            if row.payload:
                update = row.update or Update.de_json(json.loads(row.payload), self.application.bot)
                processor = self.application.update_processor
                await processor.process_update(update, self.application.process_update(update))
        except Exception:
            log.exception("stored update %s could not be handled", row.update_id)
        finally:
            CURRENT_CLAIM.reset(token)
        if not claim.done:
            await asyncio.to_thread(self.store.finish, claim)

    async def _maybe_purge(self) -> None:
        now = self.store.clock.now()
        if self._last_purge is not None and now - self._last_purge < PURGE_EVERY:
            return
        self._last_purge = now
        try:
            await asyncio.to_thread(self.store.purge)
        except Exception:
            log.exception("purging handled updates failed")

    async def stop(self, grace: float) -> None:
        """Take no more; let running handlers finish within `grace` seconds; give the rest
        back to the inbox (handled after the next start)."""
        self.stopping = True
        self._wake.set()
        # Updates being written when polling stopped: handed over (given back) first.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while self._late and loop.time() < deadline:
            await asyncio.wait(list(self._late), timeout=deadline - loop.time())
        running: list[asyncio.Future[Any]] = [
            task for task in self._busy.values() if not task.done()
        ]
        if self._task is not None:
            running.append(self._task)
        if running:
            _done, pending = await asyncio.wait(running, timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                log.warning(
                    "%s updates were still being handled at the stop; they run again "
                    "after the next start",
                    len(pending),
                )
                await asyncio.wait(pending, timeout=0.5)
        left = list(self._held.values())
        self._held.clear()
        if left:
            released = await asyncio.to_thread(self.store.release, left)
            log.info("%s claimed updates wait in the inbox for the next start", released)
