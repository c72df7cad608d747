"""The rows every feature shares: couples and partners (and the inbox and heartbeat).

Feature tables (pauses, check-ins, promises, repairs) live beside their flows; the
outbox and the timers belong to the delivery layer (bot/delivery/models.py).
All times are stored in UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Index
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from flows.secret import SecretText

# A group holding only the couple and the bot.
COUPLE_AND_MEND = 3


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, hands back aware UTC (SQLite keeps no zone of its own)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc_column(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(sa_type=UTCDateTime, nullable=nullable, index=index)


def big_id(*, index: bool = False, unique: bool = False, nullable: bool = False) -> Any:
    return Field(sa_type=BigInteger, index=index, unique=unique, nullable=nullable)


def secret_text(*, nullable: bool = False) -> Any:
    return Field(sa_type=SecretText, nullable=nullable)


class Couple(SQLModel, table=True):
    """One group chat with the bot, and the two people in it once both tapped "I'm in"."""

    id: int | None = Field(default=None, primary_key=True)
    group_chat_id: int = big_id(unique=True)
    title: str = ""
    timezone: str = "UTC"
    language: str = "en"
    # False while the bot is out of the group: its timers wait, nothing is lost.
    group_reachable: bool = True
    # Members of the group as Telegram counts them (the bot included), refreshed at /start
    # and when someone joins or leaves; None until first known. See `others_present`.
    member_count: int | None = None
    created_at: datetime = utc_column()
    formed_at: datetime | None = utc_column(nullable=True)
    # True from forming until a partner confirms or changes the zone: nothing weekly is
    # planned in a zone nobody chose.
    zone_pending: bool = False

    @property
    def others_present(self) -> bool:
        """Anyone besides the two partners (and Mend) is in the group: a third person,
        another bot. Private things then go to the partners' private chats."""
        return self.member_count is not None and self.member_count > COUPLE_AND_MEND


class Partner(SQLModel, table=True):
    """A person in a couple. A person may be a partner in more than one couple."""

    id: int | None = Field(default=None, primary_key=True)
    couple_id: int = Field(foreign_key="couple.id", index=True)
    user_id: int = big_id(index=True)
    first_name: str = ""
    timezone: str | None = None
    language: str = "en"
    # The partner opened a private chat with the bot (so it may write there).
    private_open: bool = False
    # Telegram answered 403 in private: write to the group until they open the chat again.
    private_blocked: bool = False
    joined_at: datetime = utc_column()
    last_active_at: datetime = utc_column()


class Heartbeat(SQLModel, table=True):
    """When a running bot's sweep last came round, one row per host (`mend check --running`)."""

    host: str = Field(primary_key=True)
    beat_at: datetime = utc_column()


class Inbox(SQLModel, table=True):
    """An update from Telegram, stored before it counts as received.

    Written before the polling offset moves past it (or before the webhook answers 200);
    marked done in the same transaction as the flow it caused, and its payload erased then.
    Rows of one chat are handled in order, by one process at a time.
    """

    __table_args__ = (Index("ix_inbox_state_chat_update", "state", "chat_id", "update_id"),)

    id: int | None = Field(default=None, primary_key=True)
    update_id: int = big_id(unique=True)
    chat_id: int = big_id()
    # The update as Telegram sent it (JSON), encrypted with DATA_KEY; NULL once handled.
    payload: str | None = secret_text(nullable=True)
    # pending -> claimed -> done
    state: str = "pending"
    claimed_at: datetime | None = utc_column(nullable=True)
    received_at: datetime = utc_column()
    done_at: datetime | None = utc_column(nullable=True, index=True)
