"""Carrying out what flows return: the outbox, the timers and the wake-up job.

Every flow runs in one transaction together with the rows for what it asked for:
new timers, and the messages to send (the outbox). Messages go out only after that
commit and are marked sent once Telegram accepted them, so a crash loses nothing;
the price is at-least-once delivery (see the README, "Delivery guarantee").
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, exists, or_, update
from sqlalchemy.exc import IntegrityError
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
from bot.health import HeartbeatWriter
from bot.texts import render, render_keyboard
from flows.couples import couples_of_user, language_of_chat
from flows.models import Couple, Outbox, Partner, Timer
from flows.outcome import (
    CancelTimers,
    EditOrigin,
    Effects,
    Notice,
    Send,
    SendFile,
    SetTimer,
    Text,
    ToGroup,
    ToPartner,
)
from flows.timers import cancel_timers, handle_due, store_timer

log = logging.getLogger(__name__)

TELEGRAM_TEXT_LIMIT = 4096
# A claim older than this is taken back: the process that made it is presumed dead.
TIMER_CLAIM_TIMEOUT = timedelta(minutes=2)
SEND_CLAIM_TIMEOUT = timedelta(minutes=5)
BATCH = 100
MAX_SEND_ATTEMPTS = 8
MAX_TIMER_ATTEMPTS = 5
# Accepted messages of one chat are marked sent together within this many seconds.
MARK_SENT_WITHIN = 0.5
# Delivery: chats sent to side by side, rows of one chat claimed at a time (a group at its
# limit sends 10 a minute, so 10 rows are out well within SEND_CLAIM_TIMEOUT), and how often
# to look for new rows while some chat is still draining.
MAX_CHATS_IN_FLIGHT = 50
PER_CHAT_CLAIM = 10
BUSY_POLL = 0.2
# What was sent is kept only as long as a reply to it may still arrive (a check-in stays
# open 48 hours); then its text is erased, and the row itself goes after a month.
ERASE_SENT_TEXT_AFTER = timedelta(days=3)
DELETE_SENT_AFTER = timedelta(days=30)
PURGE_EVERY = timedelta(hours=1)


@dataclass
class Committed:
    """What a transaction left for after its commit."""

    effects: Effects
    # The messages to send now, as written (not read back: that would cost a query).
    rows: list[Outbox] = field(default_factory=list)
    earliest_timer: datetime | None = None


def split_long(body: str, limit: int = TELEGRAM_TEXT_LIMIT) -> list[str]:
    """Split text over Telegram's limit at line breaks (or hard, for one huge line)."""
    if len(body) <= limit:
        return [body]
    parts: list[str] = []
    current = ""
    for line in body.splitlines(keepends=True):
        while len(line) > limit:
            if current:
                parts.append(current)
                current = ""
            parts.append(line[:limit])
            line = line[limit:]
        if len(current) + len(line) > limit:
            parts.append(current)
            current = ""
        current += line
    if current:
        parts.append(current)
    return [part.strip() for part in parts if part.strip()]


def persist(
    session: Session, effects: Effects, now: datetime, *, claim: bool, late: bool = False
) -> Committed:
    """Store the timers and outbox rows a flow asked for, in the flow's transaction."""
    committed = Committed(effects)
    rows: list[Outbox] = []
    for effect in effects:
        if isinstance(effect, SetTimer):
            store_timer(session, effect, now)
            if committed.earliest_timer is None or effect.due_at < committed.earliest_timer:
                committed.earliest_timer = effect.due_at
        elif isinstance(effect, CancelTimers):
            cancel_timers(session, effect, now)
        elif isinstance(effect, Send):
            rows.extend(_outbox_rows(session, effect, now, claim=claim, late=late))
    session.flush()
    committed.rows = [row for row in rows if row.state != "held"]
    return committed


def _outbox_rows(
    session: Session, send: Send, now: datetime, *, claim: bool, late: bool
) -> list[Outbox]:
    couple: Couple | None = None
    partner: Partner | None = None
    language = "en"
    prefix: list[str] = []
    if isinstance(send.to, ToGroup):
        couple = session.get(Couple, send.to.couple_id)
        if couple is None:
            return []
        chat_id, language = couple.group_chat_id, couple.language
    elif isinstance(send.to, ToPartner):
        partner = session.get(Partner, send.to.partner_id)
        if partner is None:
            return []
        couple = session.get(Couple, partner.couple_id)
        if couple is None:
            return []
        language = partner.language
        if partner.private_open and not partner.private_blocked:
            chat_id = partner.user_id
            if len(couples_of_user(session, partner.user_id)) > 1:
                prefix.append(render(Text("common.about_couple", {"title": couple.title}),
                                     language))
        else:
            chat_id = couple.group_chat_id
            prefix.append(render(Text("common.for_partner", {"name": partner.first_name}),
                                 language))
    else:
        chat_id = send.to.chat_id
        language = send.to.language or language_of_chat(session, chat_id) or language
    if late:
        prefix.append(render(Text("common.late_note"), language))
    body = "\n".join([*prefix, render(send.body, language)])
    markup: str | None = None
    if send.buttons:
        markup = json.dumps({"inline_keyboard": render_keyboard(send.buttons, language)})
    elif send.force_reply:
        markup = json.dumps({"force_reply": True})
    held = couple is not None and not couple.group_reachable and chat_id == couple.group_chat_id
    rows: list[Outbox] = []
    parts = split_long(body)
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        row = Outbox(
            couple_id=couple.id if couple else None,
            partner_id=partner.id if partner else None,
            chat_id=chat_id,
            body=part,
            markup=markup if last else None,
            tag=send.tag if last else None,
            state="held" if held else ("sending" if claim else "pending"),
            claimed_at=now if claim and not held else None,
            created_at=now,
        )
        session.add(row)
        rows.append(row)
    return rows


class Runtime:
    """The runtime around the flows: runs transactions, sends, fires timers."""

    def __init__(self, db: Engine, clock: Clock, *, sweep_seconds: float = 30.0,
                 claim_timeout: timedelta | None = None) -> None:
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
        self._last_purge: datetime | None = None
        self.heartbeat = HeartbeatWriter(db)

    # ---- running flows -------------------------------------------------------------

    async def run(
        self, flow: Callable[[Session, datetime], Effects]
    ) -> Committed:
        """Run a flow in one transaction, store what it asked for, then send it."""

        def transaction() -> Committed:
            with session_scope(self.db) as session:
                now = self.clock.now()
                effects = flow(session, now)
                return persist(session, effects, now, claim=True)

        def transaction_with_retry() -> Committed:
            try:
                return transaction()
            except IntegrityError:
                # Someone else's write won a race on a unique rule (both partners sent
                # /pause at once): run the flow again, so it sees their row and answers
                # as it would have if they had been a second later.
                log.info("a concurrent change won a race; running the flow again")
                return transaction()

        committed = await asyncio.to_thread(transaction_with_retry)
        if committed.rows:
            await self.deliver(committed.rows)
        if committed.earliest_timer is not None:
            self.on_new_timer(committed.earliest_timer)
        return committed

    # ---- sending -------------------------------------------------------------------

    def kick_delivery(self) -> None:
        """Deliver pending outbox rows in the background (one runner at a time)."""
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
        while True:
            self._deliver_again = False
            for chat_id in [chat for chat, task in busy.items() if task.done()]:
                del busy[chat_id]
            room = MAX_CHATS_IN_FLIGHT - len(busy)
            rows = (await asyncio.to_thread(self._claim_outbox, frozenset(busy), room)
                    if room > 0 else [])
            for chat_id, chat_rows in _by_chat(rows).items():
                busy[chat_id] = asyncio.create_task(self._deliver_chat(chat_rows))
            if rows:
                continue
            if busy:
                await asyncio.wait(busy.values(), timeout=BUSY_POLL,
                                   return_when=asyncio.FIRST_COMPLETED)
                continue
            if not self._deliver_again:
                return

    def _claim_outbox(self, skip_chats: frozenset[int] = frozenset(),
                      max_chats: int = BATCH) -> list[Outbox]:
        """Claim pending rows (oldest first) of at most `max_chats` chats not in `skip_chats`,
        at most PER_CHAT_CLAIM of each, so a claim is sent well within its timeout."""
        now = self.clock.now()
        stale = now - self.send_claim_timeout
        claimable = or_(
            (col(Outbox.state) == "pending")
            & or_(col(Outbox.claimed_at).is_(None), col(Outbox.claimed_at) <= now),
            (col(Outbox.state) == "sending") & (col(Outbox.claimed_at) < stale),
        )
        with session_scope(self.db) as session:
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
                    .values(state="sending", claimed_at=now)
                )
                if result.rowcount == 1:  # type: ignore[attr-defined]
                    claimed.append(row_id)
            if not claimed:
                return []
            rows = select(Outbox).where(col(Outbox.id).in_(claimed)).order_by(col(Outbox.id))
            return list(session.exec(rows))

    async def deliver(self, rows: Sequence[Outbox]) -> None:
        """Send claimed rows: in order within a chat, chats side by side."""
        await asyncio.gather(*(self._deliver_chat(chat_rows)
                               for chat_rows in _by_chat(rows).values()))

    async def _deliver_chat(self, rows: list[Outbox]) -> None:
        """One chat's rows in order. Accepted ones are marked sent together, at the latest
        half a second after the first of them (and always before a failure is handled),
        which keeps the window for a duplicate after a crash that short."""
        accepted: list[tuple[int, int]] = []
        first_accepted = 0.0
        loop = asyncio.get_running_loop()
        for row in rows:
            try:
                message_id = await self._send_one(row)
            except TelegramError as exc:
                await self._mark_sent(accepted)
                await self._failed(row, exc)
                continue
            except Exception:
                await self._mark_sent(accepted)
                log.exception("delivery of outbox row %s failed", row.id)
                continue
            if not accepted:
                first_accepted = loop.time()
            accepted.append((row.id or 0, message_id))
            if loop.time() - first_accepted >= MARK_SENT_WITHIN:
                await self._mark_sent(accepted)
        await self._mark_sent(accepted)

    async def _send_one(self, row: Outbox) -> int:
        """Send one row; returns Telegram's message id (a moved group is followed)."""
        assert self.bot is not None, "the runtime has no bot yet"
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

    async def _failed(self, row: Outbox, exc: TelegramError) -> None:
        refused = isinstance(exc, BadRequest)  # PTB makes BadRequest a NetworkError
        if isinstance(exc, Forbidden) or (refused and "chat not found" in str(exc).lower()):
            await asyncio.to_thread(self._unreachable, row)
        elif not refused and isinstance(exc, RetryAfter | NetworkError):
            log.warning("outbox row %s will be retried: %s", row.id, type(exc).__name__)
            await asyncio.to_thread(self._retry_later, row.id)
        else:
            log.error("Telegram refused outbox row %s: %s", row.id, exc)
            await asyncio.to_thread(self._finish, [(row.id or 0, None)], "failed")

    async def _mark_sent(self, accepted: list[tuple[int, int]]) -> None:
        if accepted:
            done = list(accepted)
            accepted.clear()
            await asyncio.to_thread(self._finish, done, "sent")

    def _finish(self, rows: Sequence[tuple[int, int | None]], state: str) -> None:
        now = self.clock.now()
        with session_scope(self.db) as session:
            for row_id, message_id in rows:
                session.execute(
                    update(Outbox)
                    .where(col(Outbox.id) == row_id)
                    .values(state=state, message_id=message_id, sent_at=now)
                )

    def _retry_later(self, row_id: int | None) -> None:
        """Back off: a pending row's `claimed_at` is the moment before which it waits."""
        with session_scope(self.db) as session:
            row = session.get(Outbox, row_id)
            if row is None:
                return
            row.attempts += 1
            row.state = "pending" if row.attempts < MAX_SEND_ATTEMPTS else "failed"
            row.claimed_at = self.clock.now() + retry_backoff(row.attempts)
            session.add(row)

    def _migrate_chat(self, old_chat_id: int, new_chat_id: int) -> None:
        with session_scope(self.db) as session:
            session.execute(
                update(Couple).where(col(Couple.group_chat_id) == old_chat_id)
                .values(group_chat_id=new_chat_id)
            )
            session.execute(
                update(Outbox)
                .where(col(Outbox.chat_id) == old_chat_id, col(Outbox.state) != "sent")
                .values(chat_id=new_chat_id)
            )

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
                    .where(col(Outbox.chat_id) == row.chat_id,
                           col(Outbox.state).in_(["pending", "sending"]))
                    .values(state="held")
                )
                log.warning("group of couple %s is unreachable; holding its messages",
                            couple.id)
                return
            partner = session.get(Partner, row.partner_id) if row.partner_id else None
            stored.state = "failed"
            session.add(stored)
            if partner is None or couple is None:
                return
            partner.private_blocked = True
            session.add(partner)
            fallback = Outbox(
                couple_id=couple.id,
                partner_id=partner.id,
                chat_id=couple.group_chat_id,
                body=render(Text("common.for_partner", {"name": partner.first_name}),
                            partner.language) + "\n" + row.body,
                markup=row.markup,
                tag=row.tag,
                state="held" if not couple.group_reachable else "pending",
                created_at=self.clock.now(),
            )
            session.add(fallback)
            log.info("partner %s blocked the bot in private; writing to the group", partner.id)
        self.kick_delivery()

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
        """Erase the text of messages sent long ago; delete rows older than a month."""
        now = self.clock.now()
        with session_scope(self.db) as session:
            session.execute(
                update(Outbox)
                .where(col(Outbox.state).in_(["sent", "failed"]),
                       col(Outbox.created_at) < now - ERASE_SENT_TEXT_AFTER,
                       col(Outbox.body) != "")
                .values(body="", markup=None)
            )
            session.execute(
                delete(Outbox).where(col(Outbox.state).in_(["sent", "failed"]),
                                     col(Outbox.created_at) < now - DELETE_SENT_AFTER)
            )

    async def fire_due(self) -> int:
        """Claim due timers in batches and handle each in its own transaction."""
        handled = 0
        while True:
            claims = await asyncio.to_thread(self._claim_timers)
            if not claims:
                return handled
            for timer_id, claimed_at in claims:
                earliest = await asyncio.to_thread(self._handle_timer, timer_id, claimed_at)
                if earliest is not None:
                    self.on_new_timer(earliest)
                handled += 1
            self.kick_delivery()

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
        reachable = exists().where(col(Couple.id) == col(Timer.couple_id),
                                   col(Couple.group_reachable))
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
                    .where(col(Timer.id) == timer_id, col(Timer.state) == "claimed",
                           col(Timer.claimed_at) == claimed_at)
                    .values(state=state, finished_at=now)
                )
                if finished.rowcount != 1:  # type: ignore[attr-defined]
                    raise _LostClaim
        except _LostClaim:
            return None
        except Exception:
            log.exception("timer %s failed; it will be retried after the claim timeout",
                          timer_id)
            self._give_up_if_exhausted(timer_id)
            return None
        return committed.earliest_timer

    def _give_up_if_exhausted(self, timer_id: int) -> None:
        with session_scope(self.db) as session:
            timer = session.get(Timer, timer_id)
            if timer is not None and timer.attempts >= MAX_TIMER_ATTEMPTS:
                timer.state = "failed"
                timer.finished_at = self.clock.now()
                session.add(timer)

    def earliest_pending(self) -> datetime | None:
        """The next due time a sweep could act on (timers of a group without the bot wait)."""
        reachable = exists().where(col(Couple.id) == col(Timer.couple_id),
                                   col(Couple.group_reachable))
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

