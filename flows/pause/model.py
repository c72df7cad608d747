"""The pause table, its states and the names it is stored and pressed under."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, Session, SQLModel, select

from flows.models import utc_column

START = "pzs"  # the duration buttons of a bare /pause; target: the couple
PAUSE = "pz"  # everything pressed about one pause; target: the pause
SOFT_RESTART = "sr"  # "a soft restart" under "you're both back" (flows/restart.py)

# Reply tag of the duration question, so a length typed in reply starts the break.
LENGTH_TAG = "pause-length"
RETURN_KIND = "pause.return"
NO_ANSWER_KIND = "pause.no_answer"
# A break's questions, named so they can be tidied once answered some other way (or moot):
# "is that return time OK?", a counter-proposal, "ready to come back?", "ready early?".
STARTED_STEP, PROPOSED_STEP, READY_STEP, EARLY_STEP = (
    "pause.started",
    "pause.proposed",
    "pause.ready",
    "pause.early",
)


class PauseState(StrEnum):
    """Pause.state while it runs; `ended` once it is over (see Pause.outcome)."""

    WAITING = "waiting"  # asked, the other partner has not agreed yet
    PROPOSED = "proposed"  # the other partner proposed another return time
    AGREED = "agreed"
    ASKING = "asking"  # "ready to come back?" has been asked
    ENDED = "ended"


RUNNING = (PauseState.WAITING, PauseState.PROPOSED, PauseState.AGREED, PauseState.ASKING)


class Outcome(StrEnum):
    """Pause.outcome: how it ended, as /pauses tells it."""

    ON_TIME = "on_time"
    LATER = "later"
    EARLY = "early"
    NOT_RETURNED = "not_returned"
    OFFLINE = "offline"  # the return fell due while Mend was down for too long
    CLOSED = "closed"  # a partner left Mend during the break


class Pause(SQLModel, table=True):
    """One break: who asked, when it started, and the return time the couple keeps."""

    id: int | None = Field(default=None, primary_key=True)
    couple_id: int = Field(foreign_key="couple.id", index=True)
    # Set to couple_id while the pause runs, NULL once it ended: the unique index makes
    # "one active pause per couple" hold even when both partners send /pause at once.
    active_couple_id: int | None = Field(default=None, unique=True)
    asked_by: int
    other_id: int
    started_at: datetime = utc_column()
    # The return time agreed (or asked, until someone agrees), before any extension.
    agreed_return_at: datetime = utc_column()
    # The return time in force now: the agreed one plus extensions.
    return_at: datetime = utc_column()
    proposed_return_at: datetime | None = utc_column(nullable=True)
    agreed_at: datetime | None = utc_column(nullable=True)
    # A PauseState, stored as its string (a plain VARCHAR column, no database enum).
    state: str = PauseState.WAITING
    asker_ready: bool = False
    other_ready: bool = False
    extensions: int = 0
    ended_at: datetime | None = utc_column(nullable=True)
    ended_by: int | None = None
    # An Outcome once ended, stored as its string.
    outcome: str | None = None
    # The counselling pointer went out with this break's close (at most once a month).
    counsel_offered: bool = False


def active_pause(session: Session, couple_id: int) -> Pause | None:
    return session.exec(select(Pause).where(Pause.active_couple_id == couple_id)).first()


def couple_is_pausing(session: Session, couple_id: int, now: datetime) -> bool:
    """Promise nudges and other reminders stay quiet while the couple is in a break."""
    return active_pause(session, couple_id) is not None


def end(row: Pause, outcome: Outcome, by: int | None, now: datetime) -> None:
    """The break is over: it no longer counts as the couple's active pause."""
    row.state = PauseState.ENDED
    row.outcome = outcome
    row.ended_at = now
    row.ended_by = by
    row.active_couple_id = None
    row.proposed_return_at = None


def ref(pause: Pause) -> str:
    """The reference its timers carry, to cancel them together."""
    return f"pause:{pause.id}"
