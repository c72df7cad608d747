"""The inbox table: every update is stored before it counts as received.

`InboxStore` stores updates once (claimed at once when nothing of their chat waits),
claims them chat by chat (one process per chat at a time), marks them done, gives them back
and purges them. The flow that an update causes marks its row done in its own transaction
(`finish_in`), which also erases the payload. What runs in the process around it, the
queue polling writes to and the drainer that hands rows to PTB's handlers, is
bot/drainer.py.
"""

from __future__ import annotations

import contextlib
import logging
from collections import defaultdict
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, Table, delete, exists, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import aliased
from sqlmodel import Session, col
from telegram import Update

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
# Handled rows (payload already erased) are kept this long to recognise a redelivery.
KEEP_DONE = timedelta(days=2)


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
