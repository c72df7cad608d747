"""Sending the outbox: claiming rows, delivering them per chat in order, marking them sent.

Rows a flow just wrote are sent at once behind the caller (`deliver_soon`), in order per
chat; rows left pending (a retry, a fallback, a restart) are claimed by the delivery loop
(`kick_delivery`). A row is marked sent once Telegram accepted it; a question is marked at
once, and text typed in its chat waits for that mark (`questions_marked`). What happens
when Telegram refuses is failures.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, Table, bindparam, or_, type_coerce, update
from sqlalchemy import Text as SAText
from sqlmodel import Session, col, select
from telegram import Bot
from telegram.error import BadRequest, ChatMigrated, TelegramError
from telegram.warnings import PTBUserWarning

from bot.clock import Clock
from bot.db import connection_scope, session_scope
from bot.delivery.failures import MAX_SEND_ATTEMPTS, Failures
from bot.delivery.models import Outbox
from flows.outcome import takes_replies
from flows.secret import DataKeyError, unseal

log = logging.getLogger(__name__)

# Called by the rate limiter when the request of the row being sent leaves for Telegram.
REQUEST_GOES_OUT: ContextVar[Callable[[], object] | None] = ContextVar(
    "mend_request_goes_out", default=None
)

# A claim older than this is taken back: the process that made it is presumed dead.
SEND_CLAIM_TIMEOUT = timedelta(minutes=5)
BATCH = 100
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


OUTBOX: Table = Outbox.__table__  # type: ignore[attr-defined]

# Sending goes through `Bot.do_api_request` on purpose (`Sender._call`); PTB suggests its own
# wrapper of these methods on every such call.
warnings.filterwarnings(
    "ignore",
    message=r"Please use 'Bot\.(sendMessage|editMessageText|editMessageReplyMarkup)'",
    category=PTBUserWarning,
)


class _GoingOut:
    """One row on its way: told when the request leaves (after any rate limit), and settled
    once the row is marked; a question counts in `Sender._asking` in between."""

    def __init__(self, runtime: Sender, row_id: int, asking_chat: int | None) -> None:
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


class Sender(Failures):
    """Claims and sends outbox rows (a mixin of `Runtime`; its state is set there)."""

    db: Engine
    clock: Clock
    bot: Bot | None
    is_postgres: bool
    send_claim_timeout: timedelta
    stopping: bool
    delivered: int
    limiter_reports_requests: bool
    _deliver_task: asyncio.Task[None] | None
    _deliver_again: bool
    _unsent: dict[int, Outbox]
    _asking: Counter[int]
    _question_marked: asyncio.Event
    _chat_tails: dict[int, asyncio.Task[None]]

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
            if not candidates:
                return []
            # One statement for the batch (it was one per row): still only rows that are
            # claimable at this moment, and RETURNING says which.
            claimed = sorted(
                session.execute(
                    update(OUTBOX)
                    .where(OUTBOX.c.id.in_(candidates), claimable)
                    .values(state="sending", claimed_at=now, attempts=OUTBOX.c.attempts + 1)
                    .returning(OUTBOX.c.id)
                ).scalars()
            )
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
        try:
            message = await self._call("sendMessage", row.chat_id, text=row.body, markup=row.markup)
        except ChatMigrated as exc:
            await asyncio.to_thread(self._migrate_chat, row.chat_id, exc.new_chat_id)
            row.chat_id = exc.new_chat_id
            return await self._send_one(row)
        self.delivered += 1
        return int(message["message_id"])

    async def _call(
        self, endpoint: str, chat_id: int, *, markup: str | None, **params: object
    ) -> Any:
        """One Bot API call, through PTB's request path (the rate limiter, errors as
        `TelegramError`s), with the stored keyboard as the JSON it already is, and the
        answer left as JSON: only a message id is read from it, and parsing each answer
        into PTB's objects cost more than the rest of sending."""
        assert self.bot is not None
        api_kwargs: dict[str, Any] = {"chat_id": chat_id, **params}
        if markup is not None:
            api_kwargs["reply_markup"] = markup
        return await self.bot.do_api_request(endpoint, api_kwargs=api_kwargs)

    async def _edit_one(self, row: Outbox) -> int:
        """Edit the bot's message `row.message_id` (a pressed button's, or a tidied step's)."""
        assert self.bot is not None
        if row.message_id is None:
            # A step tidied while its message was on its way: by now (this row comes after
            # it in the chat's order) Telegram has it, or it never arrived.
            row.message_id = await asyncio.to_thread(self._sent_message_id, row.chat_id, row.tag)
            if row.message_id is None:
                raise _NothingToEdit
        try:
            if row.kind == "edit_text":
                await self._call(
                    "editMessageText",
                    row.chat_id,
                    message_id=row.message_id,
                    text=row.body,
                    markup=row.markup,
                )
            else:
                await self._call(
                    "editMessageReplyMarkup",
                    row.chat_id,
                    message_id=row.message_id,
                    markup=row.markup,
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
        with connection_scope(self.db) as connection:
            connection.execute(
                statement,
                [{"row_id": row_id, "new_message_id": message_id} for row_id, message_id in rows],
            )


def _by_chat(rows: Sequence[Outbox]) -> dict[int, list[Outbox]]:
    by_chat: dict[int, list[Outbox]] = defaultdict(list)
    for row in rows:
        by_chat[row.chat_id].append(row)
    return by_chat


class _NothingToEdit(Exception):
    """The message an edit row names is not there (deleted in Telegram, or never sent)."""
