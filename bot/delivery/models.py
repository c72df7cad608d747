"""The delivery layer's tables: the outbox and the timers, and their states.

Only the delivery layer writes these rows (flows return effects; bot/runtime.py and
bot/delivery/ carry them out). States are `StrEnum`s stored as the same plain strings
as before (no migration): the column stays a string, so rows read back compare equal
to the members, and the type checker catches a misspelt state in new code.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Column, Index
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import AutoString, Field, SQLModel

from flows.models import big_id, secret_text, utc_column


class Stored(TypeDecorator[StrEnum]):
    """A state column: the same string column as ever, read back as its `StrEnum`."""

    impl = AutoString
    cache_ok = True

    def __init__(self, states: type[StrEnum]) -> None:
        super().__init__()
        self.states = states

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else str(self.states(value))

    def process_result_value(self, value: Any, dialect: Dialect) -> StrEnum | None:
        return None if value is None else self.states(value)


class TimerState(StrEnum):
    """pending -> claimed -> done | skipped | missed | cancelled (| failed after retries)."""

    PENDING = "pending"
    CLAIMED = "claimed"
    DONE = "done"
    SKIPPED = "skipped"
    MISSED = "missed"
    CANCELLED = "cancelled"
    FAILED = "failed"


class OutboxState(StrEnum):
    """pending -> sending -> sent | failed; held while the group is unreachable; waiting
    (private-only) until the partner opens or unblocks the private chat."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    HELD = "held"
    WAITING = "waiting"


class OutboxKind(StrEnum):
    """A new message, or an edit of the bot's message `message_id` (a pressed button's
    message), so edits wait on the chat's rate limit like any message."""

    SEND = "send"
    EDIT_TEXT = "edit_text"
    EDIT_MARKUP = "edit_markup"


class Timer(SQLModel, table=True):
    """A durable promise to do something later: the database, not memory, holds it."""

    __table_args__ = (Index("ix_timer_state_due", "state", "due_at"),)

    id: int | None = Field(default=None, primary_key=True)
    couple_id: int = Field(foreign_key="couple.id", index=True)
    kind: str
    ref: str | None = Field(default=None, index=True)
    due_at: datetime = utc_column()
    payload: str = "{}"
    state: TimerState = Field(default=TimerState.PENDING, sa_type=Stored(TimerState))
    attempts: int = 0
    claimed_at: datetime | None = utc_column(nullable=True)
    created_at: datetime = utc_column()
    finished_at: datetime | None = utc_column(nullable=True)


class Outbox(SQLModel, table=True):
    """A rendered message waiting to be delivered, so a crash loses no message.

    Written in the same transaction as the change that caused it; marked sent once
    Telegram has accepted it.
    """

    __table_args__ = (
        Index("ix_outbox_state_id", "state", "id"),
        Index("ix_outbox_chat_message", "chat_id", "message_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    couple_id: int | None = Field(default=None, index=True)
    partner_id: int | None = None
    chat_id: int = big_id()
    body: str = secret_text()
    markup: str | None = None
    kind: OutboxKind = Field(default=OutboxKind.SEND, sa_type=Stored(OutboxKind))
    tag: str | None = Field(default=None, index=True)
    # The catalogue key of the message: logs and counts name it, never the text.
    key: str | None = None
    # Meant for one partner only: it waits for their private chat, never goes to the group.
    private_only: bool = False
    # A simpler text sent instead if Telegram refuses this one (the message carried the
    # couple's state: a reveal, a return time).
    fallback: str | None = secret_text(nullable=True)
    state: OutboxState = Field(default=OutboxState.PENDING, sa_type=Stored(OutboxState))
    attempts: int = 0
    claimed_at: datetime | None = utc_column(nullable=True)
    created_at: datetime = utc_column()
    sent_at: datetime | None = utc_column(nullable=True)
    message_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
