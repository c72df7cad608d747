"""The promise tables, their states, and how promises are found."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, Session, SQLModel, col, func, select

from flows.couples import Actor, partners_of
from flows.models import Couple, Partner, secret_text, utc_column
from flows.outcome import CancelTimers, Effects

# Small and few (product.md): the default for PROMISE_CAP.
DEFAULT_CAP = 3
# A promise is one sentence; longer text is refused with this limit named.
MAX_WHAT = 200

# A private message without a reply still counts as new wording for this long.
WORDS_WINDOW = timedelta(minutes=30)

# Button kinds (short: payloads stay under 64 bytes).
WHEN = "pw"  # choosing when: target promise, action a schedule.WHEN_CHOICES key
ANSWER = "pk"  # kept?: target check, action kept | not | change
NOTICED = "pn"  # "I noticed": target check
CHANGE = "pc"  # change menu: target promise, action words | when | keep | drop

# Reply tag of "What will you promise?" (a bare /promise): promise-new:<partner>:<cap>.
NEW_TAG = "promise-new"
# A draft's "when?" buttons, named so a newer question can tidy them (`flow._left_behind`).
WHEN_STEP = "promises.when"
NUDGE_KIND = "promise.nudge"
ASK_KIND = "promise.ask"


class PromiseState(StrEnum):
    """Promise.state: draft (waiting for "when") -> active -> kept | dropped | ended;
    or draft -> expired."""

    DRAFT = "draft"
    ACTIVE = "active"
    KEPT = "kept"
    DROPPED = "dropped"
    ENDED = "ended"
    EXPIRED = "expired"


class CheckOutcome(StrEnum):
    """PromiseCheck.outcome: asked -> kept | not_kept (an unanswered question stays asked)."""

    ASKED = "asked"
    KEPT = "kept"
    NOT_KEPT = "not_kept"


class Promise(SQLModel, table=True):
    """One small promise by one partner (the promiser) to the other."""

    id: int | None = Field(default=None, primary_key=True)
    couple_id: int = Field(foreign_key="couple.id", index=True)
    partner_id: int = Field(index=True)
    # Per couple and stable, so "/drop 3" always means the same promise.
    number: int = 0
    what: str = secret_text()
    # A PromiseState, stored as its string.
    state: str = Field(default=PromiseState.DRAFT, index=True)
    repeat: str | None = None
    weekday: int | None = None
    due_on: date | None = None
    remind_at: str = "09:00"
    # Bumped on every schedule change: timers carry it and ignore themselves when stale.
    version: int = 0
    misses_in_row: int = 0
    # "words" or "when" while the promiser is changing it.
    editing: str | None = None
    editing_since: datetime | None = utc_column(nullable=True)
    created_at: datetime = utc_column()
    ended_at: datetime | None = utc_column(nullable=True)


class PromiseCheck(SQLModel, table=True):
    """One "kept?" question about one day of a promise, and how it went."""

    __table_args__ = (UniqueConstraint("promise_id", "day", name="uq_promisecheck_day"),)

    id: int | None = Field(default=None, primary_key=True)
    promise_id: int = Field(foreign_key="promise.id", index=True)
    couple_id: int = Field(foreign_key="couple.id", index=True)
    day: date
    asked_at: datetime = utc_column()
    # A CheckOutcome, stored as its string.
    outcome: str = CheckOutcome.ASKED
    answered_at: datetime | None = utc_column(nullable=True)
    noticed_at: datetime | None = utc_column(nullable=True)


def ref(promise: Promise) -> str:
    """The reference its timers carry, to cancel them together."""
    return f"promise:{promise.id}"


@dataclass(frozen=True)
class FollowThrough:
    week_kept: int
    week_asked: int
    month_kept: int
    month_asked: int


def follow_through(
    session: Session, promise: Promise, zone: ZoneInfo, now: datetime
) -> FollowThrough:
    """Kept out of asked: this week (Monday on, the promiser's calendar) and the last 28 days.

    An unanswered question counts as asked and not kept: the number is what happened, not
    what was reported.
    """
    today = now.astimezone(zone).date()
    week_start = today - timedelta(days=today.weekday())
    month_start = today - timedelta(days=27)
    query = select(PromiseCheck).where(
        PromiseCheck.promise_id == promise.id,
        col(PromiseCheck.day) >= min(week_start, month_start),
        col(PromiseCheck.day) <= today,
    )
    checks = list(session.exec(query))
    week = [check for check in checks if check.day >= week_start]
    month = [check for check in checks if check.day >= month_start]
    return FollowThrough(
        week_kept=sum(check.outcome == CheckOutcome.KEPT for check in week),
        week_asked=len(week),
        month_kept=sum(check.outcome == CheckOutcome.KEPT for check in month),
        month_asked=len(month),
    )


def active_promises(
    session: Session, couple_id: int, partner_id: int | None = None
) -> list[Promise]:
    query = select(Promise).where(
        Promise.couple_id == couple_id, Promise.state == PromiseState.ACTIVE
    )
    if partner_id is not None:
        query = query.where(Promise.partner_id == partner_id)
    return list(session.exec(query.order_by(col(Promise.number))))


def next_number(session: Session, couple_id: int) -> int:
    query = select(func.max(Promise.number)).where(Promise.couple_id == couple_id)
    return int(session.exec(query).one() or 0) + 1


def promiser_pressing(
    session: Session, actor: Actor, promise: Promise | None
) -> tuple[Couple, Partner] | None:
    """The promise's couple and promiser when `actor` is that promiser, pressing in a chat
    the bot wrote to them (the couple's group or their own private chat)."""
    if promise is None:
        return None
    partner = session.get(Partner, promise.partner_id)
    couple = session.get(Couple, promise.couple_id)
    if partner is None or couple is None or partner.couple_id != couple.id:
        return None
    if partner.user_id != actor.user_id:
        return None
    if actor.chat_id not in {couple.group_chat_id, partner.user_id}:
        return None
    return couple, partner


def couple_chats(session: Session, promise: Promise) -> set[int]:
    couple = session.get(Couple, promise.couple_id)
    if couple is None:
        return set()
    partners = partners_of(session, couple.id or 0)
    return {couple.group_chat_id, *(partner.user_id for partner in partners)}


def end_promise(
    promise: Promise, now: datetime, state: PromiseState = PromiseState.DROPPED
) -> Effects:
    """The promise is over: it leaves the list, and its timers go."""
    promise.state, promise.ended_at = state, now
    promise.editing, promise.editing_since = None, None
    return [CancelTimers(promise.couple_id, ref=ref(promise))]
