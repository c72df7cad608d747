"""/thanks: a short note of appreciation from one partner to the other.

Repair is not only for emergencies: small, ordinary proof that you see each other is
what the seeds say rebuilds trust. `/thanks for making breakfast` shows the author their
note with a choice: send it to the partner privately, or post it in the group. Bare
`/thanks` asks what for. Notes are counted on /checkins for the couple together, never
per partner: appreciation is not a contest.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Field, Session, SQLModel, col, select

from flows import buttons
from flows.buttons import Press
from flows.couples import Actor, Membership, guard, other_partner, partner_of_user
from flows.feature import Feature
from flows.inputs import Said
from flows.models import Couple, Partner, secret_text, utc_column
from flows.outcome import (
    EditOrigin,
    Effects,
    Send,
    Text,
    ToChat,
    ToGroup,
    ToPartner,
    keyboard,
    text,
)

KIND = "ty"
TAG = "thanks"
MAX_WHAT = 300
COUNTED_OVER = timedelta(weeks=4)

# Thanks.state
DRAFT = "draft"  # written, waiting for "send privately" or "post in the group"
SENT = "sent"
DROPPED = "dropped"


class Thanks(SQLModel, table=True):
    """One note of appreciation: who wrote it, what for, and where it was shown."""

    id: int | None = Field(default=None, primary_key=True)
    couple_id: int = Field(foreign_key="couple.id", index=True)
    partner_id: int = Field(index=True)
    what: str | None = secret_text(nullable=True)
    state: str = DRAFT
    # "private" or "group", once sent.
    shown_in: str | None = None
    created_at: datetime = utc_column()
    sent_at: datetime | None = utc_column(nullable=True)


def _other_name(session: Session, partner: Partner) -> str:
    other = other_partner(session, partner)
    return other.first_name if other is not None else ""


def thanks(session: Session, actor: Actor, args: str, now: datetime) -> Effects:
    """/thanks <what for>: the note and a choice of where it goes; bare, it asks what for."""
    found = guard(session, actor, now)
    if not isinstance(found, Membership):
        return found
    what = " ".join(args.split())
    if not what:
        # A reply prompt: the answer comes back as a reply to this (group) or as the
        # next private message.
        return [
            Send(
                ToChat(actor.chat_id),
                text("thanks.ask_what", other=_other_name(session, found.partner)),
                force_reply=True,
                tag=f"{TAG}:{found.partner_id}",
            )
        ]
    return _draft(session, found.partner, actor, what, now)


def _draft(session: Session, partner: Partner, actor: Actor, what: str, now: datetime) -> Effects:
    here = ToChat(actor.chat_id)
    if len(what) > MAX_WHAT:
        return [Send(here, text("common.too_long", limit=MAX_WHAT))]
    if other_partner(session, partner) is None:
        return [Send(here, text("thanks.nobody"))]
    note = Thanks(
        couple_id=partner.couple_id, partner_id=partner.id or 0, what=what, created_at=now
    )
    session.add(note)
    session.flush()
    other = _other_name(session, partner)
    choices = keyboard(
        [buttons.button(text("thanks.button_private", other=other), KIND, note.id or 0, "p")],
        [buttons.button(text("thanks.button_group"), KIND, note.id or 0, "g")],
        [buttons.button(text("thanks.button_drop"), KIND, note.id or 0, "x")],
    )
    # Tagged so that later private text is no longer taken as the answer to "what for?".
    return [
        Send(
            here,
            text("thanks.where", other=other, what=what),
            buttons=choices,
            tag=f"{TAG}:draft:{note.id}",
        )
    ]


def answer(session: Session, actor: Actor, said: Said, now: datetime) -> Effects | None:
    """The answer to a bare /thanks ("what for?")."""
    tag = said.reply_to_tag or ""
    if not tag.startswith(TAG + ":") or not tag[len(TAG) + 1 :].isdigit():
        return None
    partner = session.get(Partner, int(tag[len(TAG) + 1 :]))
    if partner is None or partner.user_id != actor.user_id:
        return []  # someone else's prompt: not theirs to answer
    what = " ".join(said.text.split())
    if not what:
        return [
            Send(
                ToChat(actor.chat_id),
                text("thanks.ask_what", other=_other_name(session, partner)),
                force_reply=True,
                tag=tag,
            )
        ]
    return _draft(session, partner, actor, what, now)


def press(session: Session, actor: Actor, pressed: Press, now: datetime) -> Effects:
    """Send privately, post in the group, or drop: only the author, only once."""
    note = session.get(Thanks, pressed.target_id)
    couple = session.get(Couple, note.couple_id) if note is not None else None
    if (
        note is None
        or couple is None
        or note.state != DRAFT
        or pressed.action not in ("p", "g", "x")
    ):
        return buttons.expired()
    author = partner_of_user(session, couple.id or 0, actor.user_id)
    if (
        author is None
        or author.id != note.partner_id
        or actor.chat_id not in {couple.group_chat_id, author.user_id}
    ):
        return buttons.expired()
    if pressed.action == "x":
        note.state, note.what = DROPPED, None
        session.add(note)
        return [EditOrigin(body=text("thanks.dropped"))]
    other = other_partner(session, author)
    if other is None:
        return [EditOrigin(body=text("thanks.nobody"))]
    note.state, note.sent_at = SENT, now
    note.shown_in = "private" if pressed.action == "p" else "group"
    session.add(note)
    what = note.what or ""
    if pressed.action == "p":
        delivered = Send(
            ToPartner(other.id or 0),
            text("thanks.delivered_private", name=author.first_name, what=what),
        )
        done = text("thanks.sent_private", other=other.first_name)
    else:
        delivered = Send(
            ToGroup(couple.id or 0),
            text(
                "thanks.delivered_group", name=author.first_name, other=other.first_name, what=what
            ),
        )
        done = text("thanks.sent_group")
    return [EditOrigin(body=done), delivered]


def count_recent(session: Session, couple_id: int, now: datetime) -> int:
    """Notes of thanks sent in the couple over the last four weeks, both partners together."""
    query = (
        select(func.count())
        .select_from(Thanks)
        .where(
            Thanks.couple_id == couple_id,
            Thanks.state == SENT,
            col(Thanks.sent_at) >= now - COUNTED_OVER,
        )
    )
    return int(session.exec(query).one())


def _checkins_line(session: Session, couple_id: int, now: datetime) -> list[Text]:
    count = count_recent(session, couple_id, now)
    if not count:
        return []
    return [text("thanks.counted_one" if count == 1 else "thanks.counted", count=count)]


def _drop_drafts_on_leave(
    session: Session, couple: Couple, partner: Partner, now: datetime
) -> Effects:
    for note in session.exec(
        select(Thanks).where(Thanks.partner_id == partner.id, Thanks.state == DRAFT)
    ):
        note.state, note.what = DROPPED, None
        session.add(note)
    return []


FEATURE = Feature(
    name="thanks",
    commands={"thanks": thanks},
    buttons={KIND: press},
    on_text=(answer,),
    on_leave=(_drop_drafts_on_leave,),
    checkins_lines=(_checkins_line,),
)
