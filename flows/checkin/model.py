"""The check-in tables, their states, the names they are stored and pressed under, and
how a check-in and its answers are found."""

from __future__ import annotations

from datetime import datetime, time
from enum import StrEnum

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, Session, SQLModel, col, select

from flows.models import Partner, secret_text, utc_column
from flows.outcome import tidy_tag

# The four questions, in order (texts `checkin.q1` … `checkin.q4`).
CARE, HARDER, CLOSE, DIFFERENTLY = 1, 2, 3, 4
QUESTIONS = (CARE, HARDER, CLOSE, DIFFERENTLY)
MAX_ANSWER = 1000

DEFAULT_WEEKDAY = 6  # Sunday (Monday is 0)
DEFAULT_AT = time(19, 0)

START, RESUME, REMIND, CLOSE_KIND = (
    "checkin.start",
    "checkin.resume",
    "checkin.remind",
    "checkin.close",
)
# Button kinds: the check-in itself (snooze / skip), one question (pass / edit), a promise.
KIND_CHECKIN, KIND_QUESTION, KIND_PROMISE = "ci", "ciq", "cip"
# Sharing one's own answers after a check-in closed with only one partner's answers.
KIND_SHARE = "cis"
KIND_TIME = "cit"  # "sunday evening": the times to choose from; target: the couple
# The buttons under a bare /checkin: start now, move (asks for a day and time), off / on.
KIND_MENU = "cim"
MOVE_TAG = "checkin-move"
TAG_PREFIX = "checkin"


class CheckinState(StrEnum):
    """Checkin.state: open | snoozed -> done | partly | skipped | missed | stopped | held."""

    OPEN = "open"
    SNOOZED = "snoozed"
    DONE = "done"
    PARTLY = "partly"
    SKIPPED = "skipped"
    MISSED = "missed"
    STOPPED = "stopped"
    # Closed with only one partner's answers: those stay private unless their author shares
    # them.
    HELD = "held"


ANSWERABLE = (CheckinState.OPEN, CheckinState.SNOOZED)
SHARED = (CheckinState.DONE, CheckinState.PARTLY)


class PromiseWish(StrEnum):
    """CheckinAnswer.promise_state: nothing yet, wanted as a promise before promises
    existed, or offered as one."""

    NONE = ""
    WANTED = "wanted"
    OFFERED = "offered"


class CheckinSchedule(SQLModel, table=True):
    """When a couple's weekly check-in happens, in their own wall-clock time."""

    __tablename__ = "checkin_schedule"

    id: int | None = Field(default=None, primary_key=True)
    couple_id: int = Field(foreign_key="couple.id", index=True, unique=True)
    weekday: int = DEFAULT_WEEKDAY  # Monday is 0
    at: str = DEFAULT_AT.strftime("%H:%M")
    active: bool = True
    updated_at: datetime = utc_column()

    @property
    def at_time(self) -> time:
        return time.fromisoformat(self.at)


class Checkin(SQLModel, table=True):
    """One week's check-in and how it ended."""

    __tablename__ = "checkin"

    id: int | None = Field(default=None, primary_key=True)
    couple_id: int = Field(foreign_key="couple.id", index=True)
    # When it was meant to happen: its week for the streak, its time of day for a snooze.
    planned_at: datetime = utc_column()
    started_at: datetime = utc_column()
    # A CheckinState, stored as its string.
    state: str = CheckinState.OPEN
    snoozed: bool = False
    closed_at: datetime | None = utc_column(nullable=True)


class CheckinTurn(SQLModel, table=True):
    """One partner's way through the questions of one check-in."""

    __tablename__ = "checkin_turn"
    __table_args__ = (UniqueConstraint("checkin_id", "partner_id"),)

    id: int | None = Field(default=None, primary_key=True)
    checkin_id: int = Field(foreign_key="checkin.id", index=True)
    partner_id: int
    # The question waiting for this partner's answer (0: none).
    asking: int = 0
    asked_at: datetime | None = utc_column(nullable=True)
    reminded: bool = False
    finished_at: datetime | None = utc_column(nullable=True)


class CheckinAnswer(SQLModel, table=True):
    """One answer; `answer` is None when the partner skipped that question."""

    __tablename__ = "checkin_answer"
    __table_args__ = (UniqueConstraint("checkin_id", "partner_id", "question"),)

    id: int | None = Field(default=None, primary_key=True)
    checkin_id: int = Field(foreign_key="checkin.id", index=True)
    partner_id: int
    question: int
    answer: str | None = secret_text(nullable=True)
    answered_at: datetime = utc_column()
    # A PromiseWish, stored as its string.
    promise_state: str = PromiseWish.NONE


def schedule_of(session: Session, couple_id: int) -> CheckinSchedule | None:
    query = select(CheckinSchedule).where(CheckinSchedule.couple_id == couple_id)
    return session.exec(query).first()


def schedule_ref(couple_id: int) -> str:
    return f"checkin-week:{couple_id}"


def unfinished(session: Session, couple_id: int) -> list[Checkin]:
    query = select(Checkin).where(
        Checkin.couple_id == couple_id, col(Checkin.state).in_(ANSWERABLE)
    )
    return list(session.exec(query.order_by(col(Checkin.started_at).desc())))


def turn_of(
    session: Session, checkin_id: int, partner_id: int, *, fresh: bool = False
) -> CheckinTurn | None:
    """One partner's turn; `fresh` reads it from the database even if this session has it."""
    query = select(CheckinTurn).where(
        CheckinTurn.checkin_id == checkin_id, CheckinTurn.partner_id == partner_id
    )
    if fresh:
        query = query.execution_options(populate_existing=True)
    return session.exec(query).first()


def really_answered(answers: list[CheckinAnswer]) -> set[int]:
    """Partners with at least one real answer: a skipped question is not an answer, so a
    partner who only tapped "Skip this question" does not unlock the other's answers."""
    return {row.partner_id for row in answers if row.answer}


def answers_of(session: Session, checkin_id: int) -> list[CheckinAnswer]:
    query = select(CheckinAnswer).where(CheckinAnswer.checkin_id == checkin_id)
    return list(session.exec(query.order_by(col(CheckinAnswer.question))))


def checkin_ref(checkin: Checkin) -> str:
    return f"checkin:{checkin.id}"


def opening_tag(checkin_row: Checkin) -> str:
    return tidy_tag("checkin.opening", checkin_row.id or 0)


def waiting_tag(checkin_row: Checkin, partner_id: int) -> str:
    return tidy_tag("checkin.waiting", checkin_row.id or 0, partner_id)


def last_shared(session: Session, couple_id: int) -> Checkin | None:
    query = (
        select(Checkin)
        .where(Checkin.couple_id == couple_id, col(Checkin.state).in_(SHARED))
        .order_by(col(Checkin.planned_at).desc())
    )
    return session.exec(query).first()


def carried_care(session: Session, previous: Checkin | None, partner: Partner) -> str | None:
    """What this partner said still needed care last time (it was shared then)."""
    if previous is None:
        return None
    query = select(CheckinAnswer).where(
        CheckinAnswer.checkin_id == previous.id,
        CheckinAnswer.partner_id == partner.id,
        CheckinAnswer.question == CARE,
    )
    found = session.exec(query).first()
    return found.answer if found is not None else None


def has_private_chat(partner: Partner) -> bool:
    return partner.private_open and not partner.private_blocked


def question_tag(checkin_row: Checkin, partner_id: int, question: int) -> str:
    return f"{TAG_PREFIX}:{checkin_row.id}:{partner_id}:{question}"


def parse_question_tag(tag: str | None) -> tuple[int, int, int] | None:
    if tag is None or not tag.startswith(TAG_PREFIX + ":"):
        return None
    parts = tag.split(":")
    if len(parts) != 4 or not all(part.isdigit() for part in parts[1:]):
        return None
    return int(parts[1]), int(parts[2]), int(parts[3])
