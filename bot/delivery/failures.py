"""What happens when Telegram does not take an outbox row.

A private chat that refuses falls back to the group (or, for a message meant for one
partner alone, waits for the private chat); a group that refuses holds its mail; a refused
message (a 400, a bug on our side) is marked failed and its simpler fallback text sent; a
network error or a rate limit is tried again later, backing off. `Sender` (sender.py) calls
`_failed`; the rows these write go out through the same delivery.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Engine, update
from sqlmodel import col
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from bot.clock import Clock
from bot.db import session_scope
from bot.delivery.models import Outbox, OutboxState
from bot.delivery.outbox import _tell_group_something_waits, persist
from bot.texts import render
from flows.models import Couple, Partner
from flows.onboarding import migrate_chat
from flows.outcome import Text

log = logging.getLogger(__name__)

MAX_SEND_ATTEMPTS = 8


class Failures:
    """The failure half of sending (a mixin of `Runtime`, through `Sender`)."""

    db: Engine
    clock: Clock
    refused: Counter[str]

    if TYPE_CHECKING:

        def kick_delivery(self) -> None: ...

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


def retry_backoff(attempts: int) -> timedelta:
    """10 s, 20 s, 40 s … up to 10 minutes: a network blip costs no message."""
    return timedelta(seconds=min(10 * 2 ** (attempts - 1), 600))
