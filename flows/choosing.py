"""Which couple a private command is about, for a person who is in more than one.

In a group the chat says which couple; in private it does not. Guessing "the most
recently active couple" can act on the wrong one (activity is written at most every
few minutes), so a person in two or more couples who sends a couple's command in
private is asked first: one button per couple, naming the partner and the group. The
command and what was typed after it wait in `CoupleChoice`; the press runs it for the
chosen couple, and what it answers in private names that couple.

Buttons, and a command sent as a reply to one of the couple's messages, need no
question: they carry the couple.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlmodel import Field, Session, SQLModel, col

from flows import buttons
from flows.buttons import Press
from flows.couples import CHOSEN_COUPLE, Actor, couples_of_user, other_partner, partner_of_user
from flows.feature import Feature
from flows.models import Couple, big_id, secret_text, utc_column
from flows.outcome import EditOrigin, Effects, Send, ToChat, keyboard, text

CommandFlow = Callable[[Session, Actor, str, datetime], Effects]

CHOOSE = "cc"
# A question nobody answered within this long is forgotten (with what was typed).
CHOICE_KEPT = timedelta(hours=1)

# The commands that act on one couple; /start, /help and /safety do not.
COUPLE_COMMANDS = frozenset(
    {
        "timezone",
        "mytimezone",
        "settings",
        "leave",
        "pause",
        "back",
        "pauses",
        "promise",
        "promises",
        "drop",
        "checkin",
        "checkins",
        "repair",
        "export",
        "forget",
    }
)
# Every couple command by name, so a press can run the one that waited.
COMMANDS: dict[str, CommandFlow] = {}


class CoupleChoice(SQLModel, table=True):
    """A private command waiting for its person to say which couple it is about."""

    __tablename__ = "couple_choice"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = big_id(index=True)
    command: str
    # What was typed after the command (it may be intimate: "/promise …").
    args: str = secret_text()
    created_at: datetime = utc_column()


@contextmanager
def about(couple_id: int) -> Iterator[None]:
    """While inside, `membership` in private means this couple."""
    token = CHOSEN_COUPLE.set(couple_id)
    try:
        yield
    finally:
        CHOSEN_COUPLE.reset(token)


def for_couple(name: str, flow: CommandFlow) -> CommandFlow:
    """`flow`, asking first which couple when that is not clear (see the module docstring)."""
    if name not in COUPLE_COMMANDS:
        return flow
    COMMANDS[name] = flow

    def ask_or_run(session: Session, actor: Actor, args: str, now: datetime) -> Effects:
        if not actor.in_private or CHOSEN_COUPLE.get() is not None:
            return flow(session, actor, args, now)
        mine = [
            (couple, partner)
            for couple, partner in couples_of_user(session, actor.user_id)
            if couple.formed_at is not None
        ]
        if len(mine) < 2:
            return flow(session, actor, args, now)
        settled = actor.replied_to_couple
        if settled in {couple.id for couple, _partner in mine}:
            with about(settled or 0):
                return _named(flow(session, actor, args, now), actor, session.get(Couple, settled))
        session.execute(
            delete(CoupleChoice).where(col(CoupleChoice.created_at) < now - CHOICE_KEPT)
        )
        choice = CoupleChoice(user_id=actor.user_id, command=name, args=args[:4000], created_at=now)
        session.add(choice)
        session.flush()
        rows = []
        for couple, partner in sorted(mine, key=lambda found: found[0].id or 0):
            other = other_partner(session, partner)
            rows.append(
                [
                    buttons.button(
                        text(
                            "couples.choose_button",
                            other=other.first_name if other else "",
                            title=couple.title,
                        ),
                        CHOOSE,
                        choice.id or 0,
                        str(couple.id),
                    )
                ]
            )
        return [
            Send(
                ToChat(actor.chat_id), text("couples.choose", command=name), buttons=keyboard(*rows)
            )
        ]

    return ask_or_run


def _named(effects: Effects, actor: Actor, couple: Couple | None) -> Effects:
    """Answers in the private chat say which couple they are about."""
    if couple is None:
        return effects
    named: Effects = []
    for effect in effects:
        if isinstance(effect, Send) and effect.to == ToChat(actor.chat_id):
            effect = Send(
                effect.to,
                text("couples.about", title=couple.title, body=effect.body),
                buttons=effect.buttons,
                force_reply=effect.force_reply,
                tag=effect.tag,
            )
        named.append(effect)
    return named


def press_choose(session: Session, actor: Actor, press: Press, now: datetime) -> Effects:
    """One couple chosen: the command that waited runs for it."""
    choice = session.get(CoupleChoice, press.target_id)
    if (
        choice is None
        or choice.user_id != actor.user_id
        or not actor.in_private
        or not press.action.isdigit()
        or choice.command not in COMMANDS
        or now - choice.created_at > CHOICE_KEPT
    ):
        return buttons.expired()
    couple = session.get(Couple, int(press.action))
    partner = partner_of_user(session, couple.id or 0, actor.user_id) if couple else None
    if couple is None or partner is None or couple.formed_at is None:
        return buttons.expired()
    flow, args = COMMANDS[choice.command], choice.args
    session.delete(choice)
    # The chosen couple is now the current one for this person.
    partner.last_active_at = now
    session.add(partner)
    with about(couple.id or 0):
        effects = flow(session, actor, args, now)
    return [
        EditOrigin(body=text("couples.chosen", title=couple.title), buttons=()),
        *_named(effects, actor, couple),
    ]


# The "which couple?" question before a couple's command in private (no command of its own).
FEATURE = Feature(name="choosing", buttons={CHOOSE: press_choose})
