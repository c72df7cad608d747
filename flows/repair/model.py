"""The repair table, its states, and how a repair in progress is found."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, Session, SQLModel, col, select

from flows.couples import couples_of_user
from flows.models import secret_text, utc_column

KIND = "rp"
CHOOSE = "rpc"  # apologise or say what hurt; target: the partner who sent /repair
ANSWER = "rpa"  # the receiver's answer under a posted repair; target: the repair
ANSWERS = ("thanks", "time", "talk")
TAG = "repair"
STEPS = ("ownership", "impact", "change", "need")
# One answer is a sentence or two; a wall of text is not what the other partner should get.
MAX_ANSWER = 600
# Words that stop the repair when sent as an answer (group replies cannot carry a button),
# and, sent as the last answer, use Mend's own wording for the closing question: the
# catalogue's `parse.stop` and `parse.plain_need`.


class RepairState(StrEnum):
    """Repair.state: writing -> review -> posted | cancelled."""

    WRITING = "writing"
    REVIEW = "review"
    POSTED = "posted"
    CANCELLED = "cancelled"


class Repair(SQLModel, table=True):
    """One repair message being written, reviewed, posted or dropped."""

    id: int | None = Field(default=None, primary_key=True)
    couple_id: int = Field(foreign_key="couple.id", index=True)
    partner_id: int = Field(index=True)
    # The steps are asked in the author's private chat (else in the group).
    private: bool = False
    # A RepairState, stored as its string.
    state: str = RepairState.WRITING
    # The question being asked while writing: one of STEPS.
    step: str = "ownership"
    # Changing one part from the review: its answer leads back to the review.
    editing: bool = False
    # The ownership hint is given once per repair, never twice.
    hinted: bool = False
    promise_offered: bool = False
    ownership: str | None = secret_text(nullable=True)
    impact: str | None = secret_text(nullable=True)
    change: str | None = secret_text(nullable=True)
    # "" means the author chose Mend's own wording for the closing question.
    need: str | None = secret_text(nullable=True)
    started_at: datetime = utc_column()
    updated_at: datetime = utc_column()
    posted_at: datetime | None = utc_column(nullable=True)
    # The message opens with "I'm sorry." unless the author removes it (or wrote their own).
    with_sorry: bool = True
    # The other partner's note, shown at the impact step when they chose to share it.
    hurt_note_id: int | None = None
    # The receiver's one-tap answer (one of ANSWERS), if they gave one.
    answer: str | None = None
    answered_at: datetime | None = utc_column(nullable=True)

    @property
    def active(self) -> bool:
        return self.state in {RepairState.WRITING, RepairState.REVIEW}


def active_repair(session: Session, partner_id: int) -> Repair | None:
    query = (
        select(Repair)
        .where(
            Repair.partner_id == partner_id,
            col(Repair.state).in_([RepairState.WRITING, RepairState.REVIEW]),
        )
        .order_by(col(Repair.updated_at).desc())
    )
    return session.exec(query).first()


def private_draft_of_user(session: Session, user_id: int) -> Repair | None:
    """The repair this person is writing in private (the newest, across their couples)."""
    partner_ids = [partner.id for _couple, partner in couples_of_user(session, user_id)]
    query = (
        select(Repair)
        .where(
            col(Repair.partner_id).in_(partner_ids),
            Repair.state == RepairState.WRITING,
            col(Repair.private),
        )
        .order_by(col(Repair.updated_at).desc())
    )
    return session.exec(query).first()


def question_tag(repair: Repair) -> str:
    return f"{TAG}:{repair.id}:{repair.step}"


def cancel_draft(session: Session, repair: Repair, now: datetime) -> None:
    # A dropped draft is not kept: nothing of it was meant to be read.
    repair.state = RepairState.CANCELLED
    repair.hurt_note_id = None
    repair.ownership = repair.impact = repair.change = repair.need = None
    repair.updated_at = now
    session.add(repair)
