"""A soft restart after a break: one feeling and one need each, shown together.

When both are back from a pause, coming straight back to the argument can restart it.
The seeds ask for a bridge, not a chase: so, optionally, each partner writes privately
one feeling and one need, and Mend shows the two side by side once both have written.
Nothing is required: if one never writes, nothing is shown and nobody is reminded.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, Session, SQLModel, select

from flows import buttons
from flows.buttons import Press
from flows.couples import Actor, partner_of_user, partners_of
from flows.feature import Feature
from flows.inputs import Said, step_tag
from flows.models import Couple, Partner, secret_text, utc_column
from flows.outcome import EditOrigin, Effects, Send, Text, ToChat, ToGroup, ToPartner, text
from flows.pause import SOFT_RESTART, Pause, PauseState

KIND = SOFT_RESTART
TAG = "restart"
STEPS = ("feeling", "need")
MAX_ANSWER = 300


class SoftRestart(SQLModel, table=True):
    """One partner's feeling and need after one break."""

    __tablename__ = "soft_restart"

    id: int | None = Field(default=None, primary_key=True)
    couple_id: int = Field(foreign_key="couple.id", index=True)
    pause_id: int = Field(index=True)
    partner_id: int = Field(index=True)
    step: str = STEPS[0]
    # writing -> written -> shown
    state: str = "writing"
    feeling: str | None = secret_text(nullable=True)
    need: str | None = secret_text(nullable=True)
    created_at: datetime = utc_column()


def _ask(row: SoftRestart, partner: Partner) -> Send:
    private = partner.private_open and not partner.private_blocked
    # Without a private chat the question goes to the group, answered by replying to it.
    return Send(
        ToPartner(row.partner_id),
        text(f"pause.restart_ask_{row.step}"),
        force_reply=not private,
        tag=f"{TAG}:{row.id}:{row.step}",
    )


def press(session: Session, actor: Actor, pressed: Press, now: datetime) -> Effects:
    """Either partner starts it, once per break, in the group, after both are back."""
    pause = session.get(Pause, pressed.target_id)
    couple = session.get(Couple, pause.couple_id) if pause is not None else None
    if (
        pause is None
        or couple is None
        or pause.state != PauseState.ENDED
        or pressed.action != "go"
        or actor.chat_id != couple.group_chat_id
    ):
        return buttons.expired()
    starter = partner_of_user(session, couple.id or 0, actor.user_id)
    if starter is None:
        return buttons.expired()
    started = session.exec(select(SoftRestart).where(SoftRestart.pause_id == pause.id)).first()
    if started is not None:
        return [EditOrigin(buttons=()), *buttons.expired()]
    effects: Effects = [
        EditOrigin(buttons=()),
        Send(ToGroup(couple.id or 0), text("pause.restart_started", name=starter.first_name)),
    ]
    for partner in partners_of(session, couple.id or 0):
        row = SoftRestart(
            couple_id=couple.id or 0,
            pause_id=pause.id or 0,
            partner_id=partner.id or 0,
            created_at=now,
        )
        session.add(row)
        session.flush()
        effects.append(_ask(row, partner))
    return effects


def answer(session: Session, actor: Actor, said: Said, now: datetime) -> Effects | None:
    """A feeling or a need, by reply or as the next private message."""
    tagged = step_tag(said.reply_to_tag, TAG)
    if tagged is None:
        return None
    row = session.get(SoftRestart, tagged[0])
    partner = session.get(Partner, row.partner_id) if row is not None else None
    if row is None or partner is None or partner.user_id != actor.user_id:
        return []
    here = ToChat(actor.chat_id)
    if row.state != "writing":
        return [Send(here, text("pause.restart_done_already"))]
    written = " ".join(said.text.split())
    if not written:
        return [_ask(row, partner)]
    if len(written) > MAX_ANSWER:
        return [Send(here, text("common.too_long", limit=MAX_ANSWER))]
    setattr(row, row.step, written)
    if row.step == STEPS[0]:
        row.step = STEPS[1]
        session.add(row)
        return [_ask(row, partner)]
    row.state = "written"
    session.add(row)
    rows = list(session.exec(select(SoftRestart).where(SoftRestart.pause_id == row.pause_id)))
    if not all(item.state == "written" for item in rows):
        return [Send(here, text("pause.restart_waiting"))]
    for item in rows:
        item.state = "shown"
        session.add(item)
    lines: list[Text] = []
    for item in rows:
        owner = session.get(Partner, item.partner_id)
        lines.append(
            text(
                "pause.restart_line",
                name=owner.first_name if owner else "",
                feeling=item.feeling or "",
                need=item.need or "",
            )
        )
    return [Send(ToGroup(row.couple_id), text("pause.restart_shown", lines=tuple(lines)))]


# The soft restart offered under "you're both back" (no command of its own).
FEATURE = Feature(
    name="restart",
    buttons={KIND: press},
    on_text=(answer,),
)
