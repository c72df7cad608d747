"""Around the inbox table, in the process: the door updates come in by, and the drainer.

Polling and the webhook only write to the inbox (`InboxQueue.put`, awaited by PTB's Updater
before it asks Telegram for the next batch, which is what acknowledges the last one; and by
the webhook handler before it answers 200). `InboxDrainer` hands stored rows to PTB's
handlers through `ChatOrderedProcessor`: updates of different chats run side by side,
updates of one chat one after another, in update_id order, by one process at a time.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from collections.abc import Awaitable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from telegram import Update
from telegram.ext import Application, BaseUpdateProcessor

from bot.inbox import CURRENT_CLAIM, PER_CHAT_CLAIM, Claim, Claimed, InboxStore, chat_key

log = logging.getLogger(__name__)

# How often to look for rows other processes stored (a process's own wake it at once).
IDLE_POLL = 1.0
PURGE_EVERY = timedelta(hours=1)
STORE_RETRY = 0.5


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
