"""Saying what hurt: the hurt partner's side of a repair, written privately.

Repair starts from either side (product.md, "Repair"). The partner who was hurt writes a
short note in two steps: what happened, and what it left them feeling or believing about
the two of them. The seeds put that second question at the heart of naming what broke:
the meaning of the moment matters more than who said what.

The note is private. Its author decides whether the other partner reads it before
writing their repair; if so, it is shown at that repair's "how did it affect them?"
step and is never quoted back in the posted message. A note is only ever written in
the private chat, so it never shows in the group.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, Session, SQLModel, col, select

from flows import buttons
from flows.buttons import Press
from flows.couples import Actor, other_partner
from flows.feature import Feature
from flows.inputs import Said, step_tag
from flows.models import Couple, Partner, secret_text, utc_column
from flows.outcome import (
    Button,
    EditOrigin,
    EditTagged,
    Effects,
    Keyboard,
    Send,
    Text,
    ToChat,
    ToPartner,
    keyboard,
    text,
)
from flows.timeparse import is_word

KIND = "hn"
TAG = "hurt"
STEPS = ("happened", "meant")
MAX_ANSWER = 600

# HurtNote.state
WRITING = "writing"
REVIEW = "review"
SHARED = "shared"  # the other partner reads it when they write their repair
KEPT = "kept"  # the author keeps it to themselves
ANSWERED = "answered"  # a repair that showed it has been posted
CANCELLED = "cancelled"


class HurtNote(SQLModel, table=True):
    """What hurt, in the hurt partner's words, and whether the other may read it."""

    __tablename__ = "hurt_note"

    id: int | None = Field(default=None, primary_key=True)
    couple_id: int = Field(foreign_key="couple.id", index=True)
    partner_id: int = Field(index=True)
    state: str = WRITING
    step: str = STEPS[0]
    happened: str | None = secret_text(nullable=True)
    meant: str | None = secret_text(nullable=True)
    started_at: datetime = utc_column()
    updated_at: datetime = utc_column()


def active_note(session: Session, partner_id: int) -> HurtNote | None:
    """The note this partner is still writing or deciding about."""
    query = (
        select(HurtNote)
        .where(HurtNote.partner_id == partner_id, col(HurtNote.state).in_([WRITING, REVIEW]))
        .order_by(col(HurtNote.id).desc())
    )
    return session.exec(query).first()


def shared_note_for(session: Session, reader: Partner) -> HurtNote | None:
    """The newest note the other partner chose to let `reader` see, not yet answered."""
    other = other_partner(session, reader)
    if other is None:
        return None
    query = (
        select(HurtNote)
        .where(
            HurtNote.couple_id == reader.couple_id,
            HurtNote.partner_id == other.id,
            HurtNote.state == SHARED,
        )
        .order_by(col(HurtNote.id).desc())
    )
    return session.exec(query).first()


def note_text(note: HurtNote) -> Text:
    return text("repair.hurt_note", happened=note.happened or "", meant=note.meant or "")


def mark_answered(session: Session, note_id: int | None, now: datetime) -> None:
    """A repair that showed this note was posted: it is not shown to the next one."""
    note = session.get(HurtNote, note_id) if note_id is not None else None
    if note is not None and note.state == SHARED:
        note.state, note.updated_at = ANSWERED, now
        session.add(note)


def _other_name(session: Session, partner: Partner) -> str:
    other = other_partner(session, partner)
    return other.first_name if other is not None else ""


def _button(note: HurtNote, label: str, action: str, **values: str) -> Button:
    return buttons.button(text(f"repair.button_hurt_{label}", **values), KIND, note.id or 0, action)


def _question(note: HurtNote) -> Send:
    number = STEPS.index(note.step) + 1
    return Send(
        ToPartner(note.partner_id),
        text(f"repair.hurt_ask_{note.step}", number=number, total=len(STEPS)),
        buttons=keyboard([_button(note, "cancel", "cancel")]),
        tag=f"{TAG}:{note.id}:{note.step}",
    )


def _review_buttons(session: Session, note: HurtNote, partner: Partner) -> Keyboard:
    return keyboard(
        [_button(note, "share", "share", other=_other_name(session, partner))],
        [_button(note, "keep", "keep")],
        [_button(note, "cancel", "cancel")],
    )


def _review(session: Session, note: HurtNote, partner: Partner) -> Send:
    return Send(
        ToPartner(note.partner_id),
        text("repair.hurt_review", note=note_text(note), other=_other_name(session, partner)),
        buttons=_review_buttons(session, note, partner),
        tag=f"{TAG}:{note.id}:review",
    )


def start_note(session: Session, partner: Partner, now: datetime) -> Effects:
    """Begin a note (private only: the caller checked the private chat is open)."""
    note = HurtNote(
        couple_id=partner.couple_id, partner_id=partner.id or 0, started_at=now, updated_at=now
    )
    session.add(note)
    session.flush()
    return [
        Send(
            ToPartner(note.partner_id),
            text("repair.hurt_intro", other=_other_name(session, partner)),
        ),
        _question(note),
    ]


def resume(session: Session, note: HurtNote, partner: Partner) -> Effects:
    """/repair again while a note is open: the question or the choice it is waiting on."""
    waiting = _question(note) if note.state == WRITING else _review(session, note, partner)
    return [Send(ToPartner(note.partner_id), text("repair.hurt_continuing")), waiting]


def cancelled_by_typing(note: HurtNote) -> Effects:
    """Stopped by typing (not by its Cancel button): the question or the choice it waited
    on becomes one line without buttons. Read before `cancel` changes the row."""
    waiting_on = f"{TAG}:{note.id}:{note.step if note.state == WRITING else REVIEW}"
    return [EditTagged(ToPartner(note.partner_id), waiting_on, text("repair.hurt_cancelled"))]


def cancel(session: Session, note: HurtNote, now: datetime) -> None:
    # A dropped note is not kept: nobody was meant to read it.
    note.state = CANCELLED
    note.happened = note.meant = None
    note.updated_at = now
    session.add(note)


def answer(session: Session, actor: Actor, said: Said, now: datetime) -> Effects | None:
    """Text in the private chat while a note's question is the latest one asked there."""
    tagged = step_tag(said.reply_to_tag, TAG)
    if tagged is None:
        return None
    note = session.get(HurtNote, tagged[0])
    partner = session.get(Partner, note.partner_id) if note is not None else None
    if note is None or partner is None or partner.user_id != actor.user_id:
        return []
    here = ToChat(actor.chat_id)
    if note.state != WRITING:
        if note.state == REVIEW:
            return [Send(here, text("repair.hurt_use_buttons"))]
        return [Send(here, text("repair.hurt_not_waiting"))]
    written = said.text.strip()
    if is_word(written, "stop", partner.language):
        tidy = cancelled_by_typing(note)
        cancel(session, note, now)
        return [*tidy, Send(here, text("repair.hurt_cancelled"))]
    if not written:
        return [_question(note)]
    if len(written) > MAX_ANSWER:
        return [Send(here, text("common.too_long", limit=MAX_ANSWER))]
    setattr(note, note.step, written)
    note.updated_at = now
    if note.step == STEPS[-1]:
        note.state = REVIEW
        session.add(note)
        return [_review(session, note, partner)]
    note.step = STEPS[STEPS.index(note.step) + 1]
    session.add(note)
    return [_question(note)]


def press(session: Session, actor: Actor, pressed: Press, now: datetime) -> Effects:
    """Share, keep to myself, or stop: only the author, only while the note is open."""
    note = session.get(HurtNote, pressed.target_id)
    partner = session.get(Partner, note.partner_id) if note is not None else None
    if (
        note is None
        or partner is None
        or partner.user_id != actor.user_id
        or not actor.in_private
        or note.state not in (WRITING, REVIEW)
    ):
        return buttons.expired()
    if pressed.action == "cancel":
        cancel(session, note, now)
        return [EditOrigin(body=text("repair.hurt_cancelled"))]
    if note.state != REVIEW or pressed.action not in ("share", "keep"):
        return buttons.expired()
    note.updated_at = now
    other = other_partner(session, partner)
    if pressed.action == "keep" or other is None:
        note.state = KEPT
        session.add(note)
        return [EditOrigin(body=text("repair.hurt_kept"))]
    note.state = SHARED
    session.add(note)
    return [
        EditOrigin(body=text("repair.hurt_shared", other=other.first_name)),
        Send(ToPartner(other.id or 0), text("repair.hurt_told_other", name=partner.first_name)),
    ]


def _drop_on_leave(session: Session, couple: Couple, partner: Partner, now: datetime) -> Effects:
    """A partner who leaves takes back what they had not finished or shared."""
    for note in session.exec(
        select(HurtNote).where(
            HurtNote.partner_id == partner.id, col(HurtNote.state).in_([WRITING, REVIEW, SHARED])
        )
    ):
        cancel(session, note, now)
    return []


# Part of /repair (no command of its own): the hurt partner's note.
FEATURE = Feature(
    name="hurt",
    buttons={KIND: press},
    on_text=(answer,),
    on_leave=(_drop_on_leave,),
)
